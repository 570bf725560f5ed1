//! Shared by the integration tests: a tandem process on a free loopback port with
//! its own config and data directories, stopped when dropped.
#![allow(dead_code)] // Each test binary uses a different subset.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_tandem");

/// A port nothing listens on right now (the OS picks it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("the OS hands out a free port")
}

pub fn write(path: &Path, content: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create parent directory");
    }
    std::fs::write(path, content).expect("write file");
}

/// `tandem serve` on loopback `port`, stderr appended to `stderr_path`.
fn spawn_serve(config_dir: &Path, data_dir: &Path, port: u16, stderr_path: &Path) -> Child {
    let stderr = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(stderr_path)
        .expect("stderr file");
    Command::new(BIN)
        .arg("serve")
        .arg("--config")
        .arg(config_dir)
        .arg("--data")
        .arg(data_dir)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("spawn tandem")
}

pub struct Instance {
    pub child: Child,
    pub port: u16,
    pub base_url: String,
    pub config_dir: PathBuf,
    pub data_dir: PathBuf,
    stderr_path: PathBuf,
    _temp: tempfile::TempDir,
}

/// The options a test may vary.
#[derive(Default)]
pub struct Start<'a> {
    pub tandem_toml: &'a str,
    pub scheme: Option<&'a str>,
    pub extra_files: &'a [(&'a str, &'a str)],
    pub client: Option<reqwest::blocking::Client>,
}

/// A test's `tandem.toml` with the host collector off unless the test configures it:
/// tests assert exact series counts and query results, which this machine's own
/// metrics would change. Appended, so the test's line numbers stay as written.
fn isolated(tandem_toml: &str) -> String {
    if tandem_toml.contains("[collect") {
        tandem_toml.to_string()
    } else {
        format!("{tandem_toml}\n[collect.host]\nenabled = false\n")
    }
}

impl Instance {
    /// Starts tandem with `tandem_toml` and waits until `/-/ready` answers 200.
    pub fn start(tandem_toml: &str) -> Instance {
        Instance::start_with(Start {
            tandem_toml,
            ..Start::default()
        })
    }

    pub fn start_with(options: Start) -> Instance {
        let instance = Instance::spawn(&options);
        let client = options.client.unwrap_or_else(client);
        instance.wait_ready(&client);
        instance
    }

    /// Spawns without waiting (for tests of start-up failures).
    pub fn spawn(options: &Start) -> Instance {
        let temp = tempfile::tempdir().expect("temp dir");
        let config_dir = temp.path().join("config");
        let data_dir = temp.path().join("data");
        write(
            &config_dir.join("tandem.toml"),
            &isolated(options.tandem_toml),
        );
        for (name, content) in options.extra_files {
            write(&config_dir.join(name), content);
        }
        let port = free_port();
        let stderr_path = temp.path().join("stderr.log");
        let child = spawn_serve(&config_dir, &data_dir, port, &stderr_path);
        let scheme = options.scheme.unwrap_or("http");
        let host = if scheme == "https" {
            "localhost"
        } else {
            "127.0.0.1"
        };
        Instance {
            child,
            port,
            base_url: format!("{scheme}://{host}:{port}"),
            config_dir,
            data_dir,
            stderr_path,
            _temp: temp,
        }
    }

