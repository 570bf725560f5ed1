//! The rule manager: runs every rule group on its interval and soon after new samples
//! arrive for a series one of its rules reads, persists alert state, records history,
//! and hands alerts to the notifier.
//! Owns: one Tokio task per group, the storage watch (`Storage::watch`) that maps
//! appended series to groups, and reloads that keep the state of unchanged rules.
//! Does not: evaluate (`group.rs`), or route and deliver (`notify`).
//!
//! Why evaluate on ingest: with a 15 s interval an alert is on average 7.5 s behind its
//! data, plus the scrape interval. A group is instead woken when a watched selector
//! receives samples, waits `[rules] ingest_debounce` so that one scrape or push wakes it
//! once, and evaluates: a breach is seen within tens of milliseconds. Evaluations so
//! triggered are spaced by at least four times the group's last evaluation time, which
//! bounds their cost to a fifth of a core per busy group whatever the ingest rate.

pub mod group;
pub mod state;

use crate::alert::db::AlertDb;
use crate::alert::notify::Notifier;
use crate::config::Config;
use crate::config::rules::RuleGroupConfig;
use crate::model::Labels;
use crate::promql::EvalOptions;
use crate::selfmon::{AlertStateLabels, RuleGroupLabels, RuleMetrics};
use crate::storage::{Interest, Storage};
use group::{AlertState, EvalContext, Group};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, SystemTime};

/// How often old alert history is deleted.
const HISTORY_PRUNE_INTERVAL: Duration = Duration::from_secs(3600);

/// A running group: its state behind a lock (the API reads it), its wake-up signals.
pub struct GroupHandle {
    pub config: RuleGroupConfig,
    group: Mutex<Group>,
    trigger: tokio::sync::Notify,
    stop: tokio::sync::Notify,
    stopped: AtomicBool,
    pending: AtomicI64,
    firing: AtomicI64,
    /// When this handle was made (Unix ms): lag counts from here until a first evaluation.
    started_ms: i64,
}

impl GroupHandle {
    /// The group's state; held only briefly by readers.
    pub fn lock(&self) -> MutexGuard<'_, Group> {
        self.group
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn halt(&self) {
        self.stopped.store(true, Ordering::Release);
        self.stop.notify_one();
    }
}

struct Inner {
    storage: Arc<Storage>,
    db: Arc<AlertDb>,
    notifier: Notifier,
    metrics: RuleMetrics,
    config: RwLock<Arc<Config>>,
    groups: RwLock<Vec<Arc<GroupHandle>>>,
    /// Interest id (position) → the group it belongs to.
    interests: RwLock<Vec<Arc<GroupHandle>>>,
}

/// `RuleManager::health`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RuleHealth {
    pub evaluation_lag_seconds: f64,
    pub firing: u64,
}

/// The rule manager; cheap to clone.
#[derive(Clone)]
pub struct RuleManager {
    inner: Arc<Inner>,
}

pub fn now_ms() -> i64 {
    crate::config::history::unix_millis(SystemTime::now())
}

