//! Group commit: one writer task stores the pushes that arrive together in one transaction, and
//! answers each of them only after that transaction committed (DESIGN §1 step 5, §6).
//!
//! The queue in front of the writer is bounded: when the writer falls behind, pushes wait for a
//! place, and past the storage timeout they are answered 503 (WeChat retries) — memory stays flat.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinHandle;

use super::events::{Incoming, RecordRules, Recorded};
use super::sqlite_direct::AfterSync;
use super::sqlite_file::SqliteFile;
use super::writer_db::WriterDb;
use super::StoreError;
use crate::metrics::Metrics;

/// The SQLite writer's thread, as `top -H` and profiles show it (the kernel keeps 15 bytes).
pub const WRITER_THREAD: &str = "cardhook-writer";

/// Why a push could not be stored in time.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the writer did not commit within the storage timeout")]
    Timeout,
    #[error("the writer has stopped")]
    Stopped,
}

struct Job {
    push: Incoming,
    reply: oneshot::Sender<Result<Recorded, StoreError>>,
}

/// The handle pushes are recorded through; cheap to clone. The writer stops when every handle is gone.
#[derive(Clone)]
pub struct Ingest {
    tx: mpsc::Sender<Job>,
    timeout: Duration,
}

/// Whether the writer's last commit failed, and why: readiness reports it until a commit succeeds
/// (a full disk or an unreachable database shows here while a ping may still answer).
#[derive(Clone, Default)]
pub struct WriterHealth(Arc<std::sync::Mutex<Option<String>>>);

impl WriterHealth {
    /// The reason the last commit failed, if it did.
    pub fn failure(&self) -> Option<String> {
        self.0.lock().ok().and_then(|last| last.clone())
    }

    fn record(&self, failure: Option<String>) {
        if let Ok(mut last) = self.0.lock() {
            *last = failure;
        }
    }
}

/// How the writer batches, what it records with, and whom it wakes after a commit.
#[derive(Clone)]
pub struct IngestConfig {
    pub batch_max: usize,
    /// How long a batch stays open for more pushes after its first (zero: only those queued).
    pub batch_wait: Duration,
    pub queue_capacity: usize,
    pub timeout: Duration,
    pub rules: RecordRules,
    /// Woken after a batch that stored a push calling for an activation.
    pub wake_worker: Arc<Notify>,
    pub metrics: Metrics,
    /// The SQLite file, if the database is one: a batch is never committed when it is gone or
    /// replaced.
    pub sqlite_file: Option<SqliteFile>,
    pub health: WriterHealth,
}

impl Ingest {
    /// Start `writers` writers on `db` (one on a SQLite connection of its own, on a thread of its
    /// own named `cardhook-writer`: its statements block); the handle finishes when all have stopped.
    pub fn spawn(
        db: WriterDb,
        config: IngestConfig,
        writers: usize,
    ) -> std::io::Result<(Self, JoinHandle<()>)> {
        let (tx, rx) = mpsc::channel(config.queue_capacity.max(1));
        let timeout = config.timeout;
        let metrics = config.metrics.clone();
        db.observe_syncs(Box::new(move |took| {
            metrics.observe_wal_sync(took.as_secs_f64())
        }));
        // The writers take turns at the queue: one gathers a batch while the others commit theirs.
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        let handles: Vec<JoinHandle<()>> = if db.is_direct() {
            let runtime = tokio::runtime::Handle::current();
            let writer = run_writer(db, rx, config);
            let (stopped, on_stop) = oneshot::channel();
            std::thread::Builder::new()
                .name(WRITER_THREAD.into())
                .spawn(move || {
                    runtime.block_on(writer);
                    let _ = stopped.send(());
                })?;
            vec![tokio::spawn(async move {
                // An error means the thread panicked: it has stopped all the same.
                let _ = on_stop.await;
            })]
        } else {
            (0..writers.max(1))
                .map(|_| tokio::spawn(run_writer(db.clone(), rx.clone(), config.clone())))
                .collect()
        };
        let all = tokio::spawn(async move {
            futures_util::future::join_all(handles).await;
        });
        Ok((Self { tx, timeout }, all))
    }

    /// Store `push` durably; returns once it is committed (or known to be a duplicate).
    pub async fn record(&self, push: Incoming) -> Result<Recorded, IngestError> {
        let (reply, answer) = oneshot::channel();
        let submit_and_wait = async {
            self.tx
                .send(Job { push, reply })
                .await
                .map_err(|_| IngestError::Stopped)?;
            answer
                .await
                .map_err(|_| IngestError::Stopped)?
                .map_err(IngestError::from)
        };
        tokio::time::timeout(self.timeout, submit_and_wait)
            .await
            .unwrap_or(Err(IngestError::Timeout))
    }
}

