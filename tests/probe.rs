//! Blackbox probes end to end: tandem probes servers this test runs (HTTP answering
//! 200, 500, slowly and not at all; a refused port; a DNS responder; TLS servers with
//! good, expired and self-signed certificates) and the results are queried back through
//! `/api/v1/query` under blackbox_exporter's names.

mod common;

use common::{Instance, client, eventually, free_port};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

/// Results of an instant query at now: (labels, value) sorted by labels.
fn query(instance: &Instance, promql: &str) -> Vec<(serde_json::Map<String, Value>, f64)> {
    let mut results: Vec<_> = instance
        .query_result(promql)
        .iter()
        .map(|result| {
            let labels = result["metric"].as_object().cloned().unwrap_or_default();
            let value = result["value"][1]
                .as_str()
                .and_then(|text| text.parse().ok())
                .expect("value");
            (labels, value)
        })
        .collect();
    results.sort_by(|a, b| format!("{:?}", a.0).cmp(&format!("{:?}", b.0)));
    results
}

/// The value of a query that selects one series.
fn value(instance: &Instance, promql: &str) -> Option<f64> {
    let results = query(instance, promql);
    assert!(results.len() <= 1, "{promql}: {results:?}");
    results.first().map(|(_, value)| *value)
}

/// Waits until every probe named has run at least `runs` times.
fn wait_for_runs(instance: &Instance, probes: &[&str], runs: f64) {
    for probe in probes {
        let promql = format!("tandem_probe_runs_total{{probe=\"{probe}\"}}");
        assert!(
            eventually(Duration::from_secs(20), || value(instance, &promql)
                .is_some_and(|count| count >= runs)),
            "probe {probe} did not run {runs} times; stderr:\n{}",
            instance.stderr()
        );
    }
}

/// Reads a request head; the path requested.
fn request_path(stream: &mut impl Read) -> Option<String> {
    let mut reader = BufReader::new(stream);
    let mut first = String::new();
    reader.read_line(&mut first).ok()?;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 || line == "\r\n" {
            break;
        }
    }
    first.split(' ').nth(1).map(str::to_string)
}

fn respond(stream: &mut impl Write, path: &str) {
    let response = match path {
        "/ok" => "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello probe".to_string(),
        "/fail" => "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\noops".into(),
        "/redirect" => "HTTP/1.1 302 Found\r\nLocation: /ok\r\nContent-Length: 0\r\n\r\n".into(),
        "/chunked" => {
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n5\r\nprobe\r\n0\r\n\r\n"
                .into()
        }
        _ => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".into(),
    };
    let _ = stream.write_all(response.as_bytes());
}

/// An HTTP server; `/slow` reads the request and never answers (a hung target).
fn http_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let Some(path) = request_path(&mut stream) else {
                    return;
                };
                if path == "/slow" {
                    std::thread::sleep(Duration::from_secs(30));
                    return;
                }
                respond(&mut stream, &path);
            });
        }
    });
    port
}

