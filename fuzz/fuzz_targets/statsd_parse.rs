//! Fuzz target for `tandem::collect::statsd::parse_packet`: arbitrary bytes as one
//! datagram, touching everything a caller can reach on every line. The parser must
//! never panic; the assertions check what it promises on the way.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem::collect::statsd::{MetricType, Value, parse_packet};
use tandem::model::{check_label_name, check_metric_name};

fuzz_target!(|data: &[u8]| {
    let range = data.as_ptr_range();
    for line in parse_packet(data) {
        match line {
            Ok(line) => {
                let name = line.name();
                assert!(check_metric_name(&name).is_ok(), "{name:?}");
                let mut pushed = String::new();
                line.push_name(&mut pushed);
                assert_eq!(pushed, name);
                assert!(line.sample_rate > 0.0 && line.sample_rate <= 1.0);
                for pair in line.tags.windows(2) {
                    assert!(pair[0].name < pair[1].name, "tags sorted and unique");
                }
                for tag in &line.tags {
                    assert!(check_label_name(&tag.name).is_ok(), "{:?}", tag.name);
                    assert!(!tag.name.starts_with("__"));
                    assert!(!tag.value.contains('\0'));
                }
                let mut count = 0;
                for value in line.values() {
                    count += 1;
                    match value {
                        Value::Number(number) => {
                            assert!(number.is_finite());
                            assert!(line.metric_type != MetricType::Counter || number >= 0.0);
                        }
                        Value::GaugeDelta(delta) => {
                            assert!(delta.is_finite() && line.metric_type == MetricType::Gauge);
                        }
                        Value::Member(member) => {
                            assert!(!member.is_empty() && line.metric_type == MetricType::Set);
                        }
                    }
                }
                assert!(count >= 1);
                assert_eq!(count, line.value_count());
            }
            Err(error) => {
                // The error borrows its line from the datagram.
                let line = error.line.as_ptr_range();
                assert!(range.start <= line.start && line.end <= range.end);
                assert!(!error.line.is_empty());
                std::hint::black_box(error.to_string());
            }
        }
    }
});