async fn run_writer(
    db: WriterDb,
    rx: Arc<tokio::sync::Mutex<mpsc::Receiver<Job>>>,
    config: IngestConfig,
) {
    let mut batch = Vec::with_capacity(config.batch_max);
    loop {
        {
            let mut rx = rx.lock().await;
            let Some(first) = rx.recv().await else {
                return;
            };
            batch.push(first);
            // Whatever queued up while the previous batch committed joins this one, and whatever
            // arrives within `batch_wait` of its first push (none by default: a lone push is never
            // delayed, a burst shares one commit).
            let closes = tokio::time::Instant::now() + config.batch_wait;
            while batch.len() < config.batch_max {
                let next = match rx.try_recv() {
                    Ok(job) => Some(job),
                    Err(mpsc::error::TryRecvError::Empty) if !config.batch_wait.is_zero() => {
                        tokio::time::timeout_at(closes, rx.recv())
                            .await
                            .ok()
                            .flatten()
                    }
                    Err(_) => None,
                };
                let Some(job) = next else { break };
                batch.push(job);
            }
        }
        let started = std::time::Instant::now();
        let size = batch.len();
        if let Some(Err(reason)) = config.sqlite_file.as_ref().map(SqliteFile::check) {
            // Open connections would write on into the unlinked file and lose everything at the
            // next start: refuse (503, WeChat retries) until an operator restores it and restarts.
            tracing::error!(reason = %reason, "refusing to store pushes");
            for job in batch.drain(..) {
                let _ = job.reply.send(Err(StoreError::Busy(reason.clone())));
            }
            continue;
        }
        // Only a push that calls for an activation can give the worker something to do (waking it
        // for nothing costs a claim, a write transaction, per batch).
        let activations = batch.iter().any(|job| {
            let event = &job.push.message.event;
            config.rules.cards.activation_for(event).is_some()
        });
        let (answers, failure) = commit_batch(&db, &mut batch, &config.rules).await;
        config
            .metrics
            .observe_commit(size, started.elapsed().as_secs_f64());
        let wake_worker = activations.then(|| config.wake_worker.clone());
        db.after_durable(answer_when_durable(
            answers,
            failure,
            &config.health,
            wake_worker,
        ));
        let restart_began = std::time::Instant::now();
        if let Some(wal) = db.restart_wal_if_due().await {
            let restart = wal.restarted.then(|| restart_began.elapsed().as_secs_f64());
            config.metrics.observe_wal(wal.pages, restart);
        }
    }
}

/// A push's reply channel and what storing it did.
type Answer = (
    oneshot::Sender<Result<Recorded, StoreError>>,
    Result<Recorded, StoreError>,
);

/// Store a batch: each push's answer, and why the last commit failed if it did (for readiness).
async fn commit_batch(
    db: &WriterDb,
    batch: &mut Vec<Job>,
    rules: &RecordRules,
) -> (Vec<Answer>, Option<String>) {
    match store_all(db, batch, rules).await {
        Ok(outcomes) => {
            let answers = batch
                .drain(..)
                .zip(outcomes)
                .map(|(job, outcome)| (job.reply, Ok(outcome)))
                .collect();
            (answers, None)
        }
        Err(e) if batch.len() > 1 => {
            // One bad push must not fail its neighbours: store each on its own.
            tracing::warn!(error.message = %e, batch = batch.len(), "batch commit failed; retrying its pushes one by one");
            let mut answers = Vec::with_capacity(batch.len());
            let mut failure = None;
            for job in batch.drain(..) {
                let outcome = store_all(db, std::slice::from_ref(&job), rules).await;
                failure = outcome.as_ref().err().map(ToString::to_string);
                answers.push((job.reply, outcome.map(|mut o| o.remove(0))));
            }
            (answers, failure)
        }
        Err(e) => {
            tracing::error!(error.message = %e, "commit failed; the push is answered 503 and WeChat retries");
            let answers = batch
                .drain(..)
                .map(|job| (job.reply, Err(StoreError::Busy(e.to_string()))))
                .collect();
            (answers, Some(e.to_string()))
        }
    }
}

/// Answer a batch's pushes once its commit is durable; a commit that cannot be made durable is
/// answered 503 (WeChat retries; the retry finds it stored and gets `success` once it is durable).
fn answer_when_durable(
    answers: Vec<Answer>,
    failure: Option<String>,
    health: &WriterHealth,
    wake_worker: Option<Arc<Notify>>,
) -> AfterSync {
    let health = health.clone();
    Box::new(move |durable: Result<(), String>| {
        health.record(durable.clone().err().or(failure));
        let mut stored_new = false;
        for (reply, outcome) in answers {
            let outcome = match (&durable, outcome) {
                (Err(why), Ok(_)) => Err(StoreError::Busy(why.clone())),
                (_, outcome) => outcome,
            };
            stored_new |= matches!(outcome, Ok(Recorded::New));
            // The push's handler may have given up (timeout); its row is stored all the same.
            let _ = reply.send(outcome);
        }
        if let Some(worker) = wake_worker.filter(|_| stored_new) {
            // New events that call for activations have enqueued them.
            worker.notify_one();
        }
    })
}

async fn store_all(
    db: &WriterDb,
    jobs: &[Job],
    rules: &RecordRules,
) -> Result<Vec<Recorded>, StoreError> {
    let pushes: Vec<&Incoming> = jobs.iter().map(|job| &job.push).collect();
    db.store(&pushes, rules).await
}
