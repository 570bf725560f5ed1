//! Sockets and TLS for the probes, every step bounded by the probe's deadline.
//! Owns: resolving and connecting, socket timeouts taken from the deadline, the TLS
//! client config (system or `ca_file` roots, or none checked), the handshake, and what
//! a handshake tells (version, earliest certificate expiry).
//! Does not: speak HTTP or DNS.

use super::{Point, ProbeError, resolve_path};
use crate::config::probe::ProbeTls;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// CA bundles of the common distributions, tried in order when `SSL_CERT_FILE` is unset
/// (the paths Go's crypto/x509 reads, so blackbox_exporter trusts the same roots).
const SYSTEM_CA_BUNDLES: [&str; 6] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// Largest `ca_file` read.
const CA_FILE_BYTES_MAX: u64 = 4 << 20;

/// Time left before `deadline`, or `Timeout` when none is.
pub(super) fn remaining(deadline: Instant) -> Result<Duration, ProbeError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(ProbeError::Timeout)
    } else {
        Ok(left)
    }
}

/// The addresses of `host` (an IP literal, brackets allowed, or a name) at `port`,
/// from the system resolver (it honors /etc/hosts).
pub(super) fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, ProbeError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let addresses: Vec<SocketAddr> = (bare, port)
        .to_socket_addrs()
        .map_err(|source| ProbeError::Resolve {
            host: host.to_string(),
            source,
        })?
        .collect();
    if addresses.is_empty() {
        return Err(ProbeError::NoAddress {
            host: host.to_string(),
        });
    }
    Ok(addresses)
}

/// Splits `host:port` (IPv6 in brackets); the config checked the shape.
pub(super) fn split_host_port(target: &str) -> Result<(&str, u16), ProbeError> {
    let (host, port) = target
        .rsplit_once(':')
        .ok_or_else(|| ProbeError::Malformed(format!("{target:?} is not host:port")))?;
    let port = port
        .parse()
        .map_err(|_| ProbeError::Malformed(format!("{target:?} has no valid port")))?;
    Ok((host, port))
}

/// Connects to the first of `addresses` that accepts, in the resolver's order.
pub(super) fn connect(
    addresses: &[SocketAddr],
    deadline: Instant,
) -> Result<(DeadlineSocket, SocketAddr), ProbeError> {
    let mut last = ProbeError::NoAddress {
        host: String::new(),
    };
    for address in addresses {
        let left = remaining(deadline)?;
        match TcpStream::connect_timeout(address, left) {
            Ok(socket) => {
                let _ = socket.set_nodelay(true);
                return Ok((DeadlineSocket { socket, deadline }, *address));
            }
            Err(source)
                if matches!(
                    source.kind(),
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                ) =>
            {
                return Err(ProbeError::Timeout);
            }
            Err(source) => {
                last = ProbeError::Connect {
                    address: *address,
                    source,
                }
            }
        }
    }
    Err(last)
}

/// A TCP stream whose every read and write waits at most until the deadline; one that
/// would wait longer fails with `TimedOut`.
pub(super) struct DeadlineSocket {
    socket: TcpStream,
    deadline: Instant,
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "timed out")
}

/// A socket timeout (`WouldBlock` on Linux) as `TimedOut`.
fn timeout_kind(error: io::Error) -> io::Error {
    if error.kind() == io::ErrorKind::WouldBlock {
        timed_out()
    } else {
        error
    }
}

impl DeadlineSocket {
    fn left(&self) -> io::Result<Duration> {
        remaining(self.deadline).map_err(|_| timed_out())
    }
}

impl Read for DeadlineSocket {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        self.socket.set_read_timeout(Some(self.left()?))?;
        self.socket.read(buffer).map_err(timeout_kind)
    }
}

impl Write for DeadlineSocket {
    fn write(&mut self, buffer: &[u8]) -> io::Result<usize> {
        self.socket.set_write_timeout(Some(self.left()?))?;
        self.socket.write(buffer).map_err(timeout_kind)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.socket.flush()
    }
}

/// A connection, with TLS or without.
pub(super) enum Stream {
    Plain(DeadlineSocket),
    Tls(Box<rustls::StreamOwned<ClientConnection, DeadlineSocket>>),
}

