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

#[test]
fn every_endpoint_but_healthy_requires_credentials() {
    let instance = start_with_auth();
    let client = client();
    for path in [
        "/metrics",
        "/",
        "/config",
        "/api/v1/status/config",
        "/-/ready",
        "/assets/tandem.css",
    ] {
        let response = client.get(instance.url(path)).send().expect("request");
        assert_eq!(response.status(), 401, "{path}");
        assert_eq!(
            response.headers()["www-authenticate"],
            "Basic realm=\"tandem\", charset=\"UTF-8\""
        );
    }
    assert_eq!(
        client
            .post(instance.url("/-/reload"))
            .send()
            .expect("post")
            .status(),
        401
    );
    assert_eq!(
        client
            .get(instance.url("/-/healthy"))
            .send()
            .expect("healthy")
            .status(),
        200
    );

    let good = client
        .get(instance.url("/metrics"))
        .basic_auth("admin", Some("correct horse"))
        .send()
        .expect("get");
    assert_eq!(good.status(), 200);
    // Twice: the second answer comes from the verified-credentials cache.
    let again = client
        .get(instance.url("/"))
        .basic_auth("admin", Some("correct horse"))
        .send()
        .expect("get");
    assert_eq!(again.status(), 200);
    let wrong = client
        .get(instance.url("/metrics"))
        .basic_auth("admin", Some("wrong"))
        .send()
        .expect("get");
    assert_eq!(wrong.status(), 401);
    let nobody = client
        .get(instance.url("/metrics"))
        .basic_auth("root", Some("correct horse"))
        .send()
        .expect("get");
    assert_eq!(nobody.status(), 401);
    let garbage = client
        .get(instance.url("/metrics"))
        .header("Authorization", "Basic !!!not-base64")
        .send()
        .expect("get");
    assert_eq!(garbage.status(), 401);
    let encoded = base64::engine::general_purpose::STANDARD.encode("admin-without-colon");
    let no_colon = client
        .get(instance.url("/"))
        .header("Authorization", format!("Basic {encoded}"))
        .send()
        .expect("get");
    assert_eq!(no_colon.status(), 401);

    assert_eq!(
        client
            .get(instance.url("/metrics"))
            .bearer_auth(TOKEN)
            .send()
            .expect("get")
            .status(),
        200
    );
    let bad_token = client
        .get(instance.url("/metrics"))
        .bearer_auth("s3cr3t-t0ken-for-grafana-0123456788")
        .send()
        .expect("get");
    assert_eq!(bad_token.status(), 401);

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
