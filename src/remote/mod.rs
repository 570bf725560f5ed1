//! The remote_write sender: each `[[remote_write]]` queue tails tandem's WAL and sends
//! what it holds, as Prometheus remote_write 1.0, to a distributed engine (Mimir,
//! Thanos Receive, Cortex, VictoriaMetrics...).
//! Owns: each queue's position in the WAL (`<data_dir>/remote_write/<queue>.position`,
//! saved after every acknowledged round), its hold on the WAL segments it has not
//! sent, sharding, batching, retries, and its metrics.
//! Does not: slow ingest. The queue reads WAL files behind the writers; a receiver
//! outage only grows the WAL, up to `backlog_bytes_max`.
//!
//! The WAL is the durable queue: what was stored is sent even after a receiver outage
//! or a restart of tandem (from the saved position). A round (read, send on every
//! shard, save) that a crash interrupts is sent again: the receiver may see identical
//! samples twice, which remote_write receivers accept.

mod queue;

use crate::config::Config;
use crate::config::remote_write::RemoteWriteConfig;
use crate::selfmon::RemoteSendMetrics;
use crate::storage::Storage;
use std::path::PathBuf;
use std::sync::Arc;

/// Gives every configured queue without a saved position one now (the WAL's end),
/// so that what is ingested once tandem reports ready is sent. Called before that.
pub fn prepare(storage: &Storage, config: &Config, data_dir: &std::path::Path) {
    let state_dir = data_dir.join("remote_write");
    for queue in &config.remote_write {
        queue::start_position(storage, queue, &state_dir);
    }
}

/// Runs every configured queue and follows reloads: a queue whose settings changed
/// restarts (from its saved position); a removed one stops and releases the WAL.
pub async fn run(
    storage: Arc<Storage>,
    mut configs: tokio::sync::watch::Receiver<Arc<Config>>,
    metrics: RemoteSendMetrics,
    data_dir: PathBuf,
) {
    let state_dir = data_dir.join("remote_write");
    let mut running = crate::tasks::KeyedTasks::default();
    loop {
        let config = configs.borrow_and_update().clone();
        let external_labels = config.rules.external_labels.clone();
        let wanted = config
            .remote_write
            .iter()
            .map(|queue| (queue.name.as_str(), queue));
        let removed = running.reconcile(wanted, |_, queue: &RemoteWriteConfig| {
            tokio::spawn(queue::run(queue::Queue::new(
                Arc::clone(&storage),
                queue.clone(),
                external_labels.clone(),
                metrics.clone(),
                &state_dir,
            )))
        });
        for name in removed {
            storage.hold_wal(&hold_name(&name), None, 0);
            tracing::info!(queue = %name, "remote_write queue removed");
        }
        if configs.changed().await.is_err() {
            break;
        }
    }
    running.abort_all();
}

/// The queue's name among the WAL's holders.
fn hold_name(queue: &str) -> String {
    format!("remote_write/{queue}")
}