#[test]
fn http_probes_report_status_body_and_timeouts() {
    let port = http_server();
    let base = format!("http://127.0.0.1:{port}");
    let config = format!(
        r#"
[[probe]]
name = "ok"
kind = "http"
target = "{base}/ok"
interval = "1s"
body_regex = "hello"
labels = {{ env = "test" }}

[[probe]]
name = "error"
kind = "http"
target = "{base}/fail"
interval = "1s"

[[probe]]
name = "error_expected"
kind = "http"
target = "{base}/fail"
interval = "1s"
valid_status_codes = [500]

[[probe]]
name = "regex"
kind = "http"
target = "{base}/ok"
interval = "1s"
body_regex = "^goodbye"

[[probe]]
name = "hang"
kind = "http"
target = "{base}/slow"
interval = "2s"
timeout = "500ms"

[[probe]]
name = "redirect"
kind = "http"
target = "{base}/redirect"
interval = "1s"

[[probe]]
name = "chunked"
kind = "http"
target = "{base}/chunked"
interval = "1s"
body_regex = "hello probe"
"#
    );
    let instance = Instance::start(&config);
    wait_for_runs(
        &instance,
        &[
            "ok",
            "error",
            "error_expected",
            "regex",
            "hang",
            "redirect",
            "chunked",
        ],
        1.0,
    );

    // Labels: job, instance (the target), probe (the name), then the probe's own.
    let results = query(&instance, "probe_success{probe=\"ok\"}");
    assert_eq!(results.len(), 1, "{results:?}");
    let labels: Vec<(String, String)> = results[0]
        .0
        .iter()
        .map(|(name, value)| (name.clone(), value.as_str().unwrap_or_default().to_string()))
        .collect();
    assert_eq!(
        labels,
        [
            ("__name__", "probe_success"),
            ("env", "test"),
            ("instance", format!("{base}/ok").as_str()),
            ("job", "blackbox"),
            ("probe", "ok"),
        ]
        .map(|(name, value)| (name.to_string(), value.to_string()))
    );
    assert_eq!(results[0].1, 1.0);

    for (probe, success, status, regex) in [
        ("ok", 1.0, 200.0, 0.0),
        ("error", 0.0, 500.0, 0.0),
        ("error_expected", 1.0, 500.0, 0.0),
        ("regex", 0.0, 200.0, 1.0),
        ("hang", 0.0, 0.0, 0.0),
        ("redirect", 1.0, 200.0, 0.0),
        ("chunked", 1.0, 200.0, 0.0),
    ] {
        let of = |name: &str| value(&instance, &format!("{name}{{probe=\"{probe}\"}}"));
        assert_eq!(of("probe_success"), Some(success), "{probe}");
        assert_eq!(of("probe_http_status_code"), Some(status), "{probe}");
        assert_eq!(of("probe_failed_due_to_regex"), Some(regex), "{probe}");
        assert_eq!(of("probe_http_ssl"), Some(0.0), "{probe}");
        assert_eq!(of("probe_ip_protocol"), Some(4.0), "{probe}");
        assert_eq!(of("probe_ssl_earliest_cert_expiry"), None, "{probe}");
        assert_eq!(
            value(
                &instance,
                &format!("count(probe_http_duration_seconds{{probe=\"{probe}\"}})")
            ),
            Some(5.0),
            "{probe}"
        );
    }
    let of = |name: &str, probe: &str| value(&instance, &format!("{name}{{probe=\"{probe}\"}}"));
    assert_eq!(of("probe_http_content_length", "ok"), Some(11.0));
    assert_eq!(of("probe_http_uncompressed_body_length", "ok"), Some(11.0));
    assert_eq!(of("probe_http_version", "ok"), Some(1.1));
    assert_eq!(of("probe_http_redirects", "ok"), Some(0.0));
    assert_eq!(of("probe_http_redirects", "redirect"), Some(1.0));
    assert_eq!(of("probe_http_content_length", "chunked"), Some(-1.0));
    assert_eq!(
        of("probe_http_uncompressed_body_length", "chunked"),
        Some(11.0)
    );
    assert_eq!(of("probe_http_version", "hang"), Some(0.0));

    // The hung target fails at its timeout, not before and not much after.
    let duration = of("probe_duration_seconds", "hang").expect("duration of hang");
    assert!((0.5..1.5).contains(&duration), "{duration}");
    let connect = value(
        &instance,
        "probe_http_duration_seconds{probe=\"hang\",phase=\"connect\"}",
    )
    .expect("connect phase");
    assert!(connect < 0.5, "{connect}");
    let fast = of("probe_duration_seconds", "ok").expect("duration of ok");
    assert!(fast < 0.9, "{fast}");

    // Self-measurement counts runs and failures.
    assert!(of("tandem_probe_runs_total", "ok").is_some_and(|runs| runs >= 1.0));
    assert_eq!(of("tandem_probe_failures_total", "ok"), Some(0.0));
    assert!(of("tandem_probe_failures_total", "error").is_some_and(|failures| failures >= 1.0));
    assert!(of("tandem_probe_failures_total", "hang").is_some_and(|failures| failures >= 1.0));
}

/// Answers A queries for `probe.test` with 127.0.0.1 and everything else with NXDOMAIN.
fn dns_server() -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = socket.local_addr().expect("address").port();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 512];
        loop {
            let Ok((count, from)) = socket.recv_from(&mut buffer) else {
                continue;
            };
            let query = &buffer[..count];
            if count < 12 {
                continue;
            }
            // The question: the name, then type and class.
            let mut end = 12;
            while end < count && query[end] != 0 {
                end += 1 + usize::from(query[end]);
            }
            let question_end = end + 5;
            if question_end > count {
                continue;
            }
            let name = &query[12..end + 1];
            let known = name == b"\x05probe\x04test\x00";
            let mut answer = query[..question_end].to_vec();
            answer[2] = 0x81; // response, recursion desired
            answer[3] = if known { 0x80 } else { 0x83 }; // NOERROR / NXDOMAIN
            if known {
                answer[7] = 1; // one answer
                answer.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1]);
            }
            let _ = socket.send_to(&answer, from);
        }
    });
    port
}

