//! Family `timex`: the kernel clock discipline from `adjtimex(2)` (read only, modes 0)
//! under node_exporter 1.5's names: `node_timex_sync_status`, `_offset_seconds`,
//! `_frequency_adjustment_ratio`, `_maxerror_seconds`, `_estimated_error_seconds`,
//! `_status`, `_loop_time_constant`, `_tick_seconds`, the `_pps_*` series and
//! `_tai_offset_seconds`.
//! Owns: the call and node_exporter's units (see adjtimex(2) NOTES: frequencies are
//! ppm with a 16-bit fraction; offsets are µs, or ns when `STA_NANO` is set).
//! Does not: wall-clock time (`time.rs`) or NTP servers.
//!
//! Where a sandbox forbids the call (EPERM), the family gives no series and no error,
//! as node_exporter reports "no data" then.

use super::{HostError, HostOptions, Point};

/// `adjtimex` returns this when the clock is not synchronised.
const TIME_ERROR: libc::c_int = 5;
/// `status` bit: `offset` and `jitter` are in nanoseconds, not microseconds.
const STA_NANO: libc::c_int = 0x2000;
/// 1 ppm with a 16-bit binary fraction, per second.
const PPM16_FRACTION: f64 = 1_000_000.0 * 65_536.0;
const MICROSECONDS: f64 = 1_000_000.0;
const NANOSECONDS: f64 = 1_000_000_000.0;

/// The fields node_exporter reads: the state and status bits as integers, the rest as
/// the floats they become (`c_long` is 32 or 64 bits, depending on the target).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Timex {
    state: i64,
    offset: f64,
    freq: f64,
    maxerror: f64,
    esterror: f64,
    status: i64,
    constant: f64,
    tick: f64,
    ppsfreq: f64,
    jitter: f64,
    shift: f64,
    stabil: f64,
    jitcnt: f64,
    calcnt: f64,
    errcnt: f64,
    stbcnt: f64,
    tai: f64,
}

pub(super) fn collect(_options: &HostOptions) -> Result<Vec<Point>, HostError> {
    match adjtimex() {
        Ok(timex) => Ok(timex_points(&timex)),
        Err(error) if error.raw_os_error() == Some(libc::EPERM) => {
            tracing::debug!(%error, "adjtimex is not permitted; no timex series");
            Ok(Vec::new())
        }
        Err(source) => Err(HostError::Read {
            path: "adjtimex(2)".into(),
            source,
        }),
    }
}

fn adjtimex() -> std::io::Result<Timex> {
    let mut buffer = std::mem::MaybeUninit::<libc::timex>::zeroed();
    // SAFETY: `buffer` is a valid, writable, zeroed `struct timex`; `modes` 0 asks the
    // kernel to read only.
    let state = unsafe { libc::adjtimex(buffer.as_mut_ptr()) };
    if state == -1 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: zeroed before the call, filled by the kernel on success.
    let buffer = unsafe { buffer.assume_init() };
    Ok(Timex {
        state: i64::from(state),
        offset: buffer.offset as f64,
        freq: buffer.freq as f64,
        maxerror: buffer.maxerror as f64,
        esterror: buffer.esterror as f64,
        status: i64::from(buffer.status),
        constant: buffer.constant as f64,
        tick: buffer.tick as f64,
        ppsfreq: buffer.ppsfreq as f64,
        jitter: buffer.jitter as f64,
        shift: f64::from(buffer.shift),
        stabil: buffer.stabil as f64,
        jitcnt: buffer.jitcnt as f64,
        calcnt: buffer.calcnt as f64,
        errcnt: buffer.errcnt as f64,
        stbcnt: buffer.stbcnt as f64,
        tai: f64::from(buffer.tai),
    })
}

fn timex_points(timex: &Timex) -> Vec<Point> {
    let sync_status = if timex.state == i64::from(TIME_ERROR) {
        0.0
    } else {
        1.0
    };
    let divisor = if timex.status & i64::from(STA_NANO) != 0 {
        NANOSECONDS
    } else {
        MICROSECONDS
    };
    [
        ("node_timex_sync_status", sync_status),
        ("node_timex_offset_seconds", timex.offset / divisor),
        (
            "node_timex_frequency_adjustment_ratio",
            1.0 + timex.freq / PPM16_FRACTION,
        ),
        ("node_timex_maxerror_seconds", timex.maxerror / MICROSECONDS),
        (
            "node_timex_estimated_error_seconds",
            timex.esterror / MICROSECONDS,
        ),
        ("node_timex_status", timex.status as f64),
        ("node_timex_loop_time_constant", timex.constant),
        ("node_timex_tick_seconds", timex.tick / MICROSECONDS),
        (
            "node_timex_pps_frequency_hertz",
            timex.ppsfreq / PPM16_FRACTION,
        ),
        ("node_timex_pps_jitter_seconds", timex.jitter / divisor),
        ("node_timex_pps_shift_seconds", timex.shift),
        (
            "node_timex_pps_stability_hertz",
            timex.stabil / PPM16_FRACTION,
        ),
        ("node_timex_pps_jitter_total", timex.jitcnt),
        ("node_timex_pps_calibration_total", timex.calcnt),
        ("node_timex_pps_error_total", timex.errcnt),
        ("node_timex_pps_stability_exceeded_total", timex.stbcnt),
        ("node_timex_tai_offset_seconds", timex.tai),
    ]
    .into_iter()
    .map(|(name, value)| Point::new(name, value))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value_of(points: &[Point], name: &str) -> f64 {
        points
            .iter()
            .find(|point| point.name == name)
            .map(|point| point.value)
            .unwrap_or_else(|| panic!("{name} missing"))
    }

    #[test]
    fn units() {
        let timex = Timex {
            state: 0,
            offset: -2500.0,
            freq: 65_536.0 * 3.0,
            maxerror: 16_000.0,
            tick: 10_000.0,
            status: 1,
            ..Timex::default()
        };
        let points = timex_points(&timex);
        assert_eq!(points.len(), 17);
        assert_eq!(value_of(&points, "node_timex_sync_status"), 1.0);
        assert_eq!(value_of(&points, "node_timex_offset_seconds"), -0.0025);
        let ratio = value_of(&points, "node_timex_frequency_adjustment_ratio");
        assert!((ratio - 1.000003).abs() < 1e-12, "{ratio}");
        assert_eq!(value_of(&points, "node_timex_maxerror_seconds"), 0.016);
        assert_eq!(value_of(&points, "node_timex_tick_seconds"), 0.01);
        assert!(points.iter().all(|point| point.labels.is_empty()));
    }

    #[test]
    fn nanoseconds_and_unsynchronised() {
        let timex = Timex {
            state: i64::from(TIME_ERROR),
            offset: 2500.0,
            jitter: 1000.0,
            status: i64::from(STA_NANO),
            ..Timex::default()
        };
        let points = timex_points(&timex);
        assert_eq!(value_of(&points, "node_timex_sync_status"), 0.0);
        assert_eq!(value_of(&points, "node_timex_offset_seconds"), 0.0000025);
        assert_eq!(value_of(&points, "node_timex_pps_jitter_seconds"), 0.000001);
    }

    #[test]
    fn this_host_answers() {
        let points =
            collect(&HostOptions::node_exporter_defaults().expect("defaults")).expect("timex");
        assert!(points.is_empty() || points.len() == 17);
    }
}
