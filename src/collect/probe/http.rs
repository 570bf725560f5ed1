//! The http probe: one HTTP/1.1 request (and its redirects), timed by phase.
//! Owns: the request as sent, reading the response (head, body framed by
//! Content-Length, chunked or the connection's end, at most `body_bytes_max`), status
//! and body checks, and the `probe_http_*` series.
//! Does not: connect or handshake (`net.rs`).
//!
//! The request is written by hand, with `Connection: close` and no compression asked
//! for, so that each phase is one thing on the wire: resolve (system resolver),
//! connect (TCP), tls (handshake), processing (request sent until the first response
//! byte) and transfer (first byte until the body's end), as blackbox_exporter measures
//! them through Go's httptrace.

use super::net::{self, Stream, TlsInfo};
use super::{Outcome, Point, ProbeError, ip_protocol, seconds};
use crate::config::probe::HttpProbe;
use reqwest::Url;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Instant;

/// Redirects followed, as Go's client (and so blackbox_exporter) does.
const REDIRECTS_MAX: u32 = 10;
/// Largest response head (status line and headers).
const HEAD_BYTES_MAX: usize = 64 * 1024;
/// Longest chunk-size line of a chunked body.
const CHUNK_LINE_BYTES_MAX: usize = 4096;
/// Socket reads of the response.
const READ_BYTES: usize = 16 * 1024;

const PHASES: [&str; 5] = ["resolve", "connect", "tls", "processing", "transfer"];

/// What an http probe reports (see the module doc of `probe`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct HttpReport {
    pub status: u16,
    /// -1: the response did not say.
    pub content_length: f64,
    pub body_length: u64,
    /// 1.1, 1.0; 0 without a response.
    pub version: f64,
    pub redirects: u32,
    /// Whether the last response came over TLS.
    pub ssl: bool,
    pub failed_due_to_regex: bool,
    /// Seconds per phase of `PHASES`, summed over redirects.
    pub phases: [f64; 5],
    /// Resolving the first URL's host.
    pub dns_lookup_seconds: f64,
    pub ip_protocol: f64,
    /// Of the last request, when it was over TLS.
    pub tls: Option<TlsInfo>,
}

impl Default for HttpReport {
    fn default() -> HttpReport {
        HttpReport {
            status: 0,
            content_length: 0.0,
            body_length: 0,
            version: 0.0,
            redirects: 0,
            ssl: false,
            failed_due_to_regex: false,
            phases: [0.0; 5],
            dns_lookup_seconds: 0.0,
            ip_protocol: 0.0,
            tls: None,
        }
    }
}

impl HttpReport {
    pub fn points(&self) -> Vec<Point> {
        let flag = |on: bool| if on { 1.0 } else { 0.0 };
        let mut points = vec![
            Point::new("probe_http_status_code", f64::from(self.status)),
            Point::new("probe_http_content_length", self.content_length),
            Point::new(
                "probe_http_uncompressed_body_length",
                self.body_length as f64,
            ),
            Point::new("probe_http_version", self.version),
            Point::new("probe_http_redirects", f64::from(self.redirects)),
            Point::new("probe_http_ssl", flag(self.ssl)),
            Point::new("probe_failed_due_to_regex", flag(self.failed_due_to_regex)),
            Point::new("probe_dns_lookup_time_seconds", self.dns_lookup_seconds),
            Point::new("probe_ip_protocol", self.ip_protocol),
        ];
        for (phase, value) in PHASES.iter().zip(self.phases) {
            points.push(Point::new("probe_http_duration_seconds", value).with("phase", *phase));
        }
        if let Some(tls) = &self.tls {
            points.extend(tls.points());
        }
        points
    }
}

/// One response, its body read (or why not).
struct Response {
    status: u16,
    version: f64,
    content_length: Option<u64>,
    location: Option<String>,
    /// Kept only when a regex will read it.
    body: Vec<u8>,
    body_length: u64,
    /// What went wrong after the head; the status still counts.
    body_error: Option<ProbeError>,
}