    /// Starts a new process on the same config and data directories (after a kill).
    pub fn respawn(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let port = free_port();
        self.child = spawn_serve(&self.config_dir, &self.data_dir, port, &self.stderr_path);
        self.port = port;
        self.base_url = format!("http://127.0.0.1:{port}");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub fn wait_ready(&self, client: &reqwest::blocking::Client) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let ready = client
                .get(self.url("/-/ready"))
                .send()
                .is_ok_and(|response| response.status() == 200);
            if ready {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("tandem did not become ready; stderr:\n{}", self.stderr());
    }

    pub fn stderr(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = std::fs::File::open(&self.stderr_path) {
            let _ = file.read_to_string(&mut text);
        }
        text
    }

    pub fn signal(&self, signal: i32) {
        let pid = i32::try_from(self.child.id()).expect("pid fits in i32");
        // SAFETY: kill(2) on a child process id we own; no memory is shared.
        let result = unsafe { libc::kill(pid, signal) };
        assert_eq!(result, 0, "kill({pid}, {signal}) failed");
    }

    /// Waits for the process to exit, at most `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// The JSON a GET of `path` answers, whatever its status.
    pub fn get_json(&self, path: &str) -> serde_json::Value {
        client()
            .get(self.url(path))
            .send()
            .expect("GET")
            .json()
            .expect("JSON")
    }

    /// The body of a page that must answer 200.
    pub fn page(&self, path: &str) -> String {
        let response = client().get(self.url(path)).send().expect("GET");
        assert_eq!(response.status(), 200, "{path}");
        response.text().expect("body")
    }

    pub fn write_config(&self, name: &str, content: &str) {
        write(&self.config_dir.join(name), content);
    }

    /// The `result` array of an instant query evaluated now; fails the test unless
    /// the query succeeds.
    pub fn query_result(&self, promql: &str) -> Vec<serde_json::Value> {
        let url = format!(
            "{}?{}",
            self.url("/api/v1/query"),
            form_urlencoded::Serializer::new(String::new())
                .append_pair("query", promql)
                .finish()
        );
        let body: serde_json::Value = client()
            .get(url)
            .send()
            .expect("query")
            .json()
            .expect("JSON body");
        assert_eq!(body["status"], "success", "{promql}: {body}");
        body["data"]["result"]
            .as_array()
            .expect("a result array")
            .clone()
    }

    /// GET /metrics and return the value of the first sample whose line starts with `prefix`.
    pub fn metric(&self, client: &reqwest::blocking::Client, prefix: &str) -> Option<f64> {
        let text = client.get(self.url("/metrics")).send().ok()?.text().ok()?;
        sample_value(&text, prefix)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client() -> reqwest::blocking::Client {
    install_crypto_provider();
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("HTTP client")
}

/// The value of the first exposition line starting with `prefix` (name and labels).
pub fn sample_value(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find(|line| line.starts_with(prefix))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

/// Polls `condition` every 20 ms for up to `timeout`.
pub fn eventually(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// An outside program (an exporter, a peer) killed when the test ends, however it ends.
pub struct Running(pub Child);

/// A real Prometheus (`prometheus` on PATH) on a free loopback port, with the config
/// `config_for(port)` and its TSDB under `dir`, plus `extra_args`; returns it (stopped
/// when dropped) and its base URL once it accepts connections.
pub fn start_prometheus(
    dir: &Path,
    config_for: impl FnOnce(u16) -> String,
    extra_args: &[&str],
) -> (Running, String) {
    let port = free_port();
    let config = dir.join("prometheus.yml");
    write(&config, &config_for(port));
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("prometheus-data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args(extra_args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    let running = Running(child);
    assert!(
        wait_for_port(port, Duration::from_secs(20)),
        "prometheus did not start"
    );
    (running, format!("http://127.0.0.1:{port}"))
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// Whether every (program, Debian package) is on PATH; if one is not, fails under CI
/// (`CI=true`) and otherwise prints why the test is skipped.
pub fn required(programs: &[(&str, &str)]) -> bool {
    for (program, package) in programs {
        if !on_path(program) {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{program} is not on PATH (Debian package `{package}`); required under CI"
            );
            println!("skipped: {program} is not on PATH (apt-get install {package})");
            return false;
        }
    }
    true
}

/// One HTTP request as `HttpRecorder` received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// Names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON request body")
    }
}

/// A real HTTP/1.1 server on a loopback port (std only) that records every request
/// and answers each with the next queued status, 200 once the queue is empty. Stands
/// in for webhook receivers; its threads end with the test process.
pub struct HttpRecorder {
    pub port: u16,
    requests: std::sync::mpsc::Receiver<RecordedRequest>,
    statuses: std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<u16>>>,
}

impl HttpRecorder {
    pub fn start() -> HttpRecorder {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("local address").port();
        let (sender, requests) = std::sync::mpsc::channel();
        let statuses =
            std::sync::Arc::new(std::sync::Mutex::new(std::collections::VecDeque::new()));
        let queued = std::sync::Arc::clone(&statuses);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (sender, queued) = (sender.clone(), std::sync::Arc::clone(&queued));
                std::thread::spawn(move || serve_recorded(stream, &sender, &queued));
            }
        });
        HttpRecorder {
            port,
            requests,
            statuses,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Answer the next requests with these statuses (then 200 again).
    pub fn respond_with(&self, statuses: &[u16]) {
        self.statuses
            .lock()
            .expect("status queue")
            .extend(statuses.iter().copied());
    }

    /// The next request; fails the test if none comes within `timeout`.
    pub fn next(&self, timeout: Duration) -> RecordedRequest {
        self.requests
            .recv_timeout(timeout)
            .unwrap_or_else(|_| panic!("no request within {timeout:?}"))
    }

    /// A request already received, if any.
    pub fn try_next(&self) -> Option<RecordedRequest> {
        self.requests.try_recv().ok()
    }
}

fn serve_recorded(
    stream: std::net::TcpStream,
    sender: &std::sync::mpsc::Sender<RecordedRequest>,
    statuses: &std::sync::Mutex<std::collections::VecDeque<u16>>,
) {
    use std::io::{BufRead, Write};
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = std::io::BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
            }
        }
        let length = headers
            .iter()
            .find(|(name, _)| name == "content-length")
            .and_then(|(_, value)| value.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let status = statuses
            .lock()
            .map(|mut queue| queue.pop_front().unwrap_or(200))
            .unwrap_or(200);
        let _ = sender.send(RecordedRequest {
            method,
            path,
            headers,
            body,
        });
        let response = format!(
            "HTTP/1.1 {status} Status\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nrecorded\n"
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// A Python interpreter that can import `module`, trying `python3` on PATH and then
/// Debian's `/usr/bin/python3` (where apt-installed modules live); `None` if neither.
pub fn python_with(module: &str) -> Option<String> {
    ["python3", "/usr/bin/python3"]
        .into_iter()
        .find_map(|python| {
            Command::new(python)
                .args(["-c", &format!("import {module}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success())
                .then(|| python.to_string())
        })
}

/// Whether a Python interpreter with `module` exists; if not, fails under CI
/// (`CI=true`) and otherwise prints why the test is skipped.
pub fn required_python(module: &str, package: &str) -> Option<String> {
    let found = python_with(module);
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "no python3 can import {module} (Debian package `{package}`); required under CI"
        );
        println!("skipped: no python3 can import {module} (apt-get install {package})");
    }
    found
}

/// Waits until something accepts TCP connections on loopback `port`.
pub fn wait_for_port(port: u16, timeout: Duration) -> bool {
    eventually(timeout, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    })
}
