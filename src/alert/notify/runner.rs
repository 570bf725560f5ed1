//! The notifier's Tokio task: feeds the dispatcher alerts, config reloads and silence
//! changes, sleeps until its next wakeup, runs deliveries (bounded by
//! `delivery_concurrency_max`), and persists the notification log.
//! Owns: the wall clock (the dispatcher only ever sees `now` from here), delivery
//! tasks, `Notify` history rows and the notifier's metrics.
//! Does not: decide what to send (`dispatch.rs`).

use super::dispatch::{AfterDelivery, Dispatcher, Integration, Notification, Outcome};
use super::{Error, MAINTENANCE_INTERVAL, RESULTS_QUEUE_MAX, Shared, lock, now_ms, store};
use crate::alert::db::{AlertDb, HistoryEvent, HistoryKind};
use crate::config::Config;
use crate::selfmon::{NotifyMetrics, ReceiverLabels};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc, oneshot, watch};

/// How long the task sleeps when nothing is scheduled; new alerts wake it anyway.
const IDLE_SLEEP: Duration = Duration::from_secs(3600);

/// The outcome of one attempt, from a delivery task back to the loop.
struct Attempt {
    id: u64,
    outcome: Outcome,
    labels: ReceiverLabels,
}

/// What delivery tasks share.
#[derive(Clone)]
struct Deliverer {
    client: Option<reqwest::Client>,
    db: Arc<AlertDb>,
    metrics: NotifyMetrics,
    status: Arc<super::status::DeliveryStatus>,
    results: mpsc::Sender<Attempt>,
    slots: Arc<Semaphore>,
}

struct State {
    dispatcher: Dispatcher,
    deliverer: Deliverer,
    /// Deliveries spawned whose outcome has not come back.
    in_flight: usize,
    /// Permits `slots` was given, to resize it at a reload.
    slots_total: usize,
    /// Whether the last config had receivers (to log a change once).
    had_receivers: bool,
}

pub(super) async fn run(
    shared: Arc<Shared>,
    mut configs: watch::Receiver<Arc<Config>>,
    mut stop: oneshot::Receiver<Duration>,
) {
    let config = configs.borrow_and_update().clone();
    let (nflog, silences) = load_state(&shared.db).await;
    let dispatcher = Dispatcher::new(
        &config.alerting,
        &config.server.external_url,
        nflog,
        silences,
    );
    let (results, mut results_receiver) = mpsc::channel(RESULTS_QUEUE_MAX);
    let slots_total = config.alerting.settings.delivery_concurrency_max;
    let mut state = State {
        had_receivers: dispatcher.has_receivers(),
        dispatcher,
        deliverer: Deliverer {
            client: http_client(),
            db: Arc::clone(&shared.db),
            metrics: shared.metrics.clone(),
            status: Arc::clone(&shared.status),
            results,
            slots: Arc::new(Semaphore::new(slots_total)),
        },
        in_flight: 0,
        slots_total,
    };
    if !state.had_receivers {
        tracing::info!("no [[receiver]] configured: alerts are kept in state and history only");
    }
    let mut maintenance = tokio::time::interval(MAINTENANCE_INTERVAL);
    maintenance.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        step(&shared, &mut state).await;
        let sleep = match state.dispatcher.next_wakeup() {
            Some(at) => {
                Duration::from_millis(u64::try_from(at.saturating_sub(now_ms())).unwrap_or(0))
            }
            None => IDLE_SLEEP,
        };
        tokio::select! {
            grace = &mut stop => {
                let grace = grace.unwrap_or(Duration::ZERO);
                shut_down(&shared, &mut state, &mut results_receiver, grace).await;
                return;
            }
            () = shared.wake.notified() => {}
            Some(attempt) = results_receiver.recv() => finish(&mut state, attempt),
            Ok(()) = configs.changed() => {
                let config = configs.borrow_and_update().clone();
                reconfigure(&shared, &mut state, &config);
            }
            () = tokio::time::sleep(sleep) => {}
            _ = maintenance.tick() => prune(&shared.db, &mut state.dispatcher).await,
        }
    }
}

/// Takes queued alerts and silence changes, then starts what is due.
async fn step(shared: &Shared, state: &mut State) {
    if shared.silences_changed.swap(false, Ordering::AcqRel) {
        let db = Arc::clone(&shared.db);
        let since = now_ms().saturating_sub(super::silence::EXPIRED_RETENTION_MS);
        match tokio::task::spawn_blocking(move || store::load_silences(&db, since)).await {
            Ok(Ok(silences)) => state.dispatcher.set_api_silences(silences),
            Ok(Err(error)) => {
                tracing::error!(%error, "reading silences failed; the previous ones stay in effect")
            }
            Err(error) => tracing::error!(%error, "reading silences failed"),
        }
    }
    let batches = {
        let mut queue = lock(&shared.queue);
        queue.alerts = 0;
        std::mem::take(&mut queue.batches)
    };
    let now = now_ms();
    for batch in batches {
        let dropped = state.dispatcher.ingest(batch, now);
        if dropped > 0 {
            shared.metrics.alerts_dropped.inc_by(dropped as u64);
            tracing::warn!(
                dropped,
                "alerts dropped: [alerting] alerts_max or group_alerts_max reached"
            );
        }
    }
    for notification in state.dispatcher.due(now) {
        state.in_flight += 1;
        tokio::spawn(deliver(state.deliverer.clone(), notification));
    }
    persist_nflog(&shared.db, &mut state.dispatcher).await;
}