#[test]
fn tcp_and_dns_probes_and_removal_on_reload() {
    let open = http_server();
    let refused = free_port();
    let dns = dns_server();
    let config = format!(
        r#"
[[probe]]
name = "open"
kind = "tcp"
target = "127.0.0.1:{open}"
interval = "1s"

[[probe]]
name = "hosts"
kind = "tcp"
target = "localhost:{open}"
interval = "1s"

[[probe]]
name = "refused"
kind = "tcp"
target = "127.0.0.1:{refused}"
interval = "1s"

[[probe]]
name = "dns"
kind = "dns"
target = "127.0.0.1:{dns}"
query_name = "probe.test"
interval = "1s"

[[probe]]
name = "nxdomain"
kind = "dns"
target = "127.0.0.1:{dns}"
query_name = "missing.test"
interval = "1s"
"#
    );
    let instance = Instance::start(&config);
    wait_for_runs(
        &instance,
        &["open", "hosts", "refused", "dns", "nxdomain"],
        1.0,
    );
    let of = |name: &str, probe: &str| value(&instance, &format!("{name}{{probe=\"{probe}\"}}"));
    assert_eq!(of("probe_success", "open"), Some(1.0));
    assert_eq!(of("probe_ip_protocol", "open"), Some(4.0));
    // localhost comes from /etc/hosts; the server listens on 127.0.0.1 only, so an
    // ::1 listed first is refused and the next address tried.
    assert_eq!(of("probe_success", "hosts"), Some(1.0));
    assert_eq!(of("probe_success", "refused"), Some(0.0));
    assert_eq!(of("probe_ssl_earliest_cert_expiry", "open"), None);

    assert_eq!(of("probe_success", "dns"), Some(1.0));
    assert_eq!(of("probe_dns_query_succeeded", "dns"), Some(1.0));
    assert_eq!(of("probe_dns_answer_rrs", "dns"), Some(1.0));
    assert_eq!(of("probe_dns_authority_rrs", "dns"), Some(0.0));
    assert_eq!(
        value(
            &instance,
            "count(probe_dns_duration_seconds{probe=\"dns\"})"
        ),
        Some(3.0)
    );
    assert_eq!(of("probe_success", "nxdomain"), Some(0.0));
    assert_eq!(of("probe_dns_query_succeeded", "nxdomain"), Some(1.0));
    assert_eq!(of("probe_dns_answer_rrs", "nxdomain"), Some(0.0));

    // A probe removed by a reload stops, and its series go stale at once.
    let without_refused = config.replace(
        &format!("[[probe]]\nname = \"refused\"\nkind = \"tcp\"\ntarget = \"127.0.0.1:{refused}\"\ninterval = \"1s\"\n"),
        "",
    );
    assert_ne!(without_refused, config);
    instance.write_config("tandem.toml", &without_refused);
    let response = client()
        .post(instance.url("/-/reload"))
        .send()
        .expect("reload");
    assert_eq!(response.status(), 200);
    assert!(
        eventually(Duration::from_secs(10), || of("probe_success", "refused")
            .is_none()),
        "probe_success of the removed probe is still there; stderr:\n{}",
        instance.stderr()
    );
    assert!(of("tandem_probe_runs_total", "refused").is_none());
    assert_eq!(of("probe_success", "open"), Some(1.0));
}

/// TLS material: a CA, certificates for 127.0.0.1 (valid, expired) it signed, and a
/// self-signed one.
struct Certificates {
    ca_pem: String,
    valid: (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>),
    expired: (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>),
    self_signed: (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>),
}

/// Not after 2021-01-01T00:00:00Z.
const EXPIRED_NOT_AFTER: f64 = 1_609_459_200.0;

fn certificates() -> Certificates {
    let names = || vec!["127.0.0.1".to_string(), "localhost".to_string()];
    let key_der =
        |key: &rcgen::KeyPair| PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "tandem probe test CA");
    let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);

    let leaf = |expired: bool| {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(names()).expect("params");
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let certificate = params.signed_by(&key, &issuer).expect("certificate");
        (
            vec![certificate.der().clone(), ca.der().clone()],
            key_der(&key),
        )
    };
    let self_signed_key = rcgen::KeyPair::generate().expect("key");
    let self_signed = rcgen::CertificateParams::new(names())
        .expect("params")
        .self_signed(&self_signed_key)
        .expect("self-signed certificate");
    Certificates {
        ca_pem: ca.pem(),
        valid: leaf(false),
        expired: leaf(true),
        self_signed: (vec![self_signed.der().clone()], key_der(&self_signed_key)),
    }
}

/// An HTTPS server with `chain`, answering like `http_server`.
fn https_server(chain: (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)) -> u16 {
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_no_client_auth()
    .with_single_cert(chain.0, chain.1)
    .expect("server certificate");
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let config = Arc::clone(&config);
            std::thread::spawn(move || serve_tls(stream, config));
        }
    });
    port
}

