//! Probe ingest against a real storage (labels, staleness markers), certificate
//! expiry of generated certificates, and probes of targets that hang.

use super::*;
use crate::config::probe::{HttpProbe, ProbeTls, TcpProbe};
use crate::storage::StorageOptions;

fn read(storage: &Storage, name: &str) -> Vec<(String, Vec<(i64, String)>)> {
    crate::collect::stored_series(storage, name)
}

fn http_config() -> ProbeConfig {
    ProbeConfig {
        name: "home".into(),
        target: "https://example.org/".into(),
        interval: Duration::from_secs(30),
        timeout: Duration::from_millis(300),
        labels: vec![("env".into(), "prod".into())],
        kind: ProbeKind::Http(HttpProbe {
            method: "GET".into(),
            valid_status_codes: vec![],
            body_regex: None,
            headers: vec![],
            follow_redirects: true,
            body_bytes_max: 1 << 20,
            tls: ProbeTls::default(),
        }),
    }
}

#[test]
fn series_carry_the_probe_labels_and_vanished_ones_go_stale() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = Storage::open(StorageOptions::new(dir.path())).expect("open");
    let mut state = SeriesState::new(&http_config());
    let first = [
        Point::new("probe_success", 1.0),
        Point::new("probe_tls_version_info", 1.0).with("version", "TLS 1.3"),
    ];
    state.ingest(&storage, &first, 1000).expect("append");
    state
        .ingest(&storage, &[Point::new("probe_success", 0.0)], 2000)
        .expect("append");
    assert_eq!(
        read(&storage, "probe_.*"),
        vec![
            (
                "probe_success{env=\"prod\", instance=\"https://example.org/\", job=\"blackbox\", probe=\"home\"}".to_string(),
                vec![(1000, "1".to_string()), (2000, "0".to_string())]
            ),
            (
                "probe_tls_version_info{env=\"prod\", instance=\"https://example.org/\", job=\"blackbox\", probe=\"home\", version=\"TLS 1.3\"}".to_string(),
                vec![(1000, "1".to_string()), (2000, "stale".to_string())]
            ),
        ]
    );
    // Stopped within the millisecond of the last run: the marker still goes after it.
    state.mark_all_stale(&storage, 2000);
    let stored = read(&storage, "probe_success");
    assert_eq!(stored[0].1.last(), Some(&(2001, "stale".to_string())));
    assert!(state.cache.is_empty());
}

#[test]
fn an_unfinished_probe_reports_the_series_of_its_kind() {
    let prepared = Prepared::new(http_config(), PathBuf::from(".")).expect("prepared");
    let outcome = prepared.unfinished("timed out".into());
    assert!(!outcome.success);
    assert_eq!(outcome.points, http::HttpReport::default().points());
    let names: Vec<&str> = outcome.points.iter().map(|point| point.name).collect();
    assert!(names.contains(&"probe_http_status_code"), "{names:?}");
    assert!(
        !names.contains(&"probe_ssl_earliest_cert_expiry"),
        "{names:?}"
    );
}

#[test]
fn expiry_of_generated_certificates() {
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    params.not_after = rcgen::date_time_ymd(2031, 5, 6);
    let certificate = params.self_signed(&key).expect("certificate");
    // 2031-05-06T00:00:00Z, a UTCTime.
    assert_eq!(net::not_after(certificate.der()), Some(1_935_792_000));
    // rcgen's default end, 4096-01-01: a GeneralizedTime.
    let default = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .expect("params")
        .self_signed(&key)
        .expect("certificate");
    assert_eq!(net::not_after(default.der()), Some(67_090_118_400));
}

/// A port that accepts connections (the kernel's backlog) and never reads or answers.
fn silent_listener() -> (std::net::TcpListener, u16) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    (listener, port)
}

#[test]
fn a_hung_http_target_fails_at_the_deadline() {
    let (_listener, port) = silent_listener();
    let ProbeKind::Http(probe) = http_config().kind else {
        unreachable!()
    };
    for scheme in ["http", "https"] {
        let started = Instant::now();
        let outcome = http::probe(
            &probe,
            &format!("{scheme}://127.0.0.1:{port}/"),
            None,
            Path::new("."),
            started + Duration::from_millis(300),
        );
        let elapsed = started.elapsed();
        assert!(!outcome.success, "{scheme}");
        assert_eq!(outcome.failure.as_deref(), Some("timed out"), "{scheme}");
        assert!(
            (Duration::from_millis(300)..Duration::from_millis(1000)).contains(&elapsed),
            "{scheme}: {elapsed:?}"
        );
    }
}

#[test]
fn a_hung_tls_handshake_fails_at_the_deadline() {
    let (_listener, port) = silent_listener();
    let probe = TcpProbe {
        tls: Some(ProbeTls::default()),
    };
    let started = Instant::now();
    let outcome = tcp::probe(
        &probe,
        &format!("127.0.0.1:{port}"),
        Path::new("."),
        started + Duration::from_millis(300),
    );
    assert_eq!(outcome.failure.as_deref(), Some("timed out"));
    assert!(started.elapsed() < Duration::from_millis(1000));
    // Connected, so the protocol is known; no handshake, so no certificate series.
    assert_eq!(
        outcome.points,
        vec![
            outcome.points[0].clone(),
            Point::new("probe_ip_protocol", 4.0)
        ]
    );
}

#[tokio::test]
async fn run_once_reports_a_hung_target_at_its_timeout() {
    let (_listener, port) = silent_listener();
    let mut config = http_config();
    config.target = format!("http://127.0.0.1:{port}/");
    let prepared = Arc::new(Prepared::new(config, PathBuf::from(".")).expect("prepared"));
    let started = Instant::now();
    let outcome = run_once(&prepared).await;
    assert!(!outcome.success);
    let elapsed = started.elapsed();
    assert!(
        (Duration::from_millis(300)..Duration::from_millis(1000)).contains(&elapsed),
        "{elapsed:?}"
    );
}

#[test]
fn a_missing_ca_file_fails_the_probe() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_listener, port) = silent_listener();
    let probe = TcpProbe {
        tls: Some(ProbeTls {
            insecure_skip_verify: false,
            ca_file: Some(PathBuf::from("missing.pem")),
        }),
    };
    let outcome = tcp::probe(
        &probe,
        &format!("127.0.0.1:{port}"),
        dir.path(),
        Instant::now() + Duration::from_secs(1),
    );
    let failure = outcome.failure.unwrap_or_default();
    assert!(
        failure.starts_with(&format!(
            "ca_file {}: ",
            dir.path().join("missing.pem").display()
        )),
        "{failure}"
    );
}

#[test]
fn offsets_are_stable_and_within_the_interval() {
    let config = http_config();
    let offset = offset_in_interval(&config);
    assert_eq!(offset, offset_in_interval(&config.clone()));
    assert!(offset < config.interval);
}