fn finish(state: &mut State, attempt: Attempt) {
    state.in_flight = state.in_flight.saturating_sub(1);
    let after = state
        .dispatcher
        .delivered(attempt.id, attempt.outcome, now_ms());
    if after == AfterDelivery::GaveUp {
        state
            .deliverer
            .metrics
            .notifications_dropped
            .get_or_create(&attempt.labels)
            .inc();
        tracing::warn!(
            receiver = %attempt.labels.receiver,
            integration = attempt.labels.integration,
            "notification given up; the group tries again at its next group_interval"
        );
    }
}

fn reconfigure(shared: &Shared, state: &mut State, config: &Config) {
    let settings = &config.alerting.settings;
    shared
        .queue_alerts_max
        .store(settings.queue_alerts_max, Ordering::Relaxed);
    let wanted = settings.delivery_concurrency_max;
    if wanted > state.slots_total {
        state
            .deliverer
            .slots
            .add_permits(wanted - state.slots_total);
    } else {
        // Permits held by running deliveries are not taken back; the pool shrinks
        // as far as it can now.
        state
            .deliverer
            .slots
            .forget_permits(state.slots_total - wanted);
    }
    state.slots_total = wanted;
    state
        .dispatcher
        .reconfigure(&config.alerting, &config.server.external_url, now_ms());
    let receivers: Vec<&str> = config
        .alerting
        .receivers
        .iter()
        .map(|receiver| receiver.name.as_str())
        .collect();
    shared.status.retain_receivers(&receivers);
    let has_receivers = state.dispatcher.has_receivers();
    if has_receivers != state.had_receivers {
        if has_receivers {
            tracing::info!("receivers configured: alerts are notified again");
        } else {
            tracing::info!("no [[receiver]] configured: alerts are kept in state and history only");
        }
        state.had_receivers = has_receivers;
    }
}

/// Starts what is due, then waits (at most `grace`) for deliveries in flight.
/// Retries still waiting are abandoned; their groups were not logged as sent.
async fn shut_down(
    shared: &Shared,
    state: &mut State,
    results: &mut mpsc::Receiver<Attempt>,
    grace: Duration,
) {
    step(shared, state).await;
    let deadline = tokio::time::Instant::now() + grace;
    while state.in_flight > 0 {
        match tokio::time::timeout_at(deadline, results.recv()).await {
            Ok(Some(attempt)) => finish(state, attempt),
            Ok(None) | Err(_) => break,
        }
    }
    persist_nflog(&shared.db, &mut state.dispatcher).await;
    if state.in_flight > 0 {
        tracing::warn!(
            in_flight = state.in_flight,
            "notifier stopped with deliveries in flight"
        );
    }
}

async fn load_state(
    db: &Arc<AlertDb>,
) -> (
    Vec<super::dispatch::NflogEntry>,
    Vec<super::silence::Silence>,
) {
    let db = Arc::clone(db);
    let loaded = tokio::task::spawn_blocking(move || {
        let now = now_ms();
        let nflog = store::load_nflog(&db, now.saturating_sub(super::dispatch::NFLOG_RETENTION_MS));
        let silences = store::load_silences(
            &db,
            now.saturating_sub(super::silence::EXPIRED_RETENTION_MS),
        );
        (nflog, silences)
    })
    .await;
    let Ok((nflog, silences)) = loaded else {
        tracing::error!("reading the notification log and silences failed; starting without them");
        return (Vec::new(), Vec::new());
    };
    let nflog = nflog.unwrap_or_else(|error| {
        tracing::error!(%error, "reading the notification log failed: firing alerts will be notified again");
        Vec::new()
    });
    let silences = silences.unwrap_or_else(|error| {
        tracing::error!(%error, "reading silences failed: stored silences are not applied");
        Vec::new()
    });
    (nflog, silences)
}

/// Writes the entries the dispatcher recorded. Small (one row per notification), so
/// written on the spot: a crash right after a delivery should find it logged.
async fn persist_nflog(db: &Arc<AlertDb>, dispatcher: &mut Dispatcher) {
    let entries = dispatcher.take_nflog_writes();
    if entries.is_empty() {
        return;
    }
    let db = Arc::clone(db);
    let saved = tokio::task::spawn_blocking(move || store::save_nflog(&db, &entries)).await;
    if let Ok(Err(error)) = saved {
        tracing::error!(%error, "writing the notification log failed: a restart may notify again");
    }
}

