//! Arbitrary bytes as a WAL entry: decoding must return an error or an entry,
//! never panic or allocate beyond what the input can describe.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(entry) = tandem::storage::wal::decode(data) {
        // A decoded entry re-encodes to an entry that decodes the same.
        let series: Vec<_> = entry.new_series.iter().map(|(series, labels)| (*series, labels)).collect();
        let samples: Vec<_> = entry.samples.iter().map(|(series, samples)| (*series, samples.as_slice())).collect();
        let again = tandem::storage::wal::decode(&tandem::storage::wal::encode(&series, &samples));
        assert!(again.is_ok(), "re-encoded entry does not decode: {again:?}");
    }
});