/// Probes `target`, done by `deadline`.
pub(super) fn probe(
    probe: &HttpProbe,
    target: &str,
    body_regex: Option<&regex::bytes::Regex>,
    config_dir: &Path,
    deadline: Instant,
) -> Outcome {
    let mut report = HttpReport::default();
    let result = request(
        probe,
        target,
        body_regex.is_some(),
        config_dir,
        deadline,
        &mut report,
    );
    let (success, failure) = match result {
        Err(error) => (false, Some(error.to_string())),
        Ok(response) => judge(probe, body_regex, response, &mut report),
    };
    Outcome {
        success,
        points: report.points(),
        failure,
    }
}

/// Whether the final response passes the probe's checks; records it in `report`.
fn judge(
    probe: &HttpProbe,
    body_regex: Option<&regex::bytes::Regex>,
    response: Response,
    report: &mut HttpReport,
) -> (bool, Option<String>) {
    report.status = response.status;
    report.version = response.version;
    report.content_length = response.content_length.map_or(-1.0, |length| length as f64);
    report.body_length = response.body_length;
    let status_ok = if probe.valid_status_codes.is_empty() {
        (200..300).contains(&response.status)
    } else {
        probe.valid_status_codes.contains(&response.status)
    };
    if !status_ok {
        return (
            false,
            Some(format!("status {} is not a valid one", response.status)),
        );
    }
    if let Some(error) = response.body_error {
        return (false, Some(error.to_string()));
    }
    if let Some(regex) = body_regex
        && !regex.is_match(&response.body)
    {
        report.failed_due_to_regex = true;
        return (
            false,
            Some(format!("the body does not match {:?}", regex.as_str())),
        );
    }
    (true, None)
}

/// The request and its redirects; the final response.
fn request(
    probe: &HttpProbe,
    target: &str,
    keep_body: bool,
    config_dir: &Path,
    deadline: Instant,
    report: &mut HttpReport,
) -> Result<Response, ProbeError> {
    let first = Url::parse(target).map_err(|error| ProbeError::Malformed(error.to_string()))?;
    let mut url = first.clone();
    let mut method = probe.method.clone();
    loop {
        // A Host header written in the config is for the configured host only.
        let same_host = url.host_str() == first.host_str() && url.port() == first.port();
        let response = exchange(
            probe, &url, &method, same_host, keep_body, config_dir, deadline, report,
        )?;
        let redirect = probe.follow_redirects
            && matches!(response.status, 301 | 302 | 303 | 307 | 308)
            && response.location.is_some();
        if !redirect {
            return Ok(response);
        }
        if report.redirects == REDIRECTS_MAX {
            return Err(ProbeError::TooManyRedirects(REDIRECTS_MAX));
        }
        report.redirects += 1;
        let location = response.location.unwrap_or_default();
        url = url
            .join(&location)
            .map_err(|error| ProbeError::Malformed(format!("Location {location:?}: {error}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ProbeError::Malformed(format!(
                "redirect to {url}, which is not http or https"
            )));
        }
        if response.status == 303 && method != "HEAD" {
            method = "GET".to_string();
        }
    }
}

