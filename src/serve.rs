//! `tandem serve`: starts every subsystem, serves HTTP, reloads on request, and stops
//! gracefully.
//! Owns: start-up order, the data directory lock, signal handling, the config watcher.
//! Does not: contain subsystem logic; each subsystem receives its config and runs.

use crate::config::history::{AppliedBy, ConfigHistory, HistoryError};
use crate::config::{self, Config, ConfigError, ConfigSource, Overrides};
use crate::limits;
use crate::logging::{self, LogHandle};
use crate::reload::Reloader;
use crate::selfmon::{SelfMetrics, VERSION};
use crate::web::{self, WebState};
use actix_web::middleware::{DefaultHeaders, from_fn};
use actix_web::{App, HttpServer};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};
use tokio::signal::unix::{SignalKind, signal};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    // Not `#[from]`: that would make the diagnostics the error's source too, and
    // `{:#}` would print them twice.
    #[error("invalid config:\n{0}")]
    Config(ConfigError),
    #[error(transparent)]
    DataDir(#[from] crate::storage::LockError),
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    #[error(transparent)]
    History(#[from] HistoryError),
    #[error(transparent)]
    AlertDb(#[from] crate::alert::db::AlertDbError),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: String,
        source: std::io::Error,
    },
    #[error("signal handler: {0}")]
    Signal(std::io::Error),
    #[error("HTTP server: {0}")]
    Server(std::io::Error),
}

impl From<ConfigError> for ServeError {
    fn from(error: ConfigError) -> ServeError {
        ServeError::Config(error)
    }
}

/// Runs until SIGTERM or SIGINT, then stops within `limits::SHUTDOWN_GRACE_SECS`.
pub async fn serve(source: ConfigSource, overrides: Overrides) -> Result<(), ServeError> {
    let loaded = {
        let (source, overrides) = (source.clone(), overrides.clone());
        tokio::task::spawn_blocking(move || config::load(&source, &overrides))
            .await
            .map_err(|error| ServeError::Server(std::io::Error::other(error)))??
    };
    let log_handle = logging::init(loaded.log_level, loaded.log_format);
    let _data_lock = crate::storage::lock_data_dir(&loaded.data_dir)?;
    let history = Arc::new(ConfigHistory::open(&loaded.data_dir)?);
    let alert_db = Arc::new(crate::alert::db::AlertDb::open(&loaded.data_dir)?);
    let storage = {
        let options = loaded.storage_options();
        let started = Instant::now();
        let storage = tokio::task::spawn_blocking(move || crate::storage::Storage::open(options))
            .await
            .map_err(|error| ServeError::Server(std::io::Error::other(error)))??;
        tracing::info!(
            series = storage.stats().series,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "storage opened"
        );
        Arc::new(storage)
    };
    let target_health = Arc::new(crate::collect::scrape::health::TargetHealth::default());
    let metrics = Arc::new(
        SelfMetrics::new()
            .with_storage(Arc::clone(&storage))
            .with_target_health(Arc::clone(&target_health)),
    );
    let tls = loaded.server.tls.as_ref().map(load_tls).transpose()?;
    let (listen, body_bytes_max) = (loaded.server.listen, loaded.server.request_body_bytes_max);
    let client_request_timeout = loaded.server.client_request_timeout;
    let query_slots = loaded.query.concurrency_max;
    tracing::info!(
        version = VERSION,
        config = %loaded.hash,
        source = ?loaded.source,
        data_dir = %loaded.data_dir.display(),
        "starting tandem"
    );
    let reloader = Arc::new(Reloader::start(
        loaded,
        overrides,
        history,
        Arc::clone(&metrics),
    )?);
    let notifier = crate::alert::notify::Notifier::start(
        Arc::clone(&alert_db),
        reloader.subscribe(),
        metrics.notify.clone(),
    );
    let rules = crate::alert::rules::RuleManager::start(
        Arc::clone(&storage),
        Arc::clone(&alert_db),
        notifier.clone(),
        metrics.rules.clone(),
        reloader.subscribe(),
    );
    let metrics_for_remote = metrics.remote_send.clone();
    let peers = crate::peer::PeerService::start(
        Arc::clone(&storage),
        crate::peer::health::HealthSources {
            storage: Arc::clone(&storage),
            rules: rules.clone(),
            notifier: notifier.clone(),
            data_dir: reloader.current().data_dir.clone(),
        },
        metrics.peer.clone(),
        reloader.subscribe(),
    );
    let ready = Arc::new(AtomicBool::new(false));
    let state = actix_web::web::Data::new(WebState {
        reloader: Arc::clone(&reloader),
        metrics,
        started_at: SystemTime::now(),
        started_instant: Instant::now(),
        ready: Arc::clone(&ready),
        auth_cache: web::auth::AuthCache::default(),
        body_bytes_max,
        storage: Arc::clone(&storage),
        target_health: Arc::clone(&target_health),
        query_slots: Arc::new(tokio::sync::Semaphore::new(query_slots)),
        remote_write: Arc::new(crate::collect::remote_write::Receiver::new()),
        alert_db: Arc::clone(&alert_db),
        rules: rules.clone(),
        notifier: notifier.clone(),
        peers,
    });
    let server = HttpServer::new(move || {
        App::new()
            .configure(|service| web::configure(service, state.clone(), body_bytes_max))
            .wrap(from_fn(web::limit_body))
            .wrap(from_fn(web::auth::require))
            .wrap(from_fn(web::auth::refuse_cross_site))
            .wrap(security_headers())
            .wrap(from_fn(web::metrics::record))
    })
    .workers(limits::HTTP_WORKERS)
    .max_connections(limits::HTTP_CONNECTIONS_PER_WORKER_MAX)
    .client_request_timeout(client_request_timeout)
    .disable_signals()
    .shutdown_timeout(limits::SHUTDOWN_GRACE_SECS);
    let listen_error = |source| ServeError::Listen {
        address: listen.to_string(),
        source,
    };
    let server = match tls {
        Some(tls) => server.bind_rustls_0_23(listen, tls).map_err(listen_error)?,
        None => server.bind(listen).map_err(listen_error)?,
    }
    .run();
    let handle = server.handle();
    tokio::spawn(follow_log_level(reloader.subscribe(), log_handle));
    if let ConfigSource::Directory(dir) = &reloader.current().source {
        spawn_config_watcher(dir.clone(), Arc::clone(&reloader));
    }
    let mut terminate = signal(SignalKind::terminate()).map_err(ServeError::Signal)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(ServeError::Signal)?;
    let mut hangup = signal(SignalKind::hangup()).map_err(ServeError::Signal)?;
    let signal_reloader = Arc::clone(&reloader);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = terminate.recv() => break,
                _ = interrupt.recv() => break,
                _ = hangup.recv() => {
                    signal_reloader.reload(AppliedBy::Signal).await;
                }
            }
        }
        tracing::info!("stopping: finishing in-flight requests");
        crate::watchdog::stopping();
        handle.stop(true).await;
    });
    let maintenance_ms = Arc::new(std::sync::atomic::AtomicI64::new(
        crate::config::history::unix_millis(SystemTime::now()),
    ));
    let maintenance = tokio::spawn(maintain_storage(
        Arc::clone(&storage),
        reloader.subscribe(),
        Arc::clone(&maintenance_ms),
    ));
    let (stop_scraping, scraping_stopped) = tokio::sync::oneshot::channel();
    let scraping = tokio::spawn(crate::collect::scrape::run(
        Arc::clone(&storage),
        reloader.subscribe(),
        target_health,
        scraping_stopped,
    ));
    let (stop_host, host_stopped) = tokio::sync::oneshot::channel();
    let host_collecting = tokio::spawn(crate::collect::host::run(
        Arc::clone(&storage),
        reloader.subscribe(),
        host_stopped,
    ));
    let (stop_statsd, statsd_stopped) = tokio::sync::oneshot::channel();
    let statsd = tokio::spawn(crate::collect::statsd::run(
        Arc::clone(&storage),
        reloader.subscribe(),
        statsd_stopped,
    ));
    crate::remote::prepare(&storage, &reloader.current(), &reloader.current().data_dir);
    let remote_writing = tokio::spawn(crate::remote::run(
        Arc::clone(&storage),
        reloader.subscribe(),
        metrics_for_remote.clone(),
        reloader.current().data_dir.clone(),
    ));
    let (stop_probes, probes_stopped) = tokio::sync::oneshot::channel();
    let probing = tokio::spawn(crate::collect::probe::run(
        Arc::clone(&storage),
        reloader.subscribe(),
        probes_stopped,
    ));
    ready.store(true, Ordering::Release);
    tracing::info!(%listen, "tandem is ready");
    crate::watchdog::ready();
    let watchdog = tokio::spawn(crate::watchdog::run(crate::watchdog::Progress {
        maintenance_ms,
        rules: rules.clone(),
    }));
    server.await.map_err(ServeError::Server)?;
    maintenance.abort();
    watchdog.abort();
    remote_writing.abort();
    // Scrape loops write staleness markers as they stop. Aborting them raced with the
    // runtime's shutdown (the markers were written or not depending on how long the
    // final checkpoint took), so stop them and wait, bounded by the grace period.
    let _ = stop_scraping.send(());
    let _ = stop_host.send(());
    let _ = stop_statsd.send(());
    let _ = stop_probes.send(());
    let grace = std::time::Duration::from_secs(crate::limits::SHUTDOWN_GRACE_SECS);
    if tokio::time::timeout(grace, scraping).await.is_err() {
        tracing::warn!(
            "scrape loops did not stop within the grace period; their staleness markers may be missing"
        );
    }
    if tokio::time::timeout(grace, host_collecting).await.is_err() {
        tracing::warn!(
            "the host collector did not stop within the grace period; its staleness markers may be missing"
        );
    }
    for (task, name) in [(statsd, "the statsd listener"), (probing, "the probes")] {
        if tokio::time::timeout(grace, task).await.is_err() {
            tracing::warn!("{name} did not stop within the grace period");
        }
    }
    rules.stop();
    notifier.stop(grace).await;
    let closing = Arc::clone(&storage);
    let closed = tokio::task::spawn_blocking(move || closing.checkpoint()).await;
    if let Ok(Err(error)) | Err(error) = closed.map_err(|join| crate::storage::StorageError::Io {
        path: PathBuf::from("(shutdown)"),
        source: std::io::Error::other(join),
    }) {
        tracing::error!(%error, "final storage checkpoint failed; the WAL will be replayed at the next start");
    }
    tracing::info!("stopped");
    Ok(())
}