fn serve_tls(stream: TcpStream, config: Arc<rustls::ServerConfig>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let Ok(connection) = rustls::ServerConnection::new(config) else {
        return;
    };
    let mut tls = rustls::StreamOwned::new(connection, stream);
    // A client that only connects (tcp probe) or rejects the certificate ends here.
    let Some(path) = request_path(&mut tls) else {
        return;
    };
    respond(&mut tls, &path);
    tls.conn.send_close_notify();
    let _ = tls.flush();
}

#[test]
fn tls_certificates_expired_self_signed_and_trusted() {
    common::install_crypto_provider();
    let certificates = certificates();
    let valid = https_server(certificates.valid);
    let expired = https_server(certificates.expired);
    let self_signed = https_server(certificates.self_signed);
    let config = format!(
        r#"
[[probe]]
name = "trusted"
kind = "http"
target = "https://127.0.0.1:{valid}/ok"
interval = "1s"
ca_file = "ca.pem"

[[probe]]
name = "untrusted"
kind = "http"
target = "https://localhost:{valid}/ok"
interval = "1s"

[[probe]]
name = "expired"
kind = "http"
target = "https://127.0.0.1:{expired}/ok"
interval = "1s"
ca_file = "ca.pem"

[[probe]]
name = "expired_skip"
kind = "http"
target = "https://127.0.0.1:{expired}/ok"
interval = "1s"
tls_insecure_skip_verify = true

[[probe]]
name = "self_signed"
kind = "http"
target = "https://127.0.0.1:{self_signed}/ok"
interval = "1s"

[[probe]]
name = "self_signed_skip"
kind = "http"
target = "https://127.0.0.1:{self_signed}/ok"
interval = "1s"
tls_insecure_skip_verify = true

[[probe]]
name = "tcp_tls"
kind = "tcp"
target = "localhost:{valid}"
interval = "1s"
tls = true
ca_file = "ca.pem"

[[probe]]
name = "tcp_expired"
kind = "tcp"
target = "127.0.0.1:{expired}"
interval = "1s"
tls = true
ca_file = "ca.pem"
"#
    );
    let instance = Instance::start_with(common::Start {
        tandem_toml: &config,
        extra_files: &[("ca.pem", &certificates.ca_pem)],
        ..common::Start::default()
    });
    let probes = [
        "trusted",
        "untrusted",
        "expired",
        "expired_skip",
        "self_signed",
        "self_signed_skip",
        "tcp_tls",
        "tcp_expired",
    ];
    wait_for_runs(&instance, &probes, 1.0);
    let of = |name: &str, probe: &str| value(&instance, &format!("{name}{{probe=\"{probe}\"}}"));
    for (probe, success) in [
        ("trusted", 1.0),
        // The test CA is not among the system's.
        ("untrusted", 0.0),
        ("expired", 0.0),
        ("expired_skip", 1.0),
        ("self_signed", 0.0),
        ("self_signed_skip", 1.0),
        ("tcp_tls", 1.0),
        ("tcp_expired", 0.0),
    ] {
        assert_eq!(
            of("probe_success", probe),
            Some(success),
            "{probe}: {}",
            instance.stderr()
        );
        // Certificate series come with a completed handshake only.
        let handshake = success == 1.0;
        assert_eq!(
            of("probe_ssl_earliest_cert_expiry", probe).is_some(),
            handshake,
            "{probe}"
        );
        assert_eq!(
            of("probe_tls_version_info", probe).is_some(),
            handshake,
            "{probe}"
        );
    }
    // As blackbox_exporter: whether the final response came over TLS.
    for (probe, ssl) in [
        ("trusted", 1.0),
        ("expired_skip", 1.0),
        ("self_signed_skip", 1.0),
        ("expired", 0.0),
        ("untrusted", 0.0),
    ] {
        assert_eq!(of("probe_http_ssl", probe), Some(ssl), "{probe}");
    }
    assert_eq!(of("probe_http_status_code", "trusted"), Some(200.0));
    assert_eq!(of("probe_http_status_code", "expired"), Some(0.0));
    assert_eq!(
        of("probe_ssl_earliest_cert_expiry", "expired_skip"),
        Some(EXPIRED_NOT_AFTER)
    );
    // rcgen's default validity ends in 4096; the CA sent along ends then too.
    let far = of("probe_ssl_earliest_cert_expiry", "trusted").expect("expiry");
    assert!(far > 4_000_000_000.0, "{far}");
    let version = query(&instance, "probe_tls_version_info{probe=\"trusted\"}");
    assert_eq!(version.len(), 1);
    assert_eq!(version[0].0["version"], "TLS 1.3");
    let tls_phase = value(
        &instance,
        "probe_http_duration_seconds{probe=\"trusted\",phase=\"tls\"}",
    )
    .expect("tls phase");
    assert!(tls_phase > 0.0, "{tls_phase}");
}
