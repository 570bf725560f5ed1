//! Family `loadavg`: `node_load1`, `node_load5`, `node_load15` (gauges) from
//! /proc/loadavg through `procfs::LoadAverage`.
//! Owns: those three series. Does not: the running/total task counts on the same line
//! (node_exporter's `processes` family reports threads differently).

use super::{HostError, HostOptions, Point};
use procfs::Current;

pub(super) fn collect(_options: &HostOptions) -> Result<Vec<Point>, HostError> {
    let load = procfs::LoadAverage::current()?;
    Ok(points(load.one, load.five, load.fifteen))
}

/// /proc/loadavg prints two decimals, which f32 holds only approximately; printing the
/// f32 and parsing it back as f64 keeps `0.7` instead of `0.699999988079071`, the value
/// node_exporter (which parses to f64) shows.
fn points(one: f32, five: f32, fifteen: f32) -> Vec<Point> {
    let exact = |value: f32| value.to_string().parse::<f64>().unwrap_or(f64::from(value));
    vec![
        Point::new("node_load1", exact(one)),
        Point::new("node_load5", exact(five)),
        Point::new("node_load15", exact(fifteen)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_decimals_survive_f32() {
        let got: Vec<f64> = points(0.7, 2.12, 0.0)
            .into_iter()
            .map(|point| point.value)
            .collect();
        assert_eq!(got, vec![0.7, 2.12, 0.0]);
    }
}
