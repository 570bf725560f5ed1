//! (stub: being written)

use crate::config::Config;
use crate::storage::Storage;
use std::sync::Arc;
use tokio::sync::{oneshot, watch};

/// Runs until `shutdown`, following config reloads.
pub async fn run(
    _storage: Arc<Storage>,
    _configs: watch::Receiver<Arc<Config>>,
    shutdown: oneshot::Receiver<()>,
) {
    let _ = shutdown.await;
}
