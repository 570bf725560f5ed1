//! Log output: text or JSON lines on stderr (journald picks them up under systemd),
//! with the level changeable on reload.

use crate::config::{LogFormat, LogLevel};
use std::io::IsTerminal;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, fmt, reload};

/// Environment variable that, when set, overrides `[log] level` with a full filter
/// (e.g. `tandem=debug,actix_server=warn`), for debugging one module.
pub const FILTER_ENV: &str = "TANDEM_LOG";

/// Changes the level of the installed logger.
pub struct LogHandle {
    handle: reload::Handle<EnvFilter, Registry>,
    overridden: bool,
}

impl LogHandle {
    pub fn set_level(&self, level: LogLevel) {
        if self.overridden {
            return;
        }
        if let Err(error) = self.handle.reload(EnvFilter::new(level.as_str())) {
            tracing::warn!(%error, "could not change the log level");
        }
    }
}

/// Installs the global logger. Call once per process.
pub fn init(level: LogLevel, format: LogFormat) -> LogHandle {
    let from_env = std::env::var(FILTER_ENV)
        .ok()
        .filter(|value| !value.is_empty());
    let overridden = from_env.is_some();
    let filter = from_env.map_or_else(|| EnvFilter::new(level.as_str()), EnvFilter::new);
    let (filter, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    let ansi = std::io::stderr().is_terminal();
    // A second init (tests in one process) keeps the first logger; nothing to report.
    let _ = match format {
        LogFormat::Text => registry
            .with(
                fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_target(false)
                    .with_ansi(ansi),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(fmt::layer().json().with_writer(std::io::stderr))
            .try_init(),
    };
    LogHandle { handle, overridden }
}
