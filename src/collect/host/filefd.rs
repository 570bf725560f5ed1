//! Family `filefd`: `node_filefd_allocated` and `node_filefd_maximum` from
//! /proc/sys/fs/file-nr (through `procfs::sys::fs::file_nr`).
//! Owns: those two gauges. Does not: per-process descriptors (`process_*` in selfmon).

use super::{HostError, HostOptions, Point};

pub(super) fn collect(_options: &HostOptions) -> Result<Vec<Point>, HostError> {
    let state = procfs::sys::fs::file_nr()?;
    Ok(vec![
        Point::new("node_filefd_allocated", state.allocated as f64),
        Point::new("node_filefd_maximum", state.max as f64),
    ])
}