impl RuleManager {
    /// Restores alert state from `db`, starts every group of the config and follows
    /// reloads through `configs`.
    pub fn start(
        storage: Arc<Storage>,
        db: Arc<AlertDb>,
        notifier: Notifier,
        metrics: RuleMetrics,
        mut configs: tokio::sync::watch::Receiver<Arc<Config>>,
    ) -> RuleManager {
        let config = configs.borrow_and_update().clone();
        let manager = RuleManager {
            inner: Arc::new(Inner {
                storage,
                db,
                notifier,
                metrics,
                config: RwLock::new(Arc::clone(&config)),
                groups: RwLock::new(Vec::new()),
                interests: RwLock::new(Vec::new()),
            }),
        };
        let mut restored = match state::load(&manager.inner.db) {
            Ok(restored) => restored,
            Err(error) => {
                tracing::error!(%error, "cannot read alert state; alerts start inactive");
                HashMap::new()
            }
        };
        let restored_count: usize = restored.values().map(|alerts| alerts.len()).sum();
        manager.apply(config, &mut restored);
        if restored_count > 0 {
            tracing::info!(alerts = restored_count, "alert state restored");
        }
        let watcher = manager.clone();
        tokio::spawn(async move { watcher.dispatch_triggers().await });
        let pruner = Arc::clone(&manager.inner.db);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(HISTORY_PRUNE_INTERVAL);
            loop {
                every.tick().await;
                let db = Arc::clone(&pruner);
                let before_ms = now_ms() - crate::alert::db::HISTORY_RETENTION.as_millis() as i64;
                match tokio::task::spawn_blocking(move || db.prune_history(before_ms)).await {
                    Ok(Ok(0)) => {}
                    Ok(Ok(deleted)) => tracing::info!(deleted, "pruned alert history"),
                    Ok(Err(error)) => tracing::warn!(%error, "cannot prune alert history"),
                    Err(error) => tracing::error!(%error, "BUG: history pruning panicked"),
                }
            }
        });
        let follower = manager.clone();
        tokio::spawn(async move {
            while configs.changed().await.is_ok() {
                let config = configs.borrow_and_update().clone();
                follower.apply(config, &mut HashMap::new());
            }
        });
        manager
    }

    /// The running groups, in config order.
    pub fn groups(&self) -> Vec<Arc<GroupHandle>> {
        self.inner
            .groups
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// How rule evaluation is keeping up at `now_ms`, for the peer heartbeat: the
    /// longest a group is overdue (time since its last evaluation beyond its
    /// interval; a group never evaluated counts from its start), and alerts firing.
    pub fn health(&self, now_ms: i64) -> RuleHealth {
        let mut health = RuleHealth::default();
        for handle in self.groups() {
            health.firing += handle.firing.load(Ordering::Relaxed).max(0) as u64;
            let last = handle
                .lock()
                .last_evaluation_ms
                .unwrap_or(handle.started_ms);
            let interval_ms = handle.config.interval.as_millis() as i64;
            let overdue_ms = (now_ms - last - interval_ms).max(0);
            health.evaluation_lag_seconds = health
                .evaluation_lag_seconds
                .max(overdue_ms as f64 / 1000.0);
        }
        health
    }

    /// Stops every group task (state is already persisted after each evaluation).
    pub fn stop(&self) {
        for handle in self.groups() {
            handle.halt();
        }
    }

    /// Makes `config`'s groups the running ones. Groups whose config is unchanged keep
    /// running untouched; changed groups take over the state of their unchanged rules;
    /// alerts of removed rules are resolved.
    fn apply(
        &self,
        config: Arc<Config>,
        restored: &mut HashMap<
            String,
            std::collections::BTreeMap<crate::alert::Fingerprint, group::ActiveAlert>,
        >,
    ) {
        *self
            .inner
            .config
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::clone(&config);
        let mut old: HashMap<String, Arc<GroupHandle>> = self
            .groups()
            .into_iter()
            .map(|handle| (handle.config.key(), handle))
            .collect();
        let mut handles = Vec::with_capacity(config.rule_groups.len());
        for group_config in &config.rule_groups {
            let key = group_config.key();
            if let Some(existing) = old.get(&key)
                && existing.config == *group_config
            {
                if let Some(existing) = old.remove(&key) {
                    handles.push(existing);
                }
                continue;
            }
            let mut group = match Group::new(group_config.clone()) {
                Ok(group) => group,
                Err(error) => {
                    tracing::error!(group = %key, %error, "BUG: a validated rule group does not build");
                    continue;
                }
            };
            if let Some(previous) = old.remove(&key) {
                previous.halt();
                group.adopt(&mut previous.lock());
                self.retire(&previous);
            }
            for rule in &mut group.rules {
                if let Some(alerts) = restored.remove(&rule.key) {
                    rule.active = alerts;
                }
            }
            let handle = Arc::new(GroupHandle {
                config: group_config.clone(),
                group: Mutex::new(group),
                trigger: tokio::sync::Notify::new(),
                stop: tokio::sync::Notify::new(),
                stopped: AtomicBool::new(false),
                pending: AtomicI64::new(0),
                firing: AtomicI64::new(0),
                started_ms: now_ms(),
            });
            let task = self.clone();
            let running = Arc::clone(&handle);
            tokio::spawn(async move { task.run_group(running).await });
            handles.push(handle);
        }
        for (_, removed) in old {
            removed.halt();
            self.retire(&removed);
        }
        let keys: HashSet<String> = handles
            .iter()
            .flat_map(|handle| {
                handle
                    .lock()
                    .rules
                    .iter()
                    .map(|rule| rule.key.clone())
                    .collect::<Vec<_>>()
            })
            .collect();
        if let Err(error) = state::retain(&self.inner.db, &keys) {
            tracing::warn!(%error, "cannot delete the state of removed rules");
        }
        // Interests: every selector of every rule, each mapped to its group.
        let mut interests: Vec<Interest> = Vec::new();
        let mut owners = Vec::new();
        if config.rules.evaluate_on_ingest {
            for handle in &handles {
                let group = handle.lock();
                if !group.config.evaluate_on_ingest {
                    continue;
                }
                let mut seen = HashSet::new();
                for rule in &group.rules {
                    for selector in rule.expr.selectors() {
                        let text: Vec<String> =
                            selector.matchers.iter().map(ToString::to_string).collect();
                        if seen.insert(text) {
                            interests.push(selector.matchers.clone());
                            owners.push(Arc::clone(handle));
                        }
                    }
                }
            }
        }
        *self
            .inner
            .interests
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = owners;
        self.inner.storage.watch(interests);
        *self
            .inner
            .groups
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = handles;
        self.update_alert_gauges();
    }

    /// Resolves what a group that is going away still has active (rules kept by a
    /// changed group were already taken over and are empty here).
    fn retire(&self, handle: &GroupHandle) {
        let config = self.current_config();
        let outcome = handle
            .lock()
            .resolve_all(now_ms(), &config.server.external_url);
        if let Err(error) = self.inner.db.record_history(&outcome.transitions) {
            tracing::warn!(%error, "cannot record alert history");
        }
        if !outcome.alerts.is_empty() {
            self.inner.notifier.send(outcome.alerts);
        }
    }

    fn current_config(&self) -> Arc<Config> {
        Arc::clone(
            &self
                .inner
                .config
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    async fn dispatch_triggers(&self) {
        loop {
            let touched = self.inner.storage.touched().await;
            let owners = self
                .inner
                .interests
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            let mut woken = HashSet::new();
            for id in touched {
                if let Some(handle) = owners.get(id as usize)
                    && woken.insert(Arc::as_ptr(handle))
                {
                    handle.trigger.notify_one();
                }
            }
        }
    }

    async fn run_group(&self, handle: Arc<GroupHandle>) {
        let interval = handle.config.interval;
        let labels = RuleGroupLabels {
            rule_group: handle.config.key(),
        };
        // The first evaluation comes at once: restored alerts resolve or fire without
        // waiting a whole interval.
        let mut next = tokio::time::Instant::now();
        let mut earliest_triggered = tokio::time::Instant::now();
        loop {
            let triggered = tokio::select! {
                _ = tokio::time::sleep_until(next) => false,
                _ = handle.trigger.notified() => true,
                _ = handle.stop.notified() => return,
            };
            if handle.stopped.load(Ordering::Acquire) {
                return;
            }
            if triggered {
                let debounce = self.current_config().rules.ingest_debounce;
                let wake = (tokio::time::Instant::now() + debounce).max(earliest_triggered);
                tokio::select! {
                    _ = tokio::time::sleep_until(wake) => {}
                    _ = handle.stop.notified() => return,
                }
                self.inner
                    .metrics
                    .triggered_evaluations
                    .get_or_create(&labels)
                    .inc();
            } else {
                next += interval;
                let now = tokio::time::Instant::now();
                if next <= now {
                    // Fell behind (a slow evaluation, a suspended machine): skip ahead
                    // instead of evaluating in a burst.
                    next = now + interval;
                }
            }
            let manager = self.clone();
            let running = Arc::clone(&handle);
            let evaluated = tokio::task::spawn_blocking(move || manager.evaluate(&running)).await;
            match evaluated {
                Ok(duration) => {
                    earliest_triggered = tokio::time::Instant::now() + duration * 4;
                }
                Err(error) => {
                    tracing::error!(group = %labels.rule_group, %error, "BUG: rule evaluation panicked")
                }
            }
        }
    }

    /// Evaluates a group now; returns how long it took.
    fn evaluate(&self, handle: &GroupHandle) -> Duration {
        let config = self.current_config();
        let external_labels = Labels::new(config.rules.external_labels.clone()).unwrap_or_default();
        let options = EvalOptions {
            lookback_ms: config.query.lookback_delta.as_millis() as i64,
            samples_max: config.query.samples_max,
            deadline: Some(std::time::Instant::now() + config.query.timeout),
            ..EvalOptions::default()
        };
        let context = EvalContext {
            storage: &self.inner.storage,
            options,
            external_labels: &external_labels,
            external_url: &config.server.external_url,
        };
        let labels = RuleGroupLabels {
            rule_group: handle.config.key(),
        };
        let t_ms = now_ms();
        let mut group = handle.lock();
        // A reload that replaced this group sets `stopped` before it takes the lock to
        // hand the state over; evaluating after that would write for rules that now
        // belong to the new group.
        if handle.stopped.load(Ordering::Acquire) {
            return Duration::ZERO;
        }
        let outcome = group.evaluate(&context, t_ms);
        let changed: Vec<(
            &str,
            &std::collections::BTreeMap<crate::alert::Fingerprint, group::ActiveAlert>,
        )> = outcome
            .changed_rules
            .iter()
            .filter_map(|position| group.rules.get(*position))
            .map(|rule| (rule.key.as_str(), &rule.active))
            .collect();
        if let Err(error) = state::save(&self.inner.db, &changed) {
            self.inner.metrics.state_write_failures.inc();
            tracing::warn!(group = %labels.rule_group, %error, "cannot persist alert state");
        }
        let (mut pending, mut firing) = (0, 0);
        for rule in &group.rules {
            for alert in rule.active.values() {
                match alert.state {
                    AlertState::Pending => pending += 1,
                    AlertState::Firing => firing += 1,
                }
            }
        }
        let duration = group.evaluation_duration;
        drop(group);
        handle.pending.store(pending, Ordering::Relaxed);
        handle.firing.store(firing, Ordering::Relaxed);
        if let Err(error) = self.inner.db.record_history(&outcome.transitions) {
            tracing::warn!(group = %labels.rule_group, %error, "cannot record alert history");
        }
        if let Some(error) = &outcome.write_error {
            tracing::warn!(group = %labels.rule_group, %error, "cannot store rule output");
        }
        if outcome.rejected > 0 {
            // Two evaluations in the same millisecond, or a storage limit.
            tracing::debug!(group = %labels.rule_group, samples = outcome.rejected, "storage refused rule output samples");
        }
        if !outcome.alerts.is_empty() {
            self.inner.notifier.send(outcome.alerts);
        }
        let metrics = &self.inner.metrics;
        metrics.evaluations.get_or_create(&labels).inc();
        if outcome.failures > 0 {
            metrics
                .evaluation_failures
                .get_or_create(&labels)
                .inc_by(outcome.failures);
        }
        metrics
            .last_duration
            .get_or_create(&labels)
            .set(duration.as_secs_f64());
        metrics
            .last_evaluation
            .get_or_create(&labels)
            .set(t_ms as f64 / 1000.0);
        self.update_alert_gauges();
        duration
    }

    fn update_alert_gauges(&self) {
        let (mut pending, mut firing) = (0, 0);
        for handle in self.groups() {
            pending += handle.pending.load(Ordering::Relaxed);
            firing += handle.firing.load(Ordering::Relaxed);
        }
        let alerts = &self.inner.metrics.alerts;
        alerts
            .get_or_create(&AlertStateLabels { state: "pending" })
            .set(pending);
        alerts
            .get_or_create(&AlertStateLabels { state: "firing" })
            .set(firing);
    }
}
