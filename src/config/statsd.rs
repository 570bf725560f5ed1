//! `[statsd]`: the statsd listener's section as written and as validated.
//! Owns: its keys, defaults and checks. Does not: listen (`collect::statsd` does).

use super::validate::Checker;
use serde::Deserialize;

/// `[statsd]` as written. Absent: no listener (off by default).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StatsdSection {
    /// UDP address to listen on, e.g. `127.0.0.1:8125`.
    pub listen: toml::Spanned<String>,
}

/// `[statsd]` checked.
#[derive(Clone, Debug, PartialEq)]
pub struct StatsdConfig {
    pub listen: std::net::SocketAddr,
}

impl Checker<'_> {
    pub(super) fn statsd(&mut self, section: &StatsdSection) -> Option<StatsdConfig> {
        match super::validate::parse_listen(section.listen.get_ref()) {
            Ok(listen) => Some(StatsdConfig { listen }),
            Err(message) => {
                self.error(section.listen.span(), format!("statsd.listen: {message}"));
                None
            }
        }
    }
}