async fn prune(db: &Arc<AlertDb>, dispatcher: &mut Dispatcher) {
    let now = now_ms();
    dispatcher.prune_nflog(now);
    let db = Arc::clone(db);
    let pruned = tokio::task::spawn_blocking(move || {
        store::prune_nflog(&db, now.saturating_sub(super::dispatch::NFLOG_RETENTION_MS))?;
        store::prune_silences(
            &db,
            now.saturating_sub(super::silence::EXPIRED_RETENTION_MS),
        )
    })
    .await;
    if let Ok(Err(error)) = pruned {
        tracing::warn!(%error, "pruning the notifier's tables failed");
    }
}

fn http_client() -> Option<reqwest::Client> {
    // One crypto provider for the whole binary; installing it again is a no-op.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match reqwest::Client::builder()
        .user_agent(concat!("tandem/", env!("CARGO_PKG_VERSION")))
        .no_proxy()
        .build()
    {
        Ok(client) => Some(client),
        Err(error) => {
            tracing::error!(%error, "cannot build the HTTP client: webhook and alertmanager receivers will fail");
            None
        }
    }
}

/// One attempt of one notification: send, count, record, report.
async fn deliver(deliverer: Deliverer, notification: Notification) {
    let labels = ReceiverLabels {
        receiver: notification.receiver.clone(),
        integration: notification.integration.kind().as_str(),
    };
    let result = match Arc::clone(&deliverer.slots).acquire_owned().await {
        Ok(_slot) => attempt(deliverer.client.as_ref(), &notification).await,
        Err(_) => Err(Error::Transient("the notifier is shutting down".into())),
    };
    deliverer.metrics.notifications.get_or_create(&labels).inc();
    deliverer.status.record(
        &labels.receiver,
        labels.integration,
        result.as_ref().err().map(ToString::to_string),
    );
    if result.is_err() {
        deliverer
            .metrics
            .notifications_failed
            .get_or_create(&labels)
            .inc();
    }
    match &result {
        Ok(()) => tracing::debug!(
            receiver = %labels.receiver,
            integration = labels.integration,
            alerts = notification.alerts.len(),
            attempt = notification.attempt,
            "notification sent"
        ),
        Err(error) => tracing::warn!(
            receiver = %labels.receiver,
            integration = labels.integration,
            attempt = notification.attempt,
            %error,
            "notification failed"
        ),
    }
    record_attempt(&deliverer.db, &notification, &result).await;
    let outcome = match result {
        Ok(()) => Outcome::Sent,
        Err(Error::Refused(_)) => Outcome::Failed { retryable: false },
        Err(_) => Outcome::Failed { retryable: true },
    };
    let _ = deliverer
        .results
        .send(Attempt {
            id: notification.id,
            outcome,
            labels,
        })
        .await;
}

async fn attempt(
    client: Option<&reqwest::Client>,
    notification: &Notification,
) -> Result<(), Error> {
    let no_client = || Error::Transient("no HTTP client (see the error at start)".into());
    match &notification.integration {
        Integration::Webhook(config) => {
            super::webhook::send(client.ok_or_else(no_client)?, config, notification).await
        }
        Integration::Alertmanager(config) => {
            super::alertmanager::send(client.ok_or_else(no_client)?, config, notification).await
        }
        Integration::Email(config) => super::email::send(config, notification).await,
        Integration::Exec(config) => super::exec::send(config, notification).await,
    }
}

/// One `Notify` history row per alert of the notification.
async fn record_attempt(
    db: &Arc<AlertDb>,
    notification: &Notification,
    result: &Result<(), Error>,
) {
    let integration = notification.integration.kind().as_str();
    let (outcome, detail) = match result {
        Ok(()) => (
            "sent",
            format!(
                "{integration}: {} alerts in the message",
                notification.alerts.len()
            ),
        ),
        Err(error) => (
            "failed",
            super::bounded_detail(&format!("{integration}: {error}")),
        ),
    };
    let t_ms = now_ms();
    let events: Vec<HistoryEvent> = notification
        .alerts
        .iter()
        .map(|alert| HistoryEvent {
            t_ms,
            event: HistoryKind::Notify,
            alertname: alert.alertname().to_string(),
            fingerprint: alert.fingerprint(),
            labels: alert.labels.clone(),
            value: None,
            receiver: Some(notification.receiver.clone()),
            outcome: Some(outcome.to_string()),
            attempt: Some(notification.attempt),
            detail: Some(detail.clone()),
        })
        .collect();
    let db = Arc::clone(db);
    let recorded = tokio::task::spawn_blocking(move || db.record_history(&events)).await;
    if let Ok(Err(error)) = recorded {
        tracing::warn!(%error, "recording the notification in the alert history failed");
    }
}
