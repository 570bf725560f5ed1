//! Fuzz target for `tandem::collect::expfmt`: arbitrary bytes, split into lines, through
//! both formats' `Parser`, touching everything a caller can reach on every sample.
//! The parser must never panic; the assertions check what it promises on the way.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem::collect::expfmt::{Entry, Format, Parser};

fuzz_target!(|data: &[u8]| {
    // Callers hand the parser `&str` lines, so invalid UTF-8 never reaches it; lossy
    // conversion keeps the rest of the input instead of discarding it.
    let text = String::from_utf8_lossy(data);
    for format in [Format::Text, Format::OpenMetrics] {
        let mut parser = Parser::new(format);
        for line in text.split('\n') {
            match parser.next_line(line) {
                Ok(Entry::Sample(sample)) => {
                    assert!(line.contains(sample.series_key()));
                    assert!(!sample.name().is_empty());
                    let mut count = 0;
                    for (name, value) in sample.labels() {
                        assert!(!name.is_empty());
                        std::hint::black_box(value);
                        count += 1;
                    }
                    assert_eq!(count, sample.label_count());
                    std::hint::black_box((sample.value(), sample.timestamp_ms()));
                }
                Ok(_) => {}
                Err(error) => {
                    assert!(error.line == parser.line_number() && error.column >= 1);
                    std::hint::black_box(error.to_string());
                }
            }
        }
        std::hint::black_box(parser.finish().is_ok());
    }
});
