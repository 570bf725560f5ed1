//! The HTTP side of scraping against misbehaving and demanding targets: credentials
//! (basic auth, bearer token files), gzip, a gzip bomb, targets that answer too
//! slowly or never. Each target is a tiny server in this test; what tandem stored is
//! read back through the query API.

mod common;

use common::{Instance, client, eventually};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a test server answers: status line, extra headers, body; after `delay`.
struct Reply {
    status: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    delay: Duration,
}

impl Reply {
    fn ok(body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status: "200 OK",
            headers: vec![("Content-Type", "text/plain; version=0.0.4".into())],
            body: body.into(),
            delay: Duration::ZERO,
        }
    }
}

/// Request headers, lower-cased names.
type Headers = Vec<(String, String)>;

/// Serves every connection with `answer(headers)`; returns the port and the headers of
/// each request received.
fn server(answer: impl Fn(&Headers) -> Reply + Send + 'static) -> (u16, Arc<Mutex<Vec<Headers>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&requests);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let headers = read_headers(&stream);
            seen.lock().expect("lock").push(headers.clone());
            let reply = answer(&headers);
            std::thread::sleep(reply.delay);
            respond(stream, &reply);
        }
    });
    (port, requests)
}

fn read_headers(stream: impl std::io::Read) -> Headers {
    let mut reader = BufReader::new(stream);
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            return headers;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
}

fn respond(mut stream: impl Write, reply: &Reply) {
    let mut head = format!("HTTP/1.1 {}\r\n", reply.status);
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        reply.body.len()
    ));
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&reply.body);
}

fn header<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).expect("gzip");
    encoder.finish().expect("gzip")
}

