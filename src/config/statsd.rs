//! `[statsd]`: the statsd listener's section as written and as validated.
//! Owns: its keys, defaults and checks. Does not: listen (`collect::statsd` does; its
//! module doc says how statsd types become Prometheus series).
//!
//! ```toml
//! [statsd]
//! listen = "127.0.0.1:8125"        # required; the section's presence turns it on
//! flush_interval = "10s"
//! histogram_buckets = [0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24]
//! timer_type = "histogram"
//! labels = { job = "statsd" }      # default: none
//! packet_bytes_max = "64KiB"       # default 65535: any UDP datagram
//! receive_buffer_bytes = "4MiB"    # SO_RCVBUF; 0: the kernel's default
//! series_max = 10000
//! expire_after = "1h"              # "0s": never
//! ```

use super::units::{ByteSize, ConfigDuration, format_duration};
use super::validate::Checker;
use crate::collect::statsd as limits;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;
use toml::Spanned;

/// `[statsd]` as written. Absent: no listener (off by default).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StatsdSection {
    /// UDP address to listen on, e.g. `127.0.0.1:8125` (`:8125`: every interface).
    pub listen: Spanned<String>,
    /// How often aggregates are written to storage, e.g. `10s`.
    #[serde(default = "default_flush_interval")]
    pub flush_interval: Spanned<ConfigDuration>,
    /// Upper bounds of the buckets of timers (in seconds) and histograms, increasing;
    /// `+Inf` is implied. Default: 0.005 doubling up to 10.24 (12 buckets).
    #[serde(default = "default_histogram_buckets")]
    pub histogram_buckets: Spanned<Vec<f64>>,
    /// What timers (`ms`), histograms (`h`) and distributions (`d`) become: only
    /// `"histogram"` (a classic Prometheus histogram) for now.
    #[serde(default)]
    pub timer_type: TimerType,
    /// Labels added to every statsd series, e.g. `{ job = "statsd" }`; a DogStatsD
    /// tag of the same name is dropped.
    #[serde(default = "default_labels")]
    pub labels: Spanned<BTreeMap<String, String>>,
    /// Longest datagram accepted, e.g. `8KiB`; longer ones are refused whole.
    #[serde(default = "default_packet_bytes_max")]
    pub packet_bytes_max: Spanned<ByteSize>,
    /// The socket's receive buffer (`SO_RCVBUF`), e.g. `4MiB`: how large a burst is
    /// absorbed while the listener is busy; the kernel caps it at `net.core.rmem_max`.
    /// `0`: the kernel's default.
    #[serde(default = "default_receive_buffer_bytes")]
    pub receive_buffer_bytes: Spanned<ByteSize>,
    /// Distinct statsd metrics (name and tags) held; input for more is dropped and
    /// counted.
    #[serde(default = "default_series_max")]
    pub series_max: Spanned<u64>,
    /// A metric without input for this long gets a staleness marker and is forgotten,
    /// e.g. `1h`; `0s`: never. Default: 1h, or twice `flush_interval` if that is more.
    #[serde(default)]
    pub expire_after: Option<Spanned<ConfigDuration>>,
}

/// What timers and histograms are stored as.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TimerType {
    /// `<name>_bucket{le}`, `<name>_sum`, `<name>_count`, cumulative.
    #[default]
    Histogram,
}

fn default_flush_interval() -> Spanned<ConfigDuration> {
    Spanned::new(0..0, ConfigDuration(limits::FLUSH_INTERVAL_DEFAULT))
}

fn default_histogram_buckets() -> Spanned<Vec<f64>> {
    Spanned::new(0..0, limits::HISTOGRAM_BUCKETS_DEFAULT.to_vec())
}

fn default_labels() -> Spanned<BTreeMap<String, String>> {
    Spanned::new(0..0, BTreeMap::new())
}

fn default_packet_bytes_max() -> Spanned<ByteSize> {
    Spanned::new(0..0, ByteSize(limits::PACKET_BYTES_MAX as u64))
}

fn default_receive_buffer_bytes() -> Spanned<ByteSize> {
    Spanned::new(0..0, ByteSize(limits::RECEIVE_BUFFER_BYTES_DEFAULT as u64))
}

fn default_series_max() -> Spanned<u64> {
    Spanned::new(0..0, limits::SERIES_MAX_DEFAULT as u64)
}

/// `[statsd]` checked.
#[derive(Clone, Debug, PartialEq)]
pub struct StatsdConfig {
    pub listen: std::net::SocketAddr,
    pub flush_interval: Duration,
    /// Finite, strictly increasing, 1 to `collect::statsd::HISTOGRAM_BUCKETS_MAX`.
    pub histogram_buckets: Vec<f64>,
    pub timer_type: TimerType,
    /// Sorted by name; names valid, not reserved (`__*`), not `le`.
    pub labels: Vec<(String, String)>,
    pub packet_bytes_max: usize,
    /// 0: the kernel's default.
    pub receive_buffer_bytes: usize,
    pub series_max: usize,
    /// `None`: never.
    pub expire_after: Option<Duration>,
}

