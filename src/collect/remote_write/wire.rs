//! A borrowing reader of remote_write 1.0's `WriteRequest` protobuf: label names and
//! values are `&str` slices of the decoded body, samples land in one `Vec` per
//! request, and each series gets a key hashed from its labels' bytes as sent.
//! Owns: the protobuf wire format for these four messages. Does not: check labels
//! against the protocol's rules (`super::series_labels` does).
//!
//! Why not prost's generated decoding, which `super::proto` still declares: decoding
//! into owned messages allocated two `String`s per label and a `Vec` per series, and
//! the allocator was 40 % of the receiver's CPU in `perf` (vmagent writing 50 k series
//! every second). The key lets the receiver skip validation and the catalog for series
//! it has seen, as the scrape cache does. prost stays the reference: the fuzz target
//! checks that whatever this reader accepts, prost decodes to the same request.
//!
//! Semantics follow protobuf (and prost): fields in any order, unknown fields skipped,
//! a repeated scalar's last value wins, a known field with the wrong wire type is an
//! error, strings must be UTF-8. Deprecated groups (wire types 3 and 4) are refused,
//! where prost would skip them; no sender writes them.

use crate::model::Sample;
use std::hash::{BuildHasher, Hasher};
use std::ops::Range;

/// Why a body is not a `WriteRequest`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("truncated at byte {0}")]
    Truncated(usize),
    #[error("varint too long at byte {0}")]
    Varint(usize),
    #[error("field number 0 at byte {0}")]
    FieldZero(usize),
    #[error("field key larger than 32 bits at byte {0}")]
    KeyTooLarge(usize),
    #[error("field {field} has wire type {wire}, expected {expected} (byte {at})")]
    WireType {
        field: u64,
        wire: u64,
        expected: u64,
        at: usize,
    },
    #[error("unsupported wire type {wire} (byte {at})")]
    UnsupportedWire { wire: u64, at: usize },
    #[error("label text is not UTF-8 (byte {0})")]
    Utf8(usize),
}

const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const LEN: u64 = 2;
const FIXED32: u64 = 5;

/// One series of a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Into `Request::labels`, in the order sent.
    pub labels: Range<usize>,
    /// Into `Request::samples`.
    pub samples: Range<usize>,
    /// Two independently seeded hashes of the label messages' bytes as sent.
    pub key: [u64; 2],
    pub exemplars: usize,
    pub histograms: usize,
}

/// A decoded request, borrowing the body.
#[derive(Debug, Default)]
pub struct Request<'a> {
    pub series: Vec<Series>,
    pub labels: Vec<(&'a str, &'a str)>,
    pub samples: Vec<Sample>,
    pub metadata: usize,
}

/// Seeds of the two halves of a series key; one per receiver, so keys are stable for
/// its cache and unpredictable to senders.
#[derive(Clone, Default)]
pub struct KeySeeds([foldhash::fast::RandomState; 2]);

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    /// Offset of `bytes` in the whole body, for error positions.
    base: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8], base: usize) -> Reader<'a> {
        Reader { bytes, at: 0, base }
    }

    fn done(&self) -> bool {
        self.at >= self.bytes.len()
    }

    fn position(&self) -> usize {
        self.base + self.at
    }

    fn varint(&mut self) -> Result<u64, WireError> {
        let start = self.position();
        let mut value = 0u64;
        for shift in 0..10 {
            let Some(&byte) = self.bytes.get(self.at) else {
                return Err(WireError::Truncated(self.position()));
            };
            self.at += 1;
            // The tenth byte may only carry the top bit of a u64.
            if shift == 9 && byte > 1 {
                return Err(WireError::Varint(start));
            }
            value |= u64::from(byte & 0x7f) << (shift * 7);
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(WireError::Varint(start))
    }

    /// The next field's number and wire type; field 0 is invalid.
    fn tag(&mut self) -> Result<(u64, u64), WireError> {
        let at = self.position();
        let tag = self.varint()?;
        // Keys are 32-bit (field numbers up to 2^29 - 1), as prost checks too.
        if tag > u64::from(u32::MAX) {
            return Err(WireError::KeyTooLarge(at));
        }
        let field = tag >> 3;
        if field == 0 {
            return Err(WireError::FieldZero(at));
        }
        Ok((field, tag & 7))
    }

    fn take(&mut self, length: usize) -> Result<&'a [u8], WireError> {
        let end = self
            .at
            .checked_add(length)
            .filter(|end| *end <= self.bytes.len())
            .ok_or(WireError::Truncated(self.position()))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    /// A length-delimited field's bytes and their offset in the body.
    fn delimited(&mut self) -> Result<(&'a [u8], usize), WireError> {
        let length = self.varint()?;
        let length = usize::try_from(length).map_err(|_| WireError::Truncated(self.position()))?;
        let offset = self.position();
        Ok((self.take(length)?, offset))
    }

    fn fixed64(&mut self) -> Result<u64, WireError> {
        let bytes = self.take(8)?;
        let mut array = [0u8; 8];
        array.copy_from_slice(bytes);
        Ok(u64::from_le_bytes(array))
    }

    fn skip(&mut self, wire: u64) -> Result<(), WireError> {
        match wire {
            VARINT => self.varint().map(|_| ()),
            FIXED64 => self.take(8).map(|_| ()),
            LEN => self.delimited().map(|_| ()),
            FIXED32 => self.take(4).map(|_| ()),
            _ => Err(WireError::UnsupportedWire {
                wire,
                at: self.position(),
            }),
        }
    }

    fn require_wire(&self, field: u64, wire: u64, expected: u64) -> Result<(), WireError> {
        if wire == expected {
            Ok(())
        } else {
            Err(WireError::WireType {
                field,
                wire,
                expected,
                at: self.position(),
            })
        }
    }
}

