//! Arbitrary bytes as a WAL entry (kind 1, or kind 2 with its base timestamp): decoding
//! must return an error or an entry, never panic or allocate beyond what the input can
//! describe. Each input is tried as is (almost always a checksum error) and with a
//! valid crc32c appended, so that the fuzzer explores the structure behind the checksum.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem::storage::wal;

fuzz_target!(|data: &[u8]| {
    let _ = wal::decode(data);
    let mut with_checksum = data.to_vec();
    with_checksum.extend_from_slice(&crc32c::crc32c(data).to_le_bytes());
    if let Ok(entry) = wal::decode(&with_checksum) {
        // A decoded entry re-encodes (as kind 2) to an entry that decodes the same.
        let series: Vec<_> = entry.new_series.iter().map(|(series, labels)| (*series, labels)).collect();
        let samples: Vec<_> = entry.samples.iter().map(|(series, samples)| (*series, samples.as_slice())).collect();
        let again = wal::decode(&wal::encode(&series, &samples));
        assert!(again.is_ok_and(|decoded| decoded.new_series == entry.new_series && decoded.samples.len() == entry.samples.len()));
    }
});