impl Read for Stream {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(socket) => socket.read(buffer),
            Stream::Tls(stream) => stream.read(buffer),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buffer: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(socket) => socket.write(buffer),
            Stream::Tls(stream) => stream.write(buffer),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(socket) => socket.flush(),
            Stream::Tls(stream) => stream.flush(),
        }
    }
}

/// What a finished handshake tells.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct TlsInfo {
    /// `TLS 1.2`, `TLS 1.3`, as blackbox_exporter writes them.
    pub version: String,
    /// The earliest notAfter of the certificates the server sent, Unix seconds.
    pub earliest_expiry: Option<i64>,
}

impl TlsInfo {
    pub fn points(&self) -> Vec<Point> {
        let mut points =
            vec![Point::new("probe_tls_version_info", 1.0).with("version", self.version.clone())];
        if let Some(expiry) = self.earliest_expiry {
            points.push(Point::new("probe_ssl_earliest_cert_expiry", expiry as f64));
        }
        points
    }
}

/// The client config of one probe run: its `ca_file` (read now, so a renewed file is
/// used without a reload) or the system's roots, or no verification at all.
pub(super) fn client_config(
    tls: &ProbeTls,
    config_dir: &Path,
    alpn: &[&[u8]],
) -> Result<Arc<ClientConfig>, ProbeError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|error| ProbeError::Tls(error.to_string()))?;
    let mut config = if tls.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        let roots = match &tls.ca_file {
            Some(file) => Arc::new(read_ca_file(&resolve_path(config_dir, file))?),
            None => system_roots(),
        };
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
    Ok(Arc::new(config))
}

fn read_ca_file(path: &Path) -> Result<RootCertStore, ProbeError> {
    let failed = |reason: String| ProbeError::CaFile {
        path: path.to_path_buf(),
        reason,
    };
    let mut file = std::fs::File::open(path).map_err(|error| failed(error.to_string()))?;
    let mut pem = Vec::new();
    (&mut file)
        .take(CA_FILE_BYTES_MAX + 1)
        .read_to_end(&mut pem)
        .map_err(|error| failed(error.to_string()))?;
    if pem.len() as u64 > CA_FILE_BYTES_MAX {
        return Err(failed(format!("larger than {CA_FILE_BYTES_MAX} bytes")));
    }
    let mut roots = RootCertStore::empty();
    let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|error| failed(format!("not PEM: {error}")))?;
    let (added, _) = roots.add_parsable_certificates(certificates);
    if added == 0 {
        return Err(failed("holds no usable CA certificate".into()));
    }
    Ok(roots)
}

/// The system's CA certificates, read once.
fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    Arc::clone(ROOTS.get_or_init(|| {
        let from_env = std::env::var_os("SSL_CERT_FILE").map(std::path::PathBuf::from);
        let candidates = from_env
            .into_iter()
            .chain(SYSTEM_CA_BUNDLES.iter().map(std::path::PathBuf::from));
        for path in candidates {
            if let Ok(roots) = read_ca_file(&path) {
                tracing::debug!(path = %path.display(), roots = roots.len(), "probes trust these CAs");
                return Arc::new(roots);
            }
        }
        tracing::warn!(
            "no system CA bundle found (set SSL_CERT_FILE); https probes without ca_file will fail"
        );
        Arc::new(RootCertStore::empty())
    }))
}

/// `tls_insecure_skip_verify`: any certificate for any name, but the handshake's
/// signatures are still checked, so the peer holds the key of what it sent.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            certificate,
            signature,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            certificate,
            signature,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The server name to verify: a DNS name, or an IP address (then no SNI is sent).
pub(super) fn server_name(host: &str) -> Result<ServerName<'static>, ProbeError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(bare.to_string())
        .map_err(|error| ProbeError::Tls(format!("{host:?} is not a server name: {error}")))
}

