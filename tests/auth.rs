//! Security end to end: basic auth with argon2 hashes from `tandem hash-password`,
//! bearer tokens from files, `/-/healthy` open to probes, and HTTPS from PEM files.

mod common;

use base64::Engine;
use common::{Instance, Start, client};
use std::io::Write;
use std::process::{Command, Stdio};

fn hash_password(password: &str) -> String {
    let mut child = Command::new(common::BIN)
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("tandem hash-password");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{password}\n").as_bytes())
        .expect("write password");
    let output = child.wait_with_output().expect("hash-password output");
    assert!(output.status.success());
    let hash = String::from_utf8(output.stdout)
        .expect("utf-8")
        .trim()
        .to_string();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    hash
}

const TOKEN: &str = "s3cr3t-t0ken-for-grafana-0123456789";

fn start_with_auth() -> Instance {
    let hash = hash_password("correct horse");
    let toml = format!(
        "[[auth.user]]\nname = \"admin\"\npassword_hash = \"{hash}\"\n\n[[auth.token]]\nname = \"grafana\"\nfile = \"grafana.token\"\n"
    );
    let instance = Instance::spawn(&Start {
        tandem_toml: &toml,
        extra_files: &[("grafana.token", &format!("{TOKEN}\n"))],
        ..Start::default()
    });
    // /-/ready needs credentials too, so wait on /-/healthy and then check ready with a token.
    let client = client();
    assert!(
        common::eventually(std::time::Duration::from_secs(20), || {
            client
                .get(instance.url("/-/ready"))
                .bearer_auth(TOKEN)
                .send()
                .is_ok_and(|response| response.status() == 200)
        }),
        "not ready: {}",
        instance.stderr()
    );
    instance
}

/// How a request authenticates, for the table of cases below.
enum Credentials<'a> {
    Nothing,
    Basic(&'a str, &'a str),
    Bearer(&'a str),
    Header(&'a str),
}

fn status(instance: &Instance, method: &str, path: &str, credentials: &Credentials<'_>) -> u16 {
    let client = client();
    let request = match method {
        "POST" => client.post(instance.url(path)),
        _ => client.get(instance.url(path)),
    };
    let request = match credentials {
        Credentials::Nothing => request,
        Credentials::Basic(user, password) => request.basic_auth(user, Some(password)),
        Credentials::Bearer(token) => request.bearer_auth(token),
        Credentials::Header(value) => request.header("Authorization", *value),
    };
    request.send().expect("request").status().as_u16()
}

#[test]
fn every_endpoint_but_healthy_requires_credentials() {
    use Credentials::*;
    let instance = start_with_auth();
    let no_colon = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("admin-no-colon")
    );
    let cases: &[(&str, &str, Credentials, u16)] = &[
        ("GET", "/metrics", Nothing, 401),
        ("GET", "/", Nothing, 401),
        ("GET", "/config", Nothing, 401),
        ("GET", "/api/v1/status/config", Nothing, 401),
        ("GET", "/-/ready", Nothing, 401),
        ("GET", "/assets/tandem.css", Nothing, 401),
        ("POST", "/-/reload", Nothing, 401),
        ("GET", "/-/healthy", Nothing, 200),
        ("GET", "/metrics", Basic("admin", "correct horse"), 200),
        // Again: this answer comes from the verified-credentials cache.
        ("GET", "/", Basic("admin", "correct horse"), 200),
        ("GET", "/metrics", Basic("admin", "wrong"), 401),
        ("GET", "/metrics", Basic("root", "correct horse"), 401),
        ("GET", "/metrics", Header("Basic !!!not-base64"), 401),
        ("GET", "/", Header(&no_colon), 401),
        ("GET", "/metrics", Bearer(TOKEN), 200),
        ("POST", "/-/reload", Bearer(TOKEN), 200),
        (
            "GET",
            "/metrics",
            Bearer("s3cr3t-t0ken-for-grafana-0123456788"),
            401,
        ),
        ("GET", "/metrics", Header("Digest username=admin"), 401),
    ];
    for (method, path, credentials, expected) in cases {
        assert_eq!(
            status(&instance, method, path, credentials),
            *expected,
            "{method} {path}"
        );
    }
    let challenge = client()
        .get(instance.url("/metrics"))
        .send()
        .expect("request");
    assert_eq!(
        challenge.headers()["www-authenticate"],
        "Basic realm=\"tandem\", charset=\"UTF-8\""
    );

    let reload = Command::new(common::BIN)
        .args(["reload", "--url", &instance.base_url])
        .output()
        .expect("reload");
    assert_eq!(
        reload.status.code(),
        Some(1),
        "an unauthenticated reload is rejected"
    );
    let token_file = instance.config_dir.join("grafana.token");
    let reload = Command::new(common::BIN)
        .args(["reload", "--url", &instance.base_url, "--bearer-token-file"])
        .arg(&token_file)
        .output()
        .expect("reload");
    assert_eq!(
        reload.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&reload.stderr)
    );
}

#[test]
fn auth_allows_listening_on_all_interfaces() {
    let hash = hash_password("pw");
    let temp = tempfile::tempdir().expect("temp");
    let toml = format!(
        "[server]\nlisten = \"0.0.0.0:0\"\n\n[[auth.user]]\nname = \"a\"\npassword_hash = \"{hash}\"\n"
    );
    common::write(&temp.path().join("tandem.toml"), &toml);
    let check = Command::new(common::BIN)
        .arg("check")
        .arg(temp.path())
        .output()
        .expect("check");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn https_with_a_self_signed_certificate() {
    common::install_crypto_provider();
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
    let cert_pem = certified.cert.pem();
    let key_pem = certified.signing_key.serialize_pem();
    let toml = "[server]\ntls_cert_file = \"tls.crt\"\ntls_key_file = \"tls.key\"\n";
    let trusting = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).expect("pem"))
        .build()
        .expect("client");
    let instance = Instance::start_with(Start {
        tandem_toml: toml,
        scheme: Some("https"),
        extra_files: &[("tls.crt", &cert_pem), ("tls.key", &key_pem)],
        client: Some(trusting.clone()),
    });
    let response = trusting
        .get(instance.url("/-/healthy"))
        .send()
        .expect("https request");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().expect("body"), "tandem is healthy.\n");
    // A client that does not trust the certificate is refused by TLS, not served.
    assert!(client().get(instance.url("/-/healthy")).send().is_err());
    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = client()
        .get(format!("http://127.0.0.1:{}/-/healthy", instance.port))
        .send();
    assert!(plain.is_err() || plain.is_ok_and(|response| response.status() != 200));

    let reload = Command::new(common::BIN)
        .args(["reload", "--url", &instance.base_url, "--ca-file"])
        .arg(instance.config_dir.join("tls.crt"))
        .output()
        .expect("reload");
    assert_eq!(
        reload.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&reload.stderr)
    );
}
