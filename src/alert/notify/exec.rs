//! The `exec` integration: runs a command with the webhook JSON on its standard
//! input. Exit status 0 is success; anything else, or running past `timeout` (the
//! command is then killed), is a failure worth a retry. What it wrote to stderr
//! (bounded) goes into the history row.
//! Owns: the child process, its pipes and its deadline.
//! Does not: run a shell: `command` is the program and its arguments.
//! Limits: `STDERR_BYTES_MAX`, the integration's `timeout`.

use super::dispatch::Notification;
use super::{Error, bounded_detail, payload};
use crate::config::alerting::ExecConfig;
use std::process::Stdio;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Stderr kept for the error message; the rest is read and discarded so the command
/// never blocks on a full pipe.
pub const STDERR_BYTES_MAX: usize = 4096;

pub async fn send(config: &ExecConfig, notification: &Notification) -> Result<(), Error> {
    let body = payload::webhook_body(notification, 0).map_err(Error::Refused)?;
    let Some((program, arguments)) = config.command.split_first() else {
        return Err(Error::Refused("exec: empty command".into()));
    };
    let mut child = tokio::process::Command::new(program)
        .args(arguments)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| Error::Transient(format!("cannot run {program}: {error}")))?;
    let stdin = child.stdin.take();
    let stderr = child.stderr.take();
    let exchange = async {
        let write = async {
            if let Some(mut stdin) = stdin {
                // A command that does not read its input is not a failure of ours.
                let _ = stdin.write_all(&body).await;
                let _ = stdin.shutdown().await;
            }
        };
        let (_, stderr) = tokio::join!(write, read_stderr(stderr));
        (child.wait().await, stderr)
    };
    let finished = tokio::time::timeout(config.timeout, exchange).await;
    match finished {
        Ok((Ok(status), _)) if status.success() => Ok(()),
        Ok((Ok(status), stderr)) => Err(Error::Transient(bounded_detail(&format!(
            "{program} exited with {status}: {}",
            String::from_utf8_lossy(&stderr).trim()
        )))),
        Ok((Err(error), _)) => Err(Error::Transient(format!("waiting for {program}: {error}"))),
        Err(_) => {
            let _ = child.kill().await;
            Err(Error::Transient(format!(
                "{program} killed after running longer than {:?}",
                config.timeout
            )))
        }
    }
}

async fn read_stderr(stderr: Option<tokio::process::ChildStderr>) -> Vec<u8> {
    let Some(mut stderr) = stderr else {
        return Vec::new();
    };
    let mut kept = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stderr.read(&mut buffer).await {
            Ok(0) | Err(_) => return kept,
            Ok(read) => {
                let room = STDERR_BYTES_MAX.saturating_sub(kept.len());
                kept.extend_from_slice(&buffer[..read.min(room)]);
            }
        }
    }
}