impl StatsdConfig {
    /// What names the stored series: a change means every series is new.
    pub fn identity(&self) -> (&[f64], &[(String, String)], TimerType) {
        (&self.histogram_buckets, &self.labels, self.timer_type)
    }
}

impl Checker<'_> {
    pub(super) fn statsd(&mut self, section: &StatsdSection) -> Option<StatsdConfig> {
        let listen = match super::validate::parse_listen(section.listen.get_ref()) {
            Ok(listen) => Some(listen),
            Err(message) => {
                self.error(section.listen.span(), format!("statsd.listen: {message}"));
                None
            }
        };
        let flush_interval = section.flush_interval.get_ref().0;
        if !(limits::FLUSH_INTERVAL_MIN..=limits::FLUSH_INTERVAL_MAX).contains(&flush_interval) {
            self.error(
                section.flush_interval.span(),
                format!(
                    "statsd.flush_interval: must be between {} and {}",
                    format_duration(limits::FLUSH_INTERVAL_MIN),
                    format_duration(limits::FLUSH_INTERVAL_MAX)
                ),
            );
        }
        let buckets = section.histogram_buckets.get_ref();
        if let Some(message) = check_buckets(buckets) {
            self.error(
                section.histogram_buckets.span(),
                format!("statsd.histogram_buckets: {message}"),
            );
        }
        let mut labels = Vec::new();
        for (name, value) in section.labels.get_ref() {
            let span = section.labels.span();
            match crate::model::check_label_name(name) {
                Err(error) => self.error(span, format!("statsd.labels: {error}")),
                Ok(()) if name.starts_with("__") => self.error(
                    span,
                    format!("statsd.labels: {name:?}: names starting with \"__\" are reserved"),
                ),
                Ok(()) if name == "le" => self.error(
                    span,
                    "statsd.labels: \"le\" is the bucket label of histograms",
                ),
                Ok(()) => labels.push((name.clone(), value.clone())),
            }
        }
        let packet_bytes_max = section.packet_bytes_max.get_ref().0;
        let packet_range = limits::PACKET_BYTES_MIN as u64..=limits::PACKET_BYTES_MAX as u64;
        if !packet_range.contains(&packet_bytes_max) {
            self.error(
                section.packet_bytes_max.span(),
                format!(
                    "statsd.packet_bytes_max: must be between {}B and {}B (the largest UDP datagram)",
                    limits::PACKET_BYTES_MIN,
                    limits::PACKET_BYTES_MAX
                ),
            );
        }
        let receive_buffer_bytes = section.receive_buffer_bytes.get_ref().0;
        if receive_buffer_bytes > limits::RECEIVE_BUFFER_BYTES_MAX as u64 {
            self.error(
                section.receive_buffer_bytes.span(),
                format!(
                    "statsd.receive_buffer_bytes: at most {}MiB (0: the kernel's default)",
                    limits::RECEIVE_BUFFER_BYTES_MAX >> 20
                ),
            );
        }
        let series_max = *section.series_max.get_ref();
        if series_max == 0 || series_max > limits::SERIES_MAX_LIMIT as u64 {
            self.error(
                section.series_max.span(),
                format!(
                    "statsd.series_max: must be between 1 and {}",
                    limits::SERIES_MAX_LIMIT
                ),
            );
        }
        let twice_interval = flush_interval.saturating_mul(2);
        let expire_after = match &section.expire_after {
            None => Some(limits::EXPIRE_AFTER_DEFAULT.max(twice_interval)),
            Some(after) if after.get_ref().0.is_zero() => None,
            Some(after) => {
                let after_value = after.get_ref().0;
                if after_value < twice_interval {
                    self.error(
                        after.span(),
                        format!(
                            "statsd.expire_after: must be 0s (never) or at least twice flush_interval ({})",
                            format_duration(twice_interval)
                        ),
                    );
                }
                Some(after_value)
            }
        };
        Some(StatsdConfig {
            listen: listen?,
            flush_interval,
            histogram_buckets: buckets.clone(),
            timer_type: section.timer_type,
            labels,
            packet_bytes_max: usize::try_from(packet_bytes_max).unwrap_or(usize::MAX),
            receive_buffer_bytes: usize::try_from(receive_buffer_bytes).unwrap_or(usize::MAX),
            series_max: usize::try_from(series_max).unwrap_or(usize::MAX),
            expire_after,
        })
    }
}