/// Background storage work: checkpoints (catalog to SQLite, WAL truncation) every
/// few seconds, sealing idle chunks and compacting the hot window every minute.
/// Checkpoints, compacts and applies retention on its ticks; `finished_ms` is when
/// the last round ended (the watchdog's proof that storage is not hung).
async fn maintain_storage(
    storage: Arc<crate::storage::Storage>,
    configs: tokio::sync::watch::Receiver<Arc<Config>>,
    finished_ms: Arc<std::sync::atomic::AtomicI64>,
) {
    let mut ticks = 0u64;
    let mut interval = tokio::time::interval(Duration::from_secs(limits::CHECKPOINT_INTERVAL_SECS));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        ticks += 1;
        let hot_window = configs.borrow().storage.hot_window;
        let idle = configs.borrow().storage.limits.out_of_order_window;
        let storage = Arc::clone(&storage);
        let compact = ticks.is_multiple_of(limits::COMPACTION_EVERY_CHECKPOINTS);
        let result =
            tokio::task::spawn_blocking(move || -> Result<(), crate::storage::StorageError> {
                let now_ms = crate::config::history::unix_millis(SystemTime::now());
                if compact {
                    // A series silent for longer than late samples may arrive is done with its chunk.
                    storage.seal_idle(now_ms - idle.as_millis() as i64)?;
                    storage.compact(now_ms - hot_window.as_millis() as i64)?;
                    // Bounded steps: each is one short SQLite transaction per tier.
                    let retention = storage.enforce_retention(now_ms)?;
                    if retention.raw_blocks_deleted + retention.rollup_blocks_deleted > 0 {
                        tracing::info!(
                            raw_blocks = retention.raw_blocks_deleted,
                            rollup_blocks = retention.rollup_blocks_deleted,
                            bytes_freed = retention.bytes_freed,
                            "retention deleted expired data"
                        );
                    }
                }
                let checkpoint = storage.checkpoint();
                crate::allocator::release_free_memory();
                checkpoint
            })
            .await;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::error!(%error, "storage maintenance failed; retrying at the next tick")
            }
            Err(error) => tracing::error!(%error, "BUG: storage maintenance panicked"),
        }
        finished_ms.store(
            crate::config::history::unix_millis(SystemTime::now()),
            Ordering::Relaxed,
        );
    }
}

