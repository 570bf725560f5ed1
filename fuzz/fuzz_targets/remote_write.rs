//! Fuzz target for `tandem::collect::remote_write`: arbitrary bytes as a decoded
//! request body through the receiver's borrowing reader (`wire::decode`) and through
//! prost, the reference. Whatever the reader accepts, prost must decode to the same
//! request (the reader may refuse more: deprecated groups); every series then goes
//! through the protocol's label rules, which must keep an accepted label set as sent.
//! The snappy layer is fed the same bytes, and must never panic either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use tandem::collect::remote_write::{decode, proto, series_labels, wire};

fuzz_target!(|data: &[u8]| {
    let _ = decode(data, 1 << 20);
    let seeds = wire::KeySeeds::default();
    let Ok(ours) = wire::decode(data, &seeds) else {
        return;
    };
    let reference = proto::WriteRequest::decode(data).expect("prost refuses what wire accepts");
    assert_eq!(ours.series.len(), reference.timeseries.len());
    assert_eq!(ours.metadata, reference.metadata.len());
    for (series, sent) in ours.series.iter().zip(&reference.timeseries) {
        let labels = &ours.labels[series.labels.clone()];
        assert_eq!(labels.len(), sent.labels.len());
        for ((name, value), label) in labels.iter().zip(&sent.labels) {
            assert_eq!(*name, label.name);
            assert_eq!(*value, label.value);
        }
        let samples = &ours.samples[series.samples.clone()];
        assert_eq!(samples.len(), sent.samples.len());
        for (sample, reference) in samples.iter().zip(&sent.samples) {
            assert_eq!(sample.t, reference.timestamp);
            assert_eq!(sample.v.to_bits(), reference.value.to_bits());
        }
        assert_eq!(series.exemplars, sent.exemplars.len());
        assert_eq!(series.histograms, sent.histograms.len());
        if let Ok(checked) = series_labels(labels) {
            assert_eq!(checked.len(), labels.len());
            for (kept, (name, value)) in checked.iter().zip(labels) {
                assert_eq!(kept.name, *name);
                assert_eq!(kept.value, *value);
            }
        }
    }
});