/// Decodes a `WriteRequest` (already snappy-decoded).
pub fn decode<'a>(body: &'a [u8], seeds: &KeySeeds) -> Result<Request<'a>, WireError> {
    let mut request = Request::default();
    let mut reader = Reader::new(body, 0);
    while !reader.done() {
        let (field, wire) = reader.tag()?;
        match field {
            1 => {
                reader.require_wire(field, wire, LEN)?;
                let (bytes, offset) = reader.delimited()?;
                series(bytes, offset, seeds, &mut request)?;
            }
            3 => {
                reader.require_wire(field, wire, LEN)?;
                reader.delimited()?;
                request.metadata += 1;
            }
            _ => reader.skip(wire)?,
        }
    }
    Ok(request)
}

fn series<'a>(
    bytes: &'a [u8],
    offset: usize,
    seeds: &KeySeeds,
    request: &mut Request<'a>,
) -> Result<(), WireError> {
    let labels_start = request.labels.len();
    let samples_start = request.samples.len();
    let mut hashers = [seeds.0[0].build_hasher(), seeds.0[1].build_hasher()];
    let mut exemplars = 0;
    let mut histograms = 0;
    let mut reader = Reader::new(bytes, offset);
    while !reader.done() {
        let (field, wire) = reader.tag()?;
        match field {
            1 => {
                reader.require_wire(field, wire, LEN)?;
                let (label_bytes, label_offset) = reader.delimited()?;
                for hasher in &mut hashers {
                    hasher.write_usize(label_bytes.len());
                    hasher.write(label_bytes);
                }
                request.labels.push(label(label_bytes, label_offset)?);
            }
            2 => {
                reader.require_wire(field, wire, LEN)?;
                let (sample_bytes, sample_offset) = reader.delimited()?;
                request.samples.push(sample(sample_bytes, sample_offset)?);
            }
            3 | 4 => {
                reader.require_wire(field, wire, LEN)?;
                reader.delimited()?;
                if field == 3 {
                    exemplars += 1;
                } else {
                    histograms += 1;
                }
            }
            _ => reader.skip(wire)?,
        }
    }
    request.series.push(Series {
        labels: labels_start..request.labels.len(),
        samples: samples_start..request.samples.len(),
        key: [hashers[0].finish(), hashers[1].finish()],
        exemplars,
        histograms,
    });
    Ok(())
}

fn label(bytes: &[u8], offset: usize) -> Result<(&str, &str), WireError> {
    let mut name = "";
    let mut value = "";
    let mut reader = Reader::new(bytes, offset);
    while !reader.done() {
        let (field, wire) = reader.tag()?;
        match field {
            1 | 2 => {
                reader.require_wire(field, wire, LEN)?;
                let (text, at) = reader.delimited()?;
                let text = std::str::from_utf8(text).map_err(|_| WireError::Utf8(at))?;
                if field == 1 {
                    name = text;
                } else {
                    value = text;
                }
            }
            _ => reader.skip(wire)?,
        }
    }
    Ok((name, value))
}

fn sample(bytes: &[u8], offset: usize) -> Result<Sample, WireError> {
    let mut sample = Sample { t: 0, v: 0.0 };
    let mut reader = Reader::new(bytes, offset);
    while !reader.done() {
        let (field, wire) = reader.tag()?;
        match field {
            1 => {
                reader.require_wire(field, wire, FIXED64)?;
                sample.v = f64::from_bits(reader.fixed64()?);
            }
            2 => {
                reader.require_wire(field, wire, VARINT)?;
                // int64: the varint is the two's complement bit pattern.
                sample.t = reader.varint()? as i64;
            }
            _ => reader.skip(wire)?,
        }
    }
    Ok(sample)
}

