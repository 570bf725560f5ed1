//! systemd's notify protocol, spoken to a real datagram socket as systemd would
//! listen on: READY=1 once ready, WATCHDOG=1 pings at half WATCHDOG_USEC while
//! healthy, STOPPING=1 on SIGTERM.

mod common;

use common::{BIN, free_port, write};
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn next_message(socket: &UnixDatagram, timeout: Duration) -> Option<String> {
    socket.set_read_timeout(Some(timeout)).expect("timeout");
    let mut buffer = [0u8; 4096];
    let length = socket.recv(&mut buffer).ok()?;
    Some(
        String::from_utf8_lossy(&buffer[..length])
            .trim_end()
            .to_string(),
    )
}

#[test]
fn ready_watchdog_pings_and_stopping_reach_systemd() {
    let temp = tempfile::tempdir().expect("temp");
    let socket_path = temp.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("bind the notify socket");
    let config = temp.path().join("config");
    write(
        &config.join("tandem.toml"),
        "[collect.host]\nenabled = false\n",
    );
    let port = free_port();
    let started = Instant::now();
    // systemd sets WATCHDOG_PID to the service's pid: the shell's, which exec keeps.
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg("WATCHDOG_PID=$$ exec \"$0\" \"$@\"")
        .arg(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .arg("--data")
        .arg(temp.path().join("data"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "1000000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let ready = next_message(&socket, Duration::from_secs(20));
    assert_eq!(ready.as_deref(), Some("READY=1"));
    // Ready means ready: /-/ready answers 200 by now.
    let status = common::client()
        .get(format!("http://127.0.0.1:{port}/-/ready"))
        .send()
        .expect("ready")
        .status();
    assert_eq!(status, 200);
    // Pings every 0.5 s: several within 2 s.
    let mut pings = 0;
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if next_message(&socket, Duration::from_millis(700)).as_deref() == Some("WATCHDOG=1") {
            pings += 1;
        }
    }
    assert!(
        pings >= 3,
        "{pings} pings in 2 s (started {:?} ago)",
        started.elapsed()
    );
    let pid = i32::try_from(child.id()).expect("pid");
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let mut stopping = false;
    for _ in 0..10 {
        match next_message(&socket, Duration::from_secs(2)).as_deref() {
            Some("STOPPING=1") => {
                stopping = true;
                break;
            }
            Some(_) => continue,
            None => break,
        }
    }
    assert!(stopping, "no STOPPING=1 after SIGTERM");
    assert!(child.wait().expect("exit").success());
}