/// One request on a new connection; phases are added to `report` as they complete,
/// so a failed exchange still reports those it finished.
#[allow(clippy::too_many_arguments)]
fn exchange(
    probe: &HttpProbe,
    url: &Url,
    method: &str,
    same_host: bool,
    keep_body: bool,
    config_dir: &Path,
    deadline: Instant,
    report: &mut HttpReport,
) -> Result<Response, ProbeError> {
    let host = url
        .host_str()
        .ok_or_else(|| ProbeError::Malformed(format!("{url} has no host")))?;
    let port = url
        .port_or_known_default()
        .ok_or_else(|| ProbeError::Malformed(format!("{url} has no port")))?;
    let https = url.scheme() == "https";
    report.ssl = false;
    report.tls = None;
    let first_hop = report.redirects == 0;

    let started = Instant::now();
    let addresses = net::resolve(host, port);
    let resolve_seconds = seconds(started);
    report.phases[0] += resolve_seconds;
    if first_hop {
        report.dns_lookup_seconds = resolve_seconds;
    }
    let addresses = addresses?;
    net::remaining(deadline)?;
    if first_hop && let Some(address) = addresses.first() {
        report.ip_protocol = ip_protocol(address);
    }

    let started = Instant::now();
    let connected = net::connect(&addresses, deadline);
    report.phases[1] += seconds(started);
    let (socket, address) = connected?;
    if first_hop {
        report.ip_protocol = ip_protocol(&address);
    }

    let host_header = probe
        .headers
        .iter()
        .find(|(name, _)| same_host && name.eq_ignore_ascii_case("host"))
        .map(|(_, value)| value.clone());
    let mut stream = if https {
        let config = net::client_config(&probe.tls, config_dir, &[b"http/1.1"])?;
        // A Host header names the server, as blackbox_exporter takes it for TLS too.
        let name = host_header.as_deref().map_or(host, host_of_header);
        let name = net::server_name(name)?;
        let started = Instant::now();
        let handshake = net::handshake(socket, config, name);
        report.phases[2] += seconds(started);
        let (stream, info) = handshake?;
        report.ssl = true;
        report.tls = Some(info);
        stream
    } else {
        Stream::Plain(socket)
    };

    let started = Instant::now();
    let request = request_text(probe, url, method, same_host);
    stream.write_all(request.as_bytes())?;
    stream.flush()?;
    let mut incoming = Incoming::new(&mut stream);
    let head = incoming.head();
    let first_byte = incoming.first_byte;
    if let Some(first_byte) = first_byte {
        report.phases[3] += first_byte.duration_since(started).as_secs_f64();
    }
    let head = head?;
    let mut response = Response {
        status: head.status,
        version: head.version,
        content_length: head.content_length,
        location: head.location.clone(),
        body: Vec::new(),
        body_length: 0,
        body_error: None,
    };
    let redirect = probe.follow_redirects && matches!(head.status, 301 | 302 | 303 | 307 | 308);
    if redirect && head.location.is_some() {
        // Go's client counts no transfer for a response it redirects from.
        return Ok(response);
    }
    let no_body = method == "HEAD" || head.status == 204 || head.status == 304 || head.status < 200;
    if !no_body {
        let mut sink = Sink {
            keep: keep_body,
            data: Vec::new(),
            length: 0,
            max: probe.body_bytes_max,
        };
        let read = if head.chunked {
            incoming.chunked_body(&mut sink)
        } else if let Some(length) = head.content_length {
            incoming.exact_body(length, &mut sink)
        } else {
            incoming.body_to_end(&mut sink)
        };
        response.body = sink.data;
        response.body_length = sink.length;
        response.body_error = read.err();
    }
    if let Some(first_byte) = first_byte {
        report.phases[4] += seconds(first_byte);
    }
    Ok(response)
}

/// The host part of a `Host` header: `name`, `name:port`, `[v6]` or `[v6]:port`.
fn host_of_header(value: &str) -> &str {
    if value.starts_with('[') {
        return value.find(']').map_or(value, |end| &value[..=end]);
    }
    value.rsplit_once(':').map_or(value, |(host, _)| host)
}

/// The request head: the probe's headers, then ours where it has none.
fn request_text(probe: &HttpProbe, url: &Url, method: &str, same_host: bool) -> String {
    let mut path = url.path().to_string();
    if let Some(query) = url.query() {
        path.push('?');
        path.push_str(query);
    }
    let mut text = format!("{method} {path} HTTP/1.1\r\n");
    let has = |name: &str| {
        probe
            .headers
            .iter()
            .any(|(written, _)| written.eq_ignore_ascii_case(name))
    };
    if !(same_host && has("host")) {
        let host = url.host_str().unwrap_or_default();
        match url.port() {
            Some(port) => text.push_str(&format!("Host: {host}:{port}\r\n")),
            None => text.push_str(&format!("Host: {host}\r\n")),
        }
    }
    if !has("user-agent") {
        text.push_str(concat!(
            "User-Agent: tandem/",
            env!("CARGO_PKG_VERSION"),
            "\r\n"
        ));
    }
    if !has("accept") {
        text.push_str("Accept: */*\r\n");
    }
    for (name, value) in &probe.headers {
        if name.eq_ignore_ascii_case("host") && !same_host {
            continue;
        }
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    if !matches!(method, "GET" | "HEAD" | "OPTIONS" | "TRACE" | "DELETE") {
        text.push_str("Content-Length: 0\r\n");
    }
    text.push_str("Connection: close\r\n\r\n");
    text
}

/// The parts of a response head the probe uses.
#[derive(Debug, PartialEq)]
struct Head {
    status: u16,
    version: f64,
    content_length: Option<u64>,
    chunked: bool,
    location: Option<String>,
}

/// Where body bytes go: counted, bounded, and kept when a regex reads them.
struct Sink {
    keep: bool,
    data: Vec<u8>,
    length: u64,
    max: u64,
}

impl Sink {
    fn push(&mut self, bytes: &[u8]) -> Result<(), ProbeError> {
        let length = self.length + bytes.len() as u64;
        if length > self.max {
            return Err(ProbeError::BodyTooLarge(self.max));
        }
        self.length = length;
        if self.keep {
            self.data.extend_from_slice(bytes);
        }
        Ok(())
    }
}

/// A response being read: bytes read and not yet used, and when the first arrived.
struct Incoming<'a, R> {
    reader: &'a mut R,
    buffer: Vec<u8>,
    position: usize,
    first_byte: Option<Instant>,
}