/// The values of an instant query, as (labels without job/instance, value) sorted.
fn query(instance: &Instance, expr: &str) -> Vec<(String, String)> {
    let body: serde_json::Value = client()
        .get(instance.url(&format!(
            "/api/v1/query?{}",
            form_urlencoded::Serializer::new(String::new())
                .append_pair("query", expr)
                .finish()
        )))
        .send()
        .expect("query")
        .json()
        .expect("json");
    let mut result: Vec<(String, String)> = body["data"]["result"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|series| {
                    let mut metric = series["metric"].clone();
                    if let Some(map) = metric.as_object_mut() {
                        map.remove("instance");
                    }
                    (
                        metric.to_string(),
                        series["value"][1].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    result.sort();
    result
}

/// Starts tandem scraping 127.0.0.1:`port` every 200 ms with `extra` job keys and
/// `files` in the config directory.
fn scraping(port: u16, extra: &str, files: &[(&str, &str)]) -> Instance {
    let config = format!(
        "[collect.host]\nenabled = false\n\n[[scrape]]\njob = \"t\"\ntargets = [\"127.0.0.1:{port}\"]\ninterval = \"200ms\"\n{extra}"
    );
    Instance::start_with(common::Start {
        tandem_toml: &config,
        extra_files: files,
        ..common::Start::default()
    })
}

/// The last error `/api/v1/targets` reports for the job's only target.
fn last_error(instance: &Instance) -> String {
    let body: serde_json::Value = client()
        .get(instance.url("/api/v1/targets"))
        .send()
        .expect("targets")
        .json()
        .expect("json");
    body["data"]["activeTargets"][0]["lastError"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// Waits until `up` of the job has been `value` (as the query API prints it).
fn wait_up(instance: &Instance, value: &str) {
    let wanted = vec![(
        r#"{"__name__":"up","job":"t"}"#.to_string(),
        value.to_string(),
    )];
    let mut last = Vec::new();
    let reached = eventually(Duration::from_secs(10), || {
        last = query(instance, "up");
        last == wanted
    });
    assert!(
        reached,
        "up never became {value}: {last:?}\n{}",
        instance.stderr()
    );
}

#[test]
fn basic_auth_and_bearer_tokens_come_from_files_read_at_each_scrape() {
    let answer = |headers: &Headers| match header(headers, "authorization") {
        Some("Basic dXNlcjpzM2NyZXQ=") | Some("Bearer t0ken-t0ken-t0ken") => Reply::ok("m 1\n"),
        _ => Reply {
            status: "401 Unauthorized",
            ..Reply::ok("")
        },
    };
    let (port, requests) = server(answer);
    // user:s3cret; the file's trailing newline is not part of the password.
    let instance = scraping(
        port,
        "basic_auth = { username = \"user\", password_file = \"pw.secret\" }\n",
        &[("pw.secret", "s3cret\n")],
    );
    wait_up(&instance, "1");
    assert_eq!(
        query(&instance, "m"),
        vec![(r#"{"__name__":"m","job":"t"}"#.into(), "1".into())]
    );
    // A wrong password on disk is used at the next scrape, without a reload.
    instance.write_config("pw.secret", "wrong\n");
    wait_up(&instance, "0");
    drop(instance);

    let (port, _) = server(answer);
    let instance = scraping(
        port,
        "bearer_token_file = \"t.token\"\n",
        &[("t.token", "t0ken-t0ken-t0ken\n")],
    );
    wait_up(&instance, "1");
    let first = requests.lock().expect("lock")[0].clone();
    assert_eq!(
        header(&first, "authorization"),
        Some("Basic dXNlcjpzM2NyZXQ=")
    );
}

#[test]
fn gzip_bodies_are_read_and_a_gzip_bomb_fails_the_scrape() {
    let (port, requests) = server(|headers| {
        let mut reply = Reply::ok(gzip(b"zipped 7\n"));
        assert!(
            header(headers, "accept-encoding").is_some_and(|value| value.contains("gzip")),
            "{headers:?}"
        );
        reply.headers.push(("Content-Encoding", "gzip".into()));
        reply
    });
    let instance = scraping(port, "", &[]);
    wait_up(&instance, "1");
    assert_eq!(
        query(&instance, "zipped"),
        vec![(r#"{"__name__":"zipped","job":"t"}"#.into(), "7".into())]
    );
    assert!(!requests.lock().expect("lock").is_empty());
    drop(instance);

    // 64 MiB of one line's worth of zeros squeezed into ~64 KiB: over the job's 1 MiB.
    let mut bomb = b"bomb 1\n".to_vec();
    bomb.extend(std::iter::repeat_n(b'0', 64 << 20));
    let bomb = gzip(&bomb);
    assert!(bomb.len() < 1 << 20, "{}", bomb.len());
    let (port, _) = server(move |_| {
        let mut reply = Reply::ok(bomb.clone());
        reply.headers.push(("Content-Encoding", "gzip".into()));
        reply
    });
    let instance = scraping(port, "body_bytes_max = \"1MiB\"\n", &[]);
    wait_up(&instance, "0");
    assert_eq!(query(&instance, "bomb"), Vec::new());
    assert_eq!(
        last_error(&instance),
        "body larger than body_bytes_max (1048576 bytes)"
    );
}

#[test]
fn slow_and_silent_targets_time_out() {
    // Answers after 2 s; the job allows 300 ms.
    let (port, _) = server(|_| Reply {
        delay: Duration::from_secs(2),
        ..Reply::ok("late 1\n")
    });
    let instance = scraping(port, "timeout = \"150ms\"\n", &[]);
    wait_up(&instance, "0");
    assert_eq!(query(&instance, "late"), Vec::new());
    assert_eq!(last_error(&instance), "timed out after 150ms");
    drop(instance);

    // Accepts connections (the kernel's backlog) and never reads or answers.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("address").port();
    let instance = scraping(port, "timeout = \"150ms\"\n", &[]);
    wait_up(&instance, "0");
    assert_eq!(last_error(&instance), "timed out after 150ms");
    drop(silent);
}

/// An HTTPS exporter with a self-signed certificate for `localhost`: its port and the
/// certificate's PEM.
fn tls_server(body: &'static str) -> (u16, String) {
    common::install_crypto_provider();
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
    let cert_pem = certified.cert.pem();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let config = Arc::new(
        rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![certified.cert.der().clone()], key)
            .expect("server config"),
    );
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let Ok(connection) = rustls::ServerConnection::new(Arc::clone(&config)) else {
                continue;
            };
            let mut tls = rustls::StreamOwned::new(connection, stream);
            // A client that refuses the certificate ends the handshake here.
            let headers = read_headers(&mut tls);
            if headers.is_empty() {
                continue;
            }
            respond(&mut tls, &Reply::ok(body));
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    });
    (port, cert_pem)
}

#[test]
fn https_targets_are_verified_against_the_configured_ca() {
    let (port, cert_pem) = tls_server("secure 3\n");
    let https = |tls: &str, files: &[(&str, &str)]| {
        let config = format!(
            "[collect.host]\nenabled = false\n\n[[scrape]]\njob = \"t\"\nscheme = \"https\"\ntargets = [\"localhost:{port}\"]\ninterval = \"200ms\"\n{tls}"
        );
        Instance::start_with(common::Start {
            tandem_toml: &config,
            extra_files: files,
            ..common::Start::default()
        })
    };
    // Trusted through ca_file.
    let instance = https(
        "[scrape.tls]\nca_file = \"ca.pem\"\n",
        &[("ca.pem", cert_pem.as_str())],
    );
    wait_up(&instance, "1");
    assert_eq!(
        query(&instance, "secure"),
        vec![(r#"{"__name__":"secure","job":"t"}"#.into(), "3".into())]
    );
    drop(instance);
    // Unknown issuer: refused.
    let instance = https("", &[]);
    wait_up(&instance, "0");
    assert_eq!(query(&instance, "secure"), Vec::new());
    let error = last_error(&instance);
    assert!(error.contains("certificate"), "{error}");
    drop(instance);
    // Told not to verify.
    let instance = https("[scrape.tls]\ninsecure_skip_verify = true\n", &[]);
    wait_up(&instance, "1");
}
