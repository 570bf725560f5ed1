//! Applying configs: the running `Arc<Config>`, reloads, and what the last one did.
//! Owns: the one `watch` channel through which every subsystem receives configs, the
//! reload outcome shown on pages and metrics, and serialising concurrent reloads.
//! Does not: parse files (`config`) or know who asked (signal, HTTP, file watch).
//!
//! A reload validates the whole directory first and swaps in a new config only when
//! every file is valid; otherwise the running config stays and the errors are kept
//! for `/-/reload`, the overview page and the logs.

use crate::config::history::{AppliedBy, ConfigHistory, HistoryError, unix_millis};
use crate::config::{self, Config, ConfigSource, Overrides};
use crate::selfmon::SelfMetrics;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use tokio::sync::watch;

/// What one load or reload did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReloadReport {
    pub at_ms: i64,
    pub applied_by: AppliedBy,
    pub outcome: ReloadOutcome,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// The config at `hash` runs. `changed` is false when the files were unchanged.
    Applied {
        hash: String,
        changed: bool,
        /// Settings that changed but only take effect at the next restart.
        restart_needed: Vec<String>,
    },
    /// The files were invalid; the previous config keeps running.
    Rejected { errors: Vec<String> },
}

pub struct Reloader {
    source: ConfigSource,
    overrides: Overrides,
    sender: watch::Sender<Arc<Config>>,
    history: Arc<ConfigHistory>,
    metrics: Arc<SelfMetrics>,
    last_report: Mutex<ReloadReport>,
    // Held across load and swap so that two reloads cannot interleave and apply an
    // older read after a newer one.
    serial: tokio::sync::Mutex<()>,
}

impl Reloader {
    /// Starts from an already loaded `initial` config and records it in the history.
    pub fn start(
        initial: Config,
        overrides: Overrides,
        history: Arc<ConfigHistory>,
        metrics: Arc<SelfMetrics>,
    ) -> Result<Reloader, HistoryError> {
        history.record(&initial, AppliedBy::Startup)?;
        metrics.config_last_reload_successful.set(1);
        metrics
            .config_last_reload_success_timestamp
            .set(unix_millis(SystemTime::now()) as f64 / 1000.0);
        metrics.set_config_hash(&initial.hash.0);
        let report = ReloadReport {
            at_ms: unix_millis(SystemTime::now()),
            applied_by: AppliedBy::Startup,
            outcome: ReloadOutcome::Applied {
                hash: initial.hash.0.clone(),
                changed: true,
                restart_needed: Vec::new(),
            },
        };
        let source = initial.source.clone();
        let (sender, _) = watch::channel(Arc::new(initial));
        Ok(Reloader {
            source,
            overrides,
            sender,
            history,
            metrics,
            last_report: Mutex::new(report),
            serial: tokio::sync::Mutex::new(()),
        })
    }

    /// The running config.
    pub fn current(&self) -> Arc<Config> {
        self.sender.borrow().clone()
    }

    /// A receiver that sees every config applied from now on.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Config>> {
        self.sender.subscribe()
    }

    pub fn history(&self) -> &ConfigHistory {
        &self.history
    }

    /// What the most recent load or reload did.
    pub fn last_report(&self) -> ReloadReport {
        match self.last_report.lock() {
            Ok(report) => report.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Reads the config source again and applies it if it is valid.
    pub async fn reload(self: &Arc<Self>, applied_by: AppliedBy) -> ReloadReport {
        let _serial = self.serial.lock().await;
        let reloader = Arc::clone(self);
        let loaded = tokio::task::spawn_blocking(move || {
            config::load(&reloader.source, &reloader.overrides)
        })
        .await;
        let outcome = match loaded {
            Ok(Ok(new_config)) => self.apply(new_config, applied_by).await,
            Ok(Err(error)) => ReloadOutcome::Rejected {
                errors: error.diagnostics.iter().map(ToString::to_string).collect(),
            },
            Err(join_error) => ReloadOutcome::Rejected {
                errors: vec![format!("BUG: config loader panicked: {join_error}")],
            },
        };
        let report = ReloadReport {
            at_ms: unix_millis(SystemTime::now()),
            applied_by,
            outcome,
        };
        match &report.outcome {
            ReloadOutcome::Applied {
                hash,
                changed,
                restart_needed,
            } => {
                self.metrics.config_last_reload_successful.set(1);
                self.metrics
                    .config_last_reload_success_timestamp
                    .set(report.at_ms as f64 / 1000.0);
                tracing::info!(by = applied_by.as_str(), %hash, changed, "config reloaded");
                for setting in restart_needed {
                    tracing::warn!(%setting, "changed setting takes effect at the next restart");
                }
            }
            ReloadOutcome::Rejected { errors } => {
                self.metrics.config_last_reload_successful.set(0);
                tracing::error!(
                    by = applied_by.as_str(),
                    errors = errors.len(),
                    "config reload rejected; the previous config keeps running"
                );
                for error in errors {
                    tracing::error!("{error}");
                }
            }
        }
        if let Ok(mut last) = self.last_report.lock() {
            *last = report.clone();
        }
        report
    }

    async fn apply(self: &Arc<Self>, new_config: Config, applied_by: AppliedBy) -> ReloadOutcome {
        let old_config = self.current();
        if old_config.hash == new_config.hash {
            return ReloadOutcome::Applied {
                hash: new_config.hash.0,
                changed: false,
                restart_needed: Vec::new(),
            };
        }
        let restart_needed = restart_needed(&old_config, &new_config);
        let new_config = Arc::new(new_config);
        let recorded = {
            let reloader = Arc::clone(self);
            let config = Arc::clone(&new_config);
            tokio::task::spawn_blocking(move || reloader.history.record(&config, applied_by)).await
        };
        match recorded {
            Ok(Ok(())) => {}
            // The config is valid, so it is applied; a history that cannot be written
            // is logged, not a reason to keep running a config the operator replaced.
            Ok(Err(error)) => tracing::error!(%error, "config applied but not recorded in history"),
            Err(join_error) => tracing::error!(%join_error, "BUG: history writer panicked"),
        }
        let hash = new_config.hash.0.clone();
        self.metrics.set_config_hash(&hash);
        self.sender.send_replace(new_config);
        ReloadOutcome::Applied {
            hash,
            changed: true,
            restart_needed,
        }
    }
}

/// Names of settings that differ between `old` and `new` but are read only at start.
fn restart_needed(old: &Config, new: &Config) -> Vec<String> {
    let mut names = Vec::new();
    if old.server.listen != new.server.listen {
        names.push("server.listen".to_string());
    }
    if old.server.tls != new.server.tls {
        names.push("server.tls_cert_file/tls_key_file".to_string());
    }
    if old.server.request_body_bytes_max != new.server.request_body_bytes_max {
        names.push("server.request_body_bytes_max".to_string());
    }
    if old.server.client_request_timeout != new.server.client_request_timeout {
        names.push("server.client_request_timeout".to_string());
    }
    if old.data_dir != new.data_dir {
        names.push("storage.data_dir".to_string());
    }
    if old.storage != new.storage {
        names.push("[storage] and [limits]".to_string());
    }
    if old.log_format != new.log_format {
        names.push("log.format".to_string());
    }
    names
}