impl<'a, R: Read> Incoming<'a, R> {
    fn new(reader: &'a mut R) -> Incoming<'a, R> {
        Incoming {
            reader,
            buffer: Vec::with_capacity(READ_BYTES),
            position: 0,
            first_byte: None,
        }
    }

    fn available(&self) -> &[u8] {
        &self.buffer[self.position..]
    }

    fn consume(&mut self, count: usize) {
        self.position += count;
        if self.position == self.buffer.len() {
            self.buffer.clear();
            self.position = 0;
        }
    }

    /// Reads more; 0 at the end of the stream. A TLS peer that closes without
    /// close_notify ends the stream too (framing tells a truncated body).
    fn fill(&mut self) -> Result<usize, ProbeError> {
        if self.position > 0 {
            self.buffer.drain(..self.position);
            self.position = 0;
        }
        let mut chunk = [0u8; READ_BYTES];
        let count = loop {
            match self.reader.read(&mut chunk) {
                Ok(count) => break count,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => break 0,
                Err(error) => return Err(error.into()),
            }
        };
        if count > 0 && self.first_byte.is_none() {
            self.first_byte = Some(Instant::now());
        }
        self.buffer.extend_from_slice(&chunk[..count]);
        Ok(count)
    }

    /// A line without its line break, at most `max` bytes.
    fn line(&mut self, max: usize, what: &str) -> Result<Vec<u8>, ProbeError> {
        loop {
            if let Some(end) = memchr::memchr(b'\n', self.available()) {
                let mut line = self.available()[..end].to_vec();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                self.consume(end + 1);
                return Ok(line);
            }
            if self.available().len() > max {
                return Err(ProbeError::Malformed(format!(
                    "{what} longer than {max} bytes"
                )));
            }
            if self.fill()? == 0 {
                return Err(ProbeError::Malformed(format!(
                    "the connection closed in the {what}"
                )));
            }
        }
    }

    /// The head of the final response (1xx interim responses are skipped).
    fn head(&mut self) -> Result<Head, ProbeError> {
        loop {
            let mut budget = HEAD_BYTES_MAX;
            let status_line = self.line(budget, "response head")?;
            budget = budget.saturating_sub(status_line.len());
            let mut head = parse_status_line(&status_line)?;
            let mut transfer_encoding = None;
            loop {
                let line = self.line(budget, "response head")?;
                if line.is_empty() {
                    break;
                }
                budget = budget.saturating_sub(line.len() + 2);
                if budget == 0 {
                    return Err(ProbeError::Malformed(format!(
                        "response head longer than {HEAD_BYTES_MAX} bytes"
                    )));
                }
                let Some(colon) = memchr::memchr(b':', &line) else {
                    return Err(ProbeError::Malformed("a header line without ':'".into()));
                };
                let name = String::from_utf8_lossy(&line[..colon]);
                let value = String::from_utf8_lossy(&line[colon + 1..])
                    .trim()
                    .to_string();
                if name.eq_ignore_ascii_case("content-length") {
                    let length = value
                        .parse::<u64>()
                        .map_err(|_| ProbeError::Malformed(format!("Content-Length {value:?}")))?;
                    if head.content_length.is_some_and(|seen| seen != length) {
                        return Err(ProbeError::Malformed(
                            "two different Content-Lengths".into(),
                        ));
                    }
                    head.content_length = Some(length);
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    transfer_encoding = Some(value);
                } else if name.eq_ignore_ascii_case("location") {
                    head.location = Some(value);
                }
            }
            if let Some(encoding) = transfer_encoding {
                // RFC 9112 6.3: chunked last means chunked, and then the length is ignored.
                head.chunked = encoding
                    .rsplit(',')
                    .next()
                    .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
                if head.chunked {
                    head.content_length = None;
                }
            }
            if (100..200).contains(&head.status) && head.status != 101 {
                continue;
            }
            return Ok(head);
        }
    }

    /// Exactly `length` bytes.
    fn exact_body(&mut self, length: u64, sink: &mut Sink) -> Result<(), ProbeError> {
        if length > sink.max {
            return Err(ProbeError::BodyTooLarge(sink.max));
        }
        let mut left = length;
        while left > 0 {
            if self.available().is_empty() && self.fill()? == 0 {
                return Err(ProbeError::Malformed(format!(
                    "the connection closed after {} of {length} body bytes",
                    length - left
                )));
            }
            let take = self
                .available()
                .len()
                .min(usize::try_from(left).unwrap_or(usize::MAX));
            sink.push(&self.available()[..take])?;
            self.consume(take);
            left -= take as u64;
        }
        Ok(())
    }

    /// Everything until the peer closes.
    fn body_to_end(&mut self, sink: &mut Sink) -> Result<(), ProbeError> {
        loop {
            if !self.available().is_empty() {
                let count = self.available().len();
                sink.push(self.available())?;
                self.consume(count);
            }
            if self.fill()? == 0 {
                return Ok(());
            }
        }
    }

    /// A chunked body (RFC 9112 7.1), trailers read and ignored.
    fn chunked_body(&mut self, sink: &mut Sink) -> Result<(), ProbeError> {
        loop {
            let line = self.line(CHUNK_LINE_BYTES_MAX, "chunk size line")?;
            let text = String::from_utf8_lossy(&line);
            let digits = text.split(';').next().unwrap_or_default().trim();
            let size = u64::from_str_radix(digits, 16)
                .map_err(|_| ProbeError::Malformed(format!("chunk size {digits:?}")))?;
            if size == 0 {
                loop {
                    if self
                        .line(CHUNK_LINE_BYTES_MAX, "chunked trailer")?
                        .is_empty()
                    {
                        return Ok(());
                    }
                }
            }
            if sink.length.saturating_add(size) > sink.max {
                return Err(ProbeError::BodyTooLarge(sink.max));
            }
            self.exact_body(size, sink)?;
            if !self.line(CHUNK_LINE_BYTES_MAX, "chunk end")?.is_empty() {
                return Err(ProbeError::Malformed("a chunk longer than its size".into()));
            }
        }
    }
}

/// `HTTP/1.1 200 OK`.
fn parse_status_line(line: &[u8]) -> Result<Head, ProbeError> {
    let text = String::from_utf8_lossy(line);
    let malformed = || ProbeError::Malformed(format!("status line {text:?}"));
    let mut parts = text.splitn(3, ' ');
    let version = parts
        .next()
        .and_then(|protocol| protocol.strip_prefix("HTTP/"))
        .and_then(|version| version.parse::<f64>().ok())
        .ok_or_else(malformed)?;
    let status = parts
        .next()
        .filter(|code| code.len() == 3)
        .and_then(|code| code.parse::<u16>().ok())
        .filter(|code| (100..=999).contains(code))
        .ok_or_else(malformed)?;
    Ok(Head {
        status,
        version,
        content_length: None,
        chunked: false,
        location: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_response(
        raw: &[u8],
        keep: bool,
        max: u64,
    ) -> (Result<Head, ProbeError>, Sink, Result<(), ProbeError>) {
        let mut reader = raw;
        let mut incoming = Incoming::new(&mut reader);
        let mut sink = Sink {
            keep,
            data: Vec::new(),
            length: 0,
            max,
        };
        let head = incoming.head();
        let body = match &head {
            Ok(head) if head.chunked => incoming.chunked_body(&mut sink),
            Ok(head) => match head.content_length {
                Some(length) => incoming.exact_body(length, &mut sink),
                None => incoming.body_to_end(&mut sink),
            },
            Err(_) => Ok(()),
        };
        (head, sink, body)
    }

    #[test]
    fn framings() {
        let (head, sink, body) = read_response(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello, and more",
            true,
            100,
        );
        assert_eq!(head.expect("head").content_length, Some(5));
        assert!(body.is_ok());
        assert_eq!(sink.data, b"hello");

        let (head, sink, body) = read_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 99\r\n\r\n5;x=y\r\nhello\r\n7\r\n, world\r\n0\r\nTrailer: 1\r\n\r\n",
            true,
            100,
        );
        let head = head.expect("head");
        assert!(head.chunked);
        assert_eq!(head.content_length, None);
        assert!(body.is_ok(), "{body:?}");
        assert_eq!(sink.data, b"hello, world");
        assert_eq!(sink.length, 12);

        let (head, sink, body) = read_response(b"HTTP/1.0 500 Oops\n\nuntil the end", false, 100);
        let head = head.expect("head");
        assert_eq!((head.status, head.version), (500, 1.0));
        assert!(body.is_ok());
        assert!(sink.data.is_empty());
        assert_eq!(sink.length, 13);
    }

    #[test]
    fn bad_responses() {
        let (_, _, body) = read_response(
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
            false,
            100,
        );
        assert!(matches!(body, Err(ProbeError::Malformed(_))), "{body:?}");
        let (_, _, body) = read_response(
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789",
            false,
            9,
        );
        assert!(matches!(body, Err(ProbeError::BodyTooLarge(9))), "{body:?}");
        let (_, _, body) = read_response(b"HTTP/1.1 200 OK\r\n\r\n0123456789", false, 9);
        assert!(matches!(body, Err(ProbeError::BodyTooLarge(9))), "{body:?}");
        let (_, _, body) = read_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            false,
            100,
        );
        assert!(matches!(body, Err(ProbeError::Malformed(_))), "{body:?}");
        for raw in [
            &b"SSH-2.0-OpenSSH\r\n\r\n"[..],
            b"HTTP/1.1 20 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
            b"HTTP/1.1 200 OK\r\n",
        ] {
            let (head, _, _) = read_response(raw, false, 100);
            assert!(
                matches!(head, Err(ProbeError::Malformed(_))),
                "{raw:?}: {head:?}"
            );
        }
        let mut huge = b"HTTP/1.1 200 OK\r\n".to_vec();
        huge.extend(std::iter::repeat_n(b'x', HEAD_BYTES_MAX + 10));
        let (head, _, _) = read_response(&huge, false, 100);
        assert!(matches!(head, Err(ProbeError::Malformed(_))), "{head:?}");
    }

    #[test]
    fn hosts_of_host_headers() {
        assert_eq!(host_of_header("example.org"), "example.org");
        assert_eq!(host_of_header("example.org:8443"), "example.org");
        assert_eq!(host_of_header("[::1]"), "[::1]");
        assert_eq!(host_of_header("[::1]:8443"), "[::1]");
    }

    #[test]
    fn request_heads() {
        let probe = HttpProbe {
            method: "POST".into(),
            valid_status_codes: vec![],
            body_regex: None,
            headers: vec![
                ("Host".into(), "example.org".into()),
                ("X-A".into(), "b".into()),
            ],
            follow_redirects: true,
            body_bytes_max: 10,
            tls: Default::default(),
        };
        let url = Url::parse("http://127.0.0.1:8080/a/b?c=d").expect("URL");
        assert_eq!(
            request_text(&probe, &url, "POST", true),
            format!(
                "POST /a/b?c=d HTTP/1.1\r\nUser-Agent: tandem/{}\r\nAccept: */*\r\nHost: example.org\r\nX-A: b\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                env!("CARGO_PKG_VERSION")
            )
        );
        let url = Url::parse("https://[::1]/").expect("URL");
        assert!(
            request_text(&probe, &url, "GET", false)
                .starts_with("GET / HTTP/1.1\r\nHost: [::1]\r\n")
        );
    }
}
