//! The dns probe: one query over UDP to the target resolver.
//! Owns: the query message, matching the answer to it, reading its counts (and a
//! SOA's serial), the `probe_dns_*` series. Success: an answer with rcode NOERROR, as
//! blackbox_exporter's default `valid_rcodes`.
//! Does not: retry over TCP when the answer is truncated (the counts of a truncated
//! answer are what the resolver sent), or validate DNSSEC.
//!
//! Hand-written: a query is a 12-byte header and one question, and the probe reads only
//! the header and skips over records; a DNS library (hickory) is not in our dependency
//! tree and would be a large one for that.

use super::net;
use super::{Outcome, Point, ProbeError, ip_protocol, seconds};
use crate::config::probe::DnsProbe;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::Instant;

/// Largest answer read; answers over UDP without EDNS are at most 512 bytes, but some
/// resolvers send more.
const ANSWER_BYTES_MAX: usize = 4096;
const HEADER_BYTES: usize = 12;
const TYPE_SOA: u16 = 6;
const CLASS_IN: u16 = 1;
/// Flags of the query: recursion desired.
const FLAG_RD: u16 = 0x0100;
/// Flags of an answer: it is a response.
const FLAG_QR: u16 = 0x8000;

const PHASES: [&str; 3] = ["resolve", "connect", "request"];

/// What a dns probe reports.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct DnsReport {
    pub dns_lookup_seconds: f64,
    pub ip_protocol: f64,
    /// Seconds per phase of `PHASES`.
    pub phases: [f64; 3],
    pub answer_rrs: u16,
    pub authority_rrs: u16,
    pub additional_rrs: u16,
    pub query_succeeded: bool,
    /// The SOA serial, for a SOA query that got one.
    pub serial: Option<u32>,
}

impl DnsReport {
    pub fn points(&self) -> Vec<Point> {
        let mut points = vec![
            Point::new("probe_dns_lookup_time_seconds", self.dns_lookup_seconds),
            Point::new("probe_ip_protocol", self.ip_protocol),
            Point::new("probe_dns_answer_rrs", f64::from(self.answer_rrs)),
            Point::new("probe_dns_authority_rrs", f64::from(self.authority_rrs)),
            Point::new("probe_dns_additional_rrs", f64::from(self.additional_rrs)),
            Point::new(
                "probe_dns_query_succeeded",
                if self.query_succeeded { 1.0 } else { 0.0 },
            ),
        ];
        for (phase, value) in PHASES.iter().zip(self.phases) {
            points.push(Point::new("probe_dns_duration_seconds", value).with("phase", *phase));
        }
        if let Some(serial) = self.serial {
            points.push(Point::new("probe_dns_serial", f64::from(serial)));
        }
        points
    }
}

/// An answer, as far as the probe reads it.
#[derive(Debug, PartialEq)]
struct Answer {
    rcode: u16,
    answer_rrs: u16,
    authority_rrs: u16,
    additional_rrs: u16,
    serial: Option<u32>,
}

pub(super) fn probe(probe: &DnsProbe, deadline: Instant) -> Outcome {
    let mut report = DnsReport::default();
    let result = query(probe, deadline, &mut report);
    let (success, failure) = match result {
        Ok(answer) => {
            report.query_succeeded = true;
            report.answer_rrs = answer.answer_rrs;
            report.authority_rrs = answer.authority_rrs;
            report.additional_rrs = answer.additional_rrs;
            report.serial = answer.serial;
            if answer.rcode == 0 {
                (true, None)
            } else {
                (false, Some(format!("rcode {}", rcode_name(answer.rcode))))
            }
        }
        Err(error) => (false, Some(error.to_string())),
    };
    Outcome {
        success,
        points: report.points(),
        failure,
    }
}

fn query(
    probe: &DnsProbe,
    deadline: Instant,
    report: &mut DnsReport,
) -> Result<Answer, ProbeError> {
    let (host, port) = net::split_host_port(&probe.server)?;
    let started = Instant::now();
    let addresses = net::resolve(host, port);
    report.dns_lookup_seconds = seconds(started);
    report.phases[0] = report.dns_lookup_seconds;
    let address = *addresses?.first().ok_or_else(|| ProbeError::NoAddress {
        host: host.to_string(),
    })?;
    report.ip_protocol = ip_protocol(&address);

    let started = Instant::now();
    let local = if address.is_ipv4() {
        SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))
    } else {
        SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))
    };
    let socket = UdpSocket::bind(local)?;
    let connected = socket.connect(address);
    report.phases[1] = seconds(started);
    connected.map_err(|source| ProbeError::Connect { address, source })?;

    let started = Instant::now();
    let id = query_id();
    let message = encode_query(id, &probe.query_name, probe.query_type_code);
    // A closed port answers with ICMP, which the next send or receive reports.
    let exchange_error = |source: std::io::Error| match ProbeError::from(source) {
        ProbeError::Io(source) => ProbeError::Exchange { address, source },
        other => other,
    };
    socket.set_write_timeout(Some(net::remaining(deadline)?))?;
    socket.send(&message).map_err(exchange_error)?;
    let question = &message[HEADER_BYTES..];
    let mut buffer = vec![0u8; ANSWER_BYTES_MAX];
    let answer = loop {
        socket.set_read_timeout(Some(net::remaining(deadline)?))?;
        let count = socket.recv(&mut buffer).map_err(exchange_error)?;
        // Anything else (a late answer to an earlier query, a forged one) is ignored.
        if let Some(answer) = parse_answer(&buffer[..count], id, question) {
            break answer;
        }
    };
    report.phases[2] = seconds(started);
    Ok(answer)
}