/// Why `buckets` cannot be histogram bounds, if they cannot.
fn check_buckets(buckets: &[f64]) -> Option<String> {
    if buckets.is_empty() || buckets.len() > limits::HISTOGRAM_BUCKETS_MAX {
        return Some(format!(
            "give 1 to {} bucket bounds",
            limits::HISTOGRAM_BUCKETS_MAX
        ));
    }
    if let Some(bound) = buckets.iter().find(|bound| !bound.is_finite()) {
        return Some(format!("{bound} is not a finite number (+Inf is implied)"));
    }
    if let Some(pair) = buckets.windows(2).find(|pair| pair[0] >= pair[1]) {
        return Some(format!(
            "bounds must increase ({} is followed by {})",
            pair[0], pair[1]
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use crate::config::{ConfigSource, Overrides, load};

    fn load_toml(toml: &str) -> Result<super::StatsdConfig, Vec<String>> {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("tandem.toml"), toml).expect("write");
        let source = ConfigSource::Directory(dir.path().to_path_buf());
        let prefix = format!("{}/", dir.path().display());
        match load(&source, &Overrides::default()) {
            Ok(config) => Ok(config.statsd.expect("[statsd] given")),
            Err(error) => Err(error
                .diagnostics
                .iter()
                .map(|diagnostic| diagnostic.to_string().replace(&prefix, ""))
                .collect()),
        }
    }

    #[test]
    fn defaults() {
        let config = load_toml("[statsd]\nlisten = \":8125\"\n").expect("valid");
        assert_eq!(config.listen, "0.0.0.0:8125".parse().expect("literal"));
        assert_eq!(config.flush_interval, std::time::Duration::from_secs(10));
        assert_eq!(
            config.histogram_buckets,
            [
                0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24
            ]
        );
        assert_eq!(config.timer_type, super::TimerType::Histogram);
        assert!(config.labels.is_empty());
        assert_eq!(config.packet_bytes_max, 65535);
        assert_eq!(config.receive_buffer_bytes, 4 << 20);
        assert_eq!(config.series_max, 10_000);
        assert_eq!(
            config.expire_after,
            Some(std::time::Duration::from_secs(3600))
        );
    }

    #[test]
    fn every_key() {
        let config = load_toml(
            "[statsd]\nlisten = \"127.0.0.1:9125\"\nflush_interval = \"1h\"\nhistogram_buckets = [0.1, 1, 10]\ntimer_type = \"histogram\"\nlabels = { job = \"statsd\", env = \"prod\" }\npacket_bytes_max = \"8KiB\"\nreceive_buffer_bytes = 0\nseries_max = 5\n",
        )
        .expect("valid");
        assert_eq!(config.histogram_buckets, [0.1, 1.0, 10.0]);
        assert_eq!(
            config.labels,
            [
                ("env".to_string(), "prod".to_string()),
                ("job".to_string(), "statsd".to_string())
            ]
        );
        assert_eq!(config.packet_bytes_max, 8192);
        assert_eq!(config.receive_buffer_bytes, 0);
        assert_eq!(config.series_max, 5);
        // The default expiry stretches to two intervals.
        assert_eq!(
            config.expire_after,
            Some(std::time::Duration::from_secs(7200))
        );
        let never = load_toml("[statsd]\nlisten = \":1\"\nexpire_after = \"0s\"\n").expect("valid");
        assert_eq!(never.expire_after, None);
    }

    #[test]
    fn errors_point_at_the_key() {
        let errors = load_toml(
            "[statsd]\nlisten = \"nowhere\"\nflush_interval = \"10ms\"\nhistogram_buckets = [1, 0.5]\nlabels = { __x = \"1\", le = \"2\", \"a-b\" = \"3\" }\npacket_bytes_max = \"1MiB\"\nseries_max = 0\nexpire_after = \"15ms\"\nreceive_buffer_bytes = \"1GiB\"\n",
        )
        .expect_err("invalid");
        let expected = [
            "tandem.toml:2:10: statsd.listen: invalid listen address \"nowhere\": expected host:port such as \"127.0.0.1:9797\", \"[::1]:9797\" or \":9797\"",
            "tandem.toml:3:18: statsd.flush_interval: must be between 100ms and 1h",
            "tandem.toml:4:21: statsd.histogram_buckets: bounds must increase (1 is followed by 0.5)",
            "tandem.toml:5:10: statsd.labels: \"__x\": names starting with \"__\" are reserved",
            "tandem.toml:5:10: statsd.labels: invalid label name \"a-b\": names are letters, digits and underscores, not starting with a digit",
            "tandem.toml:5:10: statsd.labels: \"le\" is the bucket label of histograms",
            "tandem.toml:6:20: statsd.packet_bytes_max: must be between 64B and 65535B (the largest UDP datagram)",
            "tandem.toml:7:14: statsd.series_max: must be between 1 and 1000000",
            "tandem.toml:8:16: statsd.expire_after: must be 0s (never) or at least twice flush_interval (20ms)",
            "tandem.toml:9:24: statsd.receive_buffer_bytes: at most 256MiB (0: the kernel's default)",
        ];
        assert_eq!(errors, expected);
        let errors =
            load_toml("[statsd]\nlisten = \":1\"\nhistogram_buckets = []\n").expect_err("invalid");
        assert_eq!(
            errors,
            ["tandem.toml:3:21: statsd.histogram_buckets: give 1 to 64 bucket bounds"]
        );
        let errors = load_toml("[statsd]\nlisten = \":1\"\ntimer_type = \"summary\"\nport = 1\n")
            .expect_err("invalid");
        assert_eq!(
            errors,
            [
                "tandem.toml:3:14: statsd.timer_type: unknown value `summary` (valid values: histogram)",
                "tandem.toml:4:1: unknown key `port` in [statsd] (valid: listen, flush_interval, histogram_buckets, timer_type, labels, packet_bytes_max, receive_buffer_bytes, series_max, expire_after)"
            ]
        );
    }
}