#[cfg(test)]
mod tests {
    use super::super::proto;
    use super::*;
    use prost::Message;

    fn request() -> proto::WriteRequest {
        let label = |name: &str, value: &str| proto::Label {
            name: name.into(),
            value: value.into(),
        };
        proto::WriteRequest {
            timeseries: vec![
                proto::TimeSeries {
                    labels: vec![label("__name__", "up"), label("job", "a")],
                    samples: vec![
                        proto::Sample {
                            value: 1.5,
                            timestamp: 1_700_000_000_000,
                        },
                        proto::Sample {
                            value: f64::NAN,
                            timestamp: -5,
                        },
                    ],
                    exemplars: vec![vec![]],
                    histograms: Vec::new(),
                },
                proto::TimeSeries {
                    labels: vec![label("__name__", "h")],
                    samples: Vec::new(),
                    exemplars: Vec::new(),
                    histograms: vec![vec![8, 1], vec![]],
                },
            ],
            metadata: vec![vec![1], vec![]],
        }
    }

    #[test]
    fn reads_what_prost_writes() {
        let bytes = request().encode_to_vec();
        let seeds = KeySeeds::default();
        let decoded = decode(&bytes, &seeds).expect("decode");
        assert_eq!(decoded.series.len(), 2);
        assert_eq!(
            decoded.labels,
            vec![("__name__", "up"), ("job", "a"), ("__name__", "h")]
        );
        assert_eq!(decoded.samples.len(), 2);
        assert_eq!(
            decoded.samples[0],
            Sample {
                t: 1_700_000_000_000,
                v: 1.5
            }
        );
        assert_eq!(decoded.samples[1].t, -5);
        assert!(decoded.samples[1].v.is_nan());
        assert_eq!(decoded.series[0].exemplars, 1);
        assert_eq!(decoded.series[1].histograms, 2);
        assert_eq!(decoded.series[1].samples, 2..2);
        assert_eq!(decoded.metadata, 2);
        // The same labels give the same key, in this request or the next.
        let again = decode(&bytes, &seeds).expect("decode");
        assert_eq!(again.series[0].key, decoded.series[0].key);
        assert_ne!(decoded.series[0].key, decoded.series[1].key);
    }

    #[test]
    fn unknown_fields_are_skipped_and_the_last_scalar_wins() {
        // Label { name: "a", 7: varint 1, name: "b", value: "v", 9: fixed32 }
        let label = [
            0x0a, 1, b'a', 0x38, 1, 0x0a, 1, b'b', 0x12, 1, b'v', 0x4d, 0, 0, 0, 0,
        ];
        let mut series = vec![0x0a, label.len() as u8];
        series.extend_from_slice(&label);
        let mut body = vec![0x0a, series.len() as u8];
        body.extend_from_slice(&series);
        // An unknown top-level field 5 (length-delimited).
        body.extend_from_slice(&[0x2a, 2, 0, 0]);
        let decoded = decode(&body, &KeySeeds::default()).expect("decode");
        assert_eq!(decoded.labels, vec![("b", "v")]);
        let reference = proto::WriteRequest::decode(body.as_slice()).expect("prost");
        assert_eq!(reference.timeseries[0].labels[0].name, "b");
    }

    #[test]
    fn malformed_bodies_are_refused_with_a_position() {
        let cases: [(&[u8], WireError); 7] = [
            (&[0x0a, 5, 0x0a], WireError::Truncated(2)),
            (&[0x00], WireError::FieldZero(0)),
            (&[0x80, 0x80, 0x80, 0x80, 0x10], WireError::KeyTooLarge(0)),
            (
                &[0x08, 1],
                WireError::WireType {
                    field: 1,
                    wire: 0,
                    expected: 2,
                    at: 1,
                },
            ),
            (&[0x2b], WireError::UnsupportedWire { wire: 3, at: 1 }),
            (
                &[
                    0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
                ],
                WireError::Varint(1),
            ),
            // A label name that is not UTF-8.
            (&[0x0a, 5, 0x0a, 3, 0x0a, 1, 0xff], WireError::Utf8(6)),
        ];
        for (body, expected) in cases {
            assert_eq!(
                decode(body, &KeySeeds::default()).expect_err("malformed"),
                expected,
                "{body:?}"
            );
        }
    }
}
