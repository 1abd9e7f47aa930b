//! Group commit: the pushes that arrive together are stored in one transaction, and each is
//! answered only after that transaction's COMMIT returned (DESIGN §1, §6).
//!
//! On SQLite one writer thread owns a connection of its own (`sqlite.rs`); on PostgreSQL
//! `database.writers` tasks commit on the pool (`pool.rs`). The queue in front of them is bounded:
//! when the writers fall behind, pushes wait for a place, and past the storage timeout they are
//! answered 503 (WeChat retries) — memory stays flat.
//!
//! Fail-stop: a SQLite I/O error (a failed write, fsync or COMMIT) leaves what is on disk in
//! doubt — after a failed fsync the kernel may have dropped the pages it could not write. The
//! batch is answered 503, no push is acknowledged after it, readiness turns 503, and the app exits
//! non-zero so the supervisor restarts cardhook, which then recovers from what is really on disk
//! (`storage_health`).

pub mod pool;
pub mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use chrono::FixedOffset;
use tokio::sync::{mpsc, oneshot, Notify};

use crate::metrics::Metrics;
use crate::storage_health::StorageHealth;
use crate::store::push::{Incoming, JobsFor, Recorded, Stored};
use crate::store::StoreError;

/// Why a push could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the writer did not commit within the storage timeout")]
    Timeout,
    #[error("the writer has stopped")]
    Stopped,
    /// A storage failure stopped the writer for good (see the module doc): restart cardhook.
    #[error("storage failed and cardhook is stopping: {0}")]
    Halted(String),
}

/// A push waiting for its batch, and where its answer goes.
struct QueuedPush {
    push: Incoming,
    reply: oneshot::Sender<Result<Recorded, IngestError>>,
}

/// The handle pushes are recorded through; cheap to clone. The writers stop when every handle is
/// gone.
#[derive(Clone)]
pub struct Ingest {
    tx: mpsc::Sender<QueuedPush>,
    timeout: Duration,
}

/// How the writers batch, what they store with, and whom they tell.
#[derive(Clone)]
pub struct IngestConfig {
    /// At most this many pushes share one transaction.
    pub batch_max: usize,
    pub queue_capacity: usize,
    /// How long a push may wait for its commit before it is answered 503.
    pub timeout: Duration,
    /// The statistics offset (channel counters are kept per local day).
    pub offset: FixedOffset,
    /// The jobs a new push calls for (member-card activations).
    pub jobs: Arc<dyn JobsFor>,
    /// Woken after a commit that queued a job.
    pub wake_worker: Arc<Notify>,
    /// Woken when a batch stored a new push (its domain events are in the feed).
    pub wake_webhooks: Arc<Notify>,
    pub metrics: Metrics,
    pub health: StorageHealth,
}

impl Ingest {
    fn with_queue(config: &IngestConfig) -> (Self, mpsc::Receiver<QueuedPush>) {
        let (tx, rx) = mpsc::channel(config.queue_capacity.max(1));
        let ingest = Self {
            tx,
            timeout: config.timeout,
        };
        (ingest, rx)
    }

    /// Store `push` durably; returns once it is committed (or known to be a duplicate).
    pub async fn record(&self, push: Incoming) -> Result<Recorded, IngestError> {
        let (reply, answer) = oneshot::channel();
        let submit_and_wait = async {
            self.tx
                .send(QueuedPush { push, reply })
                .await
                .map_err(|_| IngestError::Stopped)?;
            answer.await.map_err(|_| IngestError::Stopped)?
        };
        tokio::time::timeout(self.timeout, submit_and_wait)
            .await
            .unwrap_or(Err(IngestError::Timeout))
    }
}

/// The next batch: the first push to arrive, and whatever else is already waiting (a lone push is
/// never delayed; a burst shares one commit). None once every handle is gone.
async fn next_batch(rx: &mut mpsc::Receiver<QueuedPush>, max: usize) -> Option<Vec<QueuedPush>> {
    let first = rx.recv().await?;
    Some(batch_from(first, rx, max))
}

/// A batch: `first`, and up to `max` in all of the pushes already waiting behind it.
fn batch_from(
    first: QueuedPush,
    rx: &mut mpsc::Receiver<QueuedPush>,
    max: usize,
) -> Vec<QueuedPush> {
    let mut batch = Vec::with_capacity(max.min(64));
    batch.push(first);
    while batch.len() < max {
        match rx.try_recv() {
            Ok(push) => batch.push(push),
            Err(_) => break,
        }
    }
    batch
}

/// Whether a batch that failed as a whole is stored again one push at a time (each in a
/// transaction of its own), so that one bad push cannot fail its neighbours. Never after a halt.
fn one_by_one(whole: &Result<Stored, IngestError>, size: usize) -> bool {
    size > 1 && matches!(whole, Err(e) if !matches!(e, IngestError::Halted(_)))
}

/// Answer each push of `batch` from `results`: one result for the whole batch, or one per push
/// (see [`one_by_one`]). Wakes the worker when a job was queued.
fn answer(
    batch: Vec<QueuedPush>,
    mut results: Vec<Result<Stored, IngestError>>,
    started: std::time::Instant,
    config: &IngestConfig,
) {
    let size = batch.len();
    config
        .metrics
        .observe_commit(size, started.elapsed().as_secs_f64());
    let failure = results.iter().rev().find_map(|r| r.as_ref().err());
    config.health.record(failure.map(ToString::to_string));
    let queued_jobs = results
        .iter()
        .any(|r| r.as_ref().is_ok_and(|s| s.jobs_queued > 0));
    let mut outcomes: Vec<Result<Recorded, IngestError>> = if results.len() == 1 {
        match results.remove(0) {
            Ok(stored) => stored.outcomes.into_iter().map(Ok).collect(),
            Err(e) => {
                let reason = e.to_string();
                let halted = matches!(e, IngestError::Halted(_));
                tracing::error!(error.message = %reason, "commit failed; the batch is answered 503 and WeChat retries");
                (0..size)
                    .map(|_| Err(copy_error(halted, &reason)))
                    .collect()
            }
        }
    } else {
        results
            .into_iter()
            .map(|r| r.and_then(|mut s| s.outcomes.pop().ok_or(IngestError::Stopped)))
            .collect()
    };
    outcomes.resize_with(size, || Err(IngestError::Stopped));
    if outcomes.iter().any(|o| matches!(o, Ok(Recorded::New))) {
        config.wake_webhooks.notify_waiters();
    }
    for (queued, outcome) in batch.into_iter().zip(outcomes) {
        // The push's handler may have given up (timeout); its row is stored all the same.
        let _ = queued.reply.send(outcome);
    }
    if queued_jobs {
        config.wake_worker.notify_one();
    }
}

fn copy_error(halted: bool, reason: &str) -> IngestError {
    if halted {
        IngestError::Halted(reason.to_owned())
    } else {
        IngestError::Store(StoreError::Busy(reason.to_owned()))
    }
}