/// A TLS handshake on `socket`, done by the socket's deadline.
pub(super) fn handshake(
    socket: DeadlineSocket,
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
) -> Result<(Stream, TlsInfo), ProbeError> {
    let connection =
        ClientConnection::new(config, name).map_err(|error| ProbeError::Tls(error.to_string()))?;
    let mut stream = rustls::StreamOwned::new(connection, socket);
    while stream.conn.is_handshaking() {
        match stream.conn.complete_io(&mut stream.sock) {
            Ok(_) => {}
            Err(error) if error.kind() == io::ErrorKind::TimedOut => {
                return Err(ProbeError::Timeout);
            }
            Err(error) => return Err(ProbeError::Tls(error.to_string())),
        }
    }
    let version = match stream.conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLS 1.3".to_string(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLS 1.2".to_string(),
        Some(other) => format!("{other:?}"),
        None => "unknown".to_string(),
    };
    let earliest_expiry = stream
        .conn
        .peer_certificates()
        .unwrap_or_default()
        .iter()
        .filter_map(|certificate| not_after(certificate))
        .min();
    Ok((
        Stream::Tls(Box::new(stream)),
        TlsInfo {
            version,
            earliest_expiry,
        },
    ))
}

/// One DER element: its tag, its content and what follows it.
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (digits, rest) = rest.split_at(count);
        let length = digits
            .iter()
            .fold(0usize, |length, &digit| (length << 8) | usize::from(digit));
        (length, rest)
    };
    if rest.len() < length {
        return None;
    }
    let (content, rest) = rest.split_at(length);
    Some((tag, content, rest))
}

/// The notAfter of an X.509 certificate (RFC 5280 4.1), Unix seconds. Read by hand:
/// six DER elements deep, not worth a certificate parser as a dependency.
pub(super) fn not_after(certificate: &[u8]) -> Option<i64> {
    const SEQUENCE: u8 = 0x30;
    let (SEQUENCE, certificate, _) = der_element(certificate)? else {
        return None;
    };
    let (SEQUENCE, tbs, _) = der_element(certificate)? else {
        return None;
    };
    let (tag, _, mut rest) = der_element(tbs)?;
    // version [0] EXPLICIT is optional; serialNumber follows it.
    if tag == 0xa0 {
        let (_serial, _, after) = der_element(rest)?;
        rest = after;
    }
    // signature AlgorithmIdentifier, issuer Name, then validity.
    let (SEQUENCE, _, rest) = der_element(rest)? else {
        return None;
    };
    let (SEQUENCE, _, rest) = der_element(rest)? else {
        return None;
    };
    let (SEQUENCE, validity, _) = der_element(rest)? else {
        return None;
    };
    let (_, _, rest) = der_element(validity)?;
    let (tag, time, _) = der_element(rest)?;
    parse_time(tag, time)
}

/// UTCTime (`YYMMDDHHMMSSZ`, years 1950..2049) or GeneralizedTime (`YYYYMMDDHHMMSSZ`).
fn parse_time(tag: u8, text: &[u8]) -> Option<i64> {
    let (year, rest) = match tag {
        0x17 if text.len() == 13 => {
            let year = digits(&text[..2])?;
            (
                if year < 50 { 2000 + year } else { 1900 + year },
                &text[2..],
            )
        }
        0x18 if text.len() == 15 => (digits(&text[..4])?, &text[4..]),
        _ => return None,
    };
    if rest.get(10) != Some(&b'Z') {
        return None;
    }
    let month = digits(&rest[0..2])?;
    let day = digits(&rest[2..4])?;
    let hour = digits(&rest[4..6])?;
    let minute = digits(&rest[6..8])?;
    let second = digits(&rest[8..10])?;
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

fn digits(text: &[u8]) -> Option<i64> {
    text.iter().try_fold(0i64, |value, &byte| {
        byte.is_ascii_digit()
            .then(|| value * 10 + i64::from(byte - b'0'))
    })
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2038, 1, 19), 24_855);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
    }

    #[test]
    fn times() {
        assert_eq!(parse_time(0x17, b"700101000000Z"), Some(0));
        assert_eq!(parse_time(0x17, b"380119031407Z"), Some(2_147_483_647));
        assert_eq!(parse_time(0x18, b"20380119031407Z"), Some(2_147_483_647));
        assert_eq!(parse_time(0x17, b"491231235959Z"), Some(2_524_607_999));
        assert_eq!(parse_time(0x17, b"700101000000+0100"), None);
        assert_eq!(parse_time(0x17, b"701301000000Z"), None);
        assert_eq!(parse_time(0x04, b"700101000000Z"), None);
    }

    #[test]
    fn garbage_is_no_certificate() {
        assert_eq!(not_after(b""), None);
        assert_eq!(not_after(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(not_after(&[0x30, 0x03, 0x30, 0x01, 0x02]), None);
    }
}
