//! Fuzz target for `tandem::collect::remote_write`: arbitrary bytes as a request
//! body (snappy, then protobuf), and the same bytes as an uncompressed protobuf, so
//! that the fuzzer reaches the message decoder without having to build valid snappy.
//! Every decoded series goes through the protocol's label rules. Nothing may panic,
//! and a label set the rules accept must be the one sent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use tandem::collect::remote_write::{decode, proto, series_labels};

fuzz_target!(|data: &[u8]| {
    let mut requests = Vec::new();
    if let Ok(request) = decode(data, 1 << 20) {
        requests.push(request);
    }
    if let Ok(request) = proto::WriteRequest::decode(data) {
        requests.push(request);
    }
    for request in requests {
        for series in &request.timeseries {
            if let Ok(labels) = series_labels(&series.labels) {
                assert_eq!(labels.len(), series.labels.len());
                for (kept, sent) in labels.iter().zip(&series.labels) {
                    assert_eq!(kept.name, sent.name);
                    assert_eq!(kept.value, sent.value);
                }
            }
        }
    }
});
