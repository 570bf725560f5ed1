//! Family `processes`: node_exporter's `processes` collector: `node_processes_pids`,
//! `node_processes_threads`, `node_processes_state{state}`,
//! `node_processes_threads_state{thread_state}`, `node_processes_max_processes` and
//! `node_processes_max_threads`, from /proc/<pid>/stat, /proc/<pid>/task/<tid>/stat,
//! /proc/sys/kernel/pid_max and /proc/sys/kernel/threads-max (through `procfs`).
//! Owns: counting processes and threads by state. Does not: per-process series
//! (tandem's own are `process_*` in selfmon).
//!
//! node_exporter ships this collector disabled because it reads one file per thread;
//! tandem enables it (the issue lists it among the default families) and it can be
//! turned off with `families_exclude = ["processes"]` on hosts with very many
//! threads.

use super::{HostError, HostOptions, Point};
use std::collections::BTreeMap;
use std::path::Path;

const PROC: &str = "/proc";

pub(super) fn collect(_options: &HostOptions) -> Result<Vec<Point>, HostError> {
    let counts = count(Path::new(PROC))?;
    let pid_max = procfs::sys::kernel::pid_max()?;
    let threads_max = procfs::sys::kernel::threads_max()?;
    Ok(counts.points(f64::from(pid_max), f64::from(threads_max)))
}

/// Processes and threads by state, as node_exporter counts them.
#[derive(Debug, Default, PartialEq)]
struct Counts {
    pids: u64,
    /// Sum of each process' `num_threads` (field 20 of its stat line).
    threads: u64,
    states: BTreeMap<char, u64>,
    thread_states: BTreeMap<char, u64>,
}

impl Counts {
    fn points(&self, pid_max: f64, threads_max: f64) -> Vec<Point> {
        let mut points = vec![
            Point::new("node_processes_pids", self.pids as f64),
            Point::new("node_processes_threads", self.threads as f64),
            Point::new("node_processes_max_processes", pid_max),
            Point::new("node_processes_max_threads", threads_max),
        ];
        for (state, count) in &self.states {
            points.push(
                Point::new("node_processes_state", *count as f64).with("state", state.to_string()),
            );
        }
        for (state, count) in &self.thread_states {
            points.push(
                Point::new("node_processes_threads_state", *count as f64)
                    .with("thread_state", state.to_string()),
            );
        }
        points
    }
}

/// Counts every process under `root` (a /proc). A process or thread that exits
/// between the directory listing and reading its stat file is skipped, as
/// node_exporter does; any other read error fails the family.
fn count(root: &Path) -> Result<Counts, HostError> {
    let mut counts = Counts::default();
    for process in procfs::process::all_processes_with_root(root)? {
        let process = match process {
            Ok(process) => process,
            Err(error) if gone(&error) => continue,
            Err(error) => return Err(error.into()),
        };
        let stat = match process.stat() {
            Ok(stat) => stat,
            Err(error) if gone(&error) => continue,
            Err(error) => return Err(error.into()),
        };
        counts.pids += 1;
        counts.threads += u64::try_from(stat.num_threads).unwrap_or(0);
        *counts.states.entry(stat.state).or_default() += 1;
        let tasks = match process.tasks() {
            Ok(tasks) => tasks,
            Err(error) if gone(&error) => continue,
            Err(error) => return Err(error.into()),
        };
        for task in tasks {
            let thread = match task.and_then(|task| task.stat()) {
                Ok(thread) => thread,
                Err(error) if gone(&error) => continue,
                Err(error) => return Err(error.into()),
            };
            *counts.thread_states.entry(thread.state).or_default() += 1;
        }
    }
    Ok(counts)
}

/// The process (or thread) exited while being read.
fn gone(error: &procfs::ProcError) -> bool {
    match error {
        procfs::ProcError::NotFound(_) => true,
        procfs::ProcError::Io(error, _) => {
            error.kind() == std::io::ErrorKind::NotFound || error.raw_os_error() == Some(3)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A /proc/<pid>/stat line with the given command, state and thread count.
    fn stat_line(pid: u32, state: char, threads: u32) -> String {
        format!(
            "{pid} (worker (x)) {state} 1 {pid} {pid} 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 {threads} 0 \
             1000 10000000 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n"
        )
    }

    fn write(root: &Path, path: &str, text: &str) {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    #[test]
    fn counts_processes_and_threads_by_state() {
        let root = tempfile::tempdir().expect("tempdir");
        let root = root.path();
        // Process 1: sleeping, two threads (one running).
        write(root, "1/stat", &stat_line(1, 'S', 2));
        write(root, "1/task/1/stat", &stat_line(1, 'S', 2));
        write(root, "1/task/7/stat", &stat_line(7, 'R', 2));
        // Process 2: idle kernel thread.
        write(root, "2/stat", &stat_line(2, 'I', 1));
        write(root, "2/task/2/stat", &stat_line(2, 'I', 1));
        // Process 3: its stat vanished (exited mid-read) - skipped, not an error.
        std::fs::create_dir_all(root.join("3")).expect("mkdir");
        // Not a process.
        write(root, "meminfo", "MemTotal: 1 kB\n");

        let counts = count(root).expect("count");
        assert_eq!(counts.pids, 2);
        assert_eq!(counts.threads, 3);
        assert_eq!(counts.states, BTreeMap::from([('I', 1), ('S', 1)]));
        assert_eq!(
            counts.thread_states,
            BTreeMap::from([('I', 1), ('R', 1), ('S', 1)])
        );

        let points = counts.points(32768.0, 1000.0);
        let find = |name: &str, label: Option<(&str, &str)>| {
            points
                .iter()
                .find(|point| {
                    point.name == name
                        && label.is_none_or(|(key, value)| {
                            point.labels == vec![(key, value.to_string())]
                        })
                })
                .map(|point| point.value)
        };
        assert_eq!(find("node_processes_pids", None), Some(2.0));
        assert_eq!(find("node_processes_threads", None), Some(3.0));
        assert_eq!(find("node_processes_max_processes", None), Some(32768.0));
        assert_eq!(find("node_processes_max_threads", None), Some(1000.0));
        assert_eq!(
            find("node_processes_state", Some(("state", "S"))),
            Some(1.0)
        );
        assert_eq!(
            find("node_processes_threads_state", Some(("thread_state", "R"))),
            Some(1.0)
        );
        assert_eq!(points.len(), 4 + 2 + 3);
    }

    #[test]
    fn a_garbled_stat_file_fails_the_family() {
        let root = tempfile::tempdir().expect("tempdir");
        write(root.path(), "1/stat", "not a stat line\n");
        assert!(count(root.path()).is_err());
    }

    #[test]
    fn this_host_has_a_running_process() {
        let counts = count(Path::new(PROC)).expect("count /proc");
        assert!(counts.pids >= 1);
        assert!(counts.threads >= counts.pids);
        // This test's own thread is running while it reads its stat file.
        assert!(counts.thread_states.get(&'R').copied().unwrap_or(0) >= 1);
    }
}