/// Headers that make every page safer to open: no sniffing, no framing, no inline
/// scripts from elsewhere.
fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "same-origin"))
        .add((
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'",
        ))
}

fn load_tls(files: &config::TlsFiles) -> Result<rustls::ServerConfig, ServeError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certificates = CertificateDer::pem_file_iter(&files.cert_file)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|error| {
            ServeError::Tls(format!(
                "reading certificates from {}: {error}",
                files.cert_file.display()
            ))
        })?;
    if certificates.is_empty() {
        let message = format!("no PEM certificate in {}", files.cert_file.display());
        return Err(ServeError::Tls(message));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key_file).map_err(|error| {
        ServeError::Tls(format!(
            "reading the private key from {}: {error}",
            files.key_file.display()
        ))
    })?;
    rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certificates, key)
        .map_err(|error| {
            ServeError::Tls(format!(
                "certificate and key do not make a usable pair: {error}"
            ))
        })
}

async fn follow_log_level(
    mut configs: tokio::sync::watch::Receiver<Arc<Config>>,
    log_handle: LogHandle,
) {
    while configs.changed().await.is_ok() {
        let level = configs.borrow_and_update().log_level;
        log_handle.set_level(level);
    }
}

/// Reloads after files in the config directory change, when `[server] watch_config`
/// is on in the running config. The watcher always runs so that turning the setting
/// on by a reload takes effect at once.
fn spawn_config_watcher(dir: PathBuf, reloader: Arc<Reloader>) {
    use notify::Watcher;
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<()>(1);
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let relevant = event.is_ok_and(|event| !event.kind.is_access());
        if relevant {
            // Full means a reload is already pending; one is enough.
            let _ = sender.try_send(());
        }
    });
    let mut watcher = match watcher {
        Ok(watcher) => watcher,
        Err(error) => {
            tracing::warn!(%error, "cannot watch the config directory; watch_config will not work");
            return;
        }
    };
    if let Err(error) = watcher.watch(&dir, notify::RecursiveMode::Recursive) {
        tracing::warn!(%error, dir = %dir.display(), "cannot watch the config directory; watch_config will not work");
        return;
    }
    tokio::spawn(async move {
        let _watcher = watcher;
        let debounce = Duration::from_millis(limits::CONFIG_WATCH_DEBOUNCE_MS);
        while receiver.recv().await.is_some() {
            while tokio::time::timeout(debounce, receiver.recv())
                .await
                .is_ok_and(|event| event.is_some())
            {}
            if reloader.current().server.watch_config {
                reloader.reload(AppliedBy::Watch).await;
            }
        }
    });
}