/// An unpredictable query ID (RFC 5452), from the standard library's random hash keys.
fn query_id() -> u16 {
    use std::hash::BuildHasher;
    let random = std::collections::hash_map::RandomState::new().hash_one(Instant::now());
    (random >> 16) as u16
}

/// A query for `name` (checked by the config: ASCII labels of 1..63 bytes).
fn encode_query(id: u16, name: &str, query_type: u16) -> Vec<u8> {
    let mut message = Vec::with_capacity(HEADER_BYTES + name.len() + 6);
    message.extend_from_slice(&id.to_be_bytes());
    message.extend_from_slice(&FLAG_RD.to_be_bytes());
    // One question, no records.
    message.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.').filter(|label| !label.is_empty()) {
        let bytes = &label.as_bytes()[..label.len().min(63)];
        message.push(bytes.len() as u8);
        message.extend_from_slice(bytes);
    }
    message.push(0);
    message.extend_from_slice(&query_type.to_be_bytes());
    message.extend_from_slice(&CLASS_IN.to_be_bytes());
    message
}

fn u16_at(packet: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*packet.get(at)?, *packet.get(at + 1)?]))
}

fn u32_at(packet: &[u8], at: usize) -> Option<u32> {
    let bytes = packet.get(at..at + 4)?;
    Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// The position after the (possibly compressed) name at `at`.
fn skip_name(packet: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let length = *packet.get(at)?;
        match length & 0xc0 {
            0x00 if length == 0 => return Some(at + 1),
            0x00 => at += 1 + usize::from(length),
            0xc0 => return packet.get(at + 1).map(|_| at + 2),
            _ => return None,
        }
    }
}

/// The answer to query `id` asking `question`, or `None` for any other packet.
fn parse_answer(packet: &[u8], id: u16, question: &[u8]) -> Option<Answer> {
    if u16_at(packet, 0)? != id {
        return None;
    }
    let flags = u16_at(packet, 2)?;
    if flags & FLAG_QR == 0 {
        return None;
    }
    let questions = u16_at(packet, 4)?;
    let mut answer = Answer {
        rcode: flags & 0x000f,
        answer_rrs: u16_at(packet, 6)?,
        authority_rrs: u16_at(packet, 8)?,
        additional_rrs: u16_at(packet, 10)?,
        serial: None,
    };
    if questions == 0 {
        // Some servers leave out the question of an error answer.
        return Some(answer);
    }
    let echoed = packet.get(HEADER_BYTES..HEADER_BYTES + question.len())?;
    if questions != 1 || !echoed.eq_ignore_ascii_case(question) {
        return None;
    }
    let query_type = u16_at(question, question.len().checked_sub(4)?)?;
    if query_type == TYPE_SOA {
        answer.serial = soa_serial(packet, HEADER_BYTES + question.len(), answer.answer_rrs);
    }
    Some(answer)
}

/// The serial of the first SOA among `count` records from `at`.
fn soa_serial(packet: &[u8], mut at: usize, count: u16) -> Option<u32> {
    for _ in 0..count {
        at = skip_name(packet, at)?;
        let record_type = u16_at(packet, at)?;
        let length = usize::from(u16_at(packet, at + 8)?);
        let data = at + 10;
        if record_type == TYPE_SOA {
            // MNAME, RNAME, then SERIAL.
            let serial_at = skip_name(packet, skip_name(packet, data)?)?;
            if serial_at + 4 > data + length {
                return None;
            }
            return u32_at(packet, serial_at);
        }
        at = data + length;
    }
    None
}

fn rcode_name(rcode: u16) -> String {
    match rcode {
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_bytes() {
        assert_eq!(
            encode_query(0x1234, "a.bc", 28),
            [
                0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'a', 2, b'b', b'c', 0, 0, 28,
                0, 1
            ]
        );
    }

    #[test]
    fn answers() {
        let query = encode_query(7, "example.org", TYPE_SOA);
        let question = &query[HEADER_BYTES..];
        let mut answer = query.clone();
        answer[2] = 0x81; // QR, RD
        answer[3] = 0x80; // RA, NOERROR
        answer[7] = 1; // one answer
        // example.org SOA: name by pointer to the question, type, class, TTL, length.
        answer.extend_from_slice(&[0xc0, 12, 0, 6, 0, 1, 0, 0, 0, 60, 0, 27]);
        answer.extend_from_slice(&[2, b'n', b's', 0xc0, 12]); // MNAME ns.example.org
        answer.extend_from_slice(&[0xc0, 12]); // RNAME
        answer.extend_from_slice(&1_234_567u32.to_be_bytes());
        answer.extend_from_slice(&[0; 16]); // REFRESH, RETRY, EXPIRE, MINIMUM
        assert_eq!(
            parse_answer(&answer, 7, question),
            Some(Answer {
                rcode: 0,
                answer_rrs: 1,
                authority_rrs: 0,
                additional_rrs: 0,
                serial: Some(1_234_567),
            })
        );
        // Another ID, a query, another question, a truncated packet: not our answer.
        assert_eq!(parse_answer(&answer, 8, question), None);
        assert_eq!(parse_answer(&query, 7, question), None);
        let other = encode_query(7, "example.com", TYPE_SOA);
        assert_eq!(parse_answer(&answer, 7, &other[HEADER_BYTES..]), None);
        assert_eq!(parse_answer(&answer[..10], 7, question), None);
        // Case may differ (0x20 encoding); a bad record is no serial, not a panic.
        let mut upper = answer.clone();
        upper[13] = b'E';
        assert!(parse_answer(&upper, 7, question).is_some());
        let cut = &answer[..answer.len() - 20];
        assert_eq!(parse_answer(cut, 7, question).and_then(|a| a.serial), None);
    }
}
