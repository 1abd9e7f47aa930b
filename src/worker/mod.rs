//! The activation worker: claims due jobs from the durable queue and runs them against the WeChat
//! API, never on the request path. `run_once(now)` runs one round (tests drive it); `run` keeps
//! `worker.concurrency` jobs running until shutdown.

pub mod activate;
pub mod bind;
pub mod outcome;
pub mod send;
pub mod tag;
pub mod update;

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::FixedOffset;
use futures_util::FutureExt;
use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::{ConfigError, Settings, WorkerSettings};
use crate::credentials::TokenProvider;
use crate::distribution::messages::SendCardOrder;
use crate::distribution::Distribution;
use crate::jobs::{CardRules, JobPayload};
use crate::metrics::Metrics;
use crate::services::Services;
use crate::storage_health::StorageHealth;
use crate::store::jobs::{self, Claimed};
use crate::store::Db;
use crate::store::StoreError;
use outcome::{JobOutcome, Step};

/// A finished activation on its way to the recorder, holding its place among the unrecorded.
type Recording = (outcome::Activated, OwnedSemaphorePermit);

/// What one `run_once` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Jobs ran, with their outcomes.
    Ran(Vec<JobOutcome>),
    /// Nothing was due.
    Empty,
}

/// Cheap to clone: every field is shared.
#[derive(Clone)]
pub struct Worker {
    db: Db,
    /// The shared credentials, and the API client they are fetched with.
    tokens: TokenProvider,
    /// Sends a follow QR code's card (`send_card` jobs).
    distribution: Distribution,
    settings: WorkerSettings,
    offset: FixedOffset,
    clock: Clock,
    wake: Arc<Notify>,
    metrics: Metrics,
    /// Claims in flight, so a shutdown past the drain timeout can hand them back.
    in_flight: Arc<Mutex<HashMap<i64, String>>>,
    /// A disk failure under any of the worker's writes halts cardhook (`storage_health`).
    health: StorageHealth,
    /// The configured member cards (a binding job reads its card's).
    cards: Arc<CardRules>,
    /// The WeChat tag of each member level (`[[member_tags]]`).
    tag_of_level: Arc<HashMap<String, String>>,
}

impl Worker {
    pub fn new(settings: &Settings, services: &Services) -> Result<Self, ConfigError> {
        Ok(Self {
            db: services.db.clone(),
            tokens: services.tokens.clone(),
            distribution: services.distribution.clone(),
            settings: settings.worker.clone(),
            offset: services.stats_offset,
            clock: services.clock.clone(),
            wake: services.wake_worker.clone(),
            metrics: services.metrics.clone(),
            in_flight: Arc::default(),
            health: services.storage_health.clone(),
            cards: Arc::new(CardRules::from_settings(&settings.cards)),
            tag_of_level: Arc::new(settings.tag_of_level()),
        })
    }

    /// Claim up to `worker.concurrency` due jobs and run them concurrently to their next state.
    pub async fn run_once(&self, now: i64) -> Result<Outcome, StoreError> {
        let limit = u64::try_from(self.settings.concurrency).unwrap_or(1);
        let claimed = self.claim(now, limit).await?;
        if claimed.is_empty() {
            return Ok(Outcome::Empty);
        }
        let steps = self.run_round(&claimed, now).await;
        Ok(Outcome::Ran(self.settle_round(steps, now).await))
    }

    /// Claim up to `limit` due jobs; they count as in flight until they ran (or are released).
    async fn claim(&self, now: i64, limit: u64) -> Result<Vec<Claimed>, StoreError> {
        let lease = i64::try_from(self.settings.lease_secs).unwrap_or(60);
        // One statement: the candidates are picked and taken in the same UPDATE.
        let claimed = jobs::claim(&self.db, now, lease, limit).await?;
        for job in &claimed {
            self.track(job, true);
        }
        Ok(claimed)
    }

    /// Run claimed jobs concurrently to their next state (activations still to be recorded).
    async fn run_round(&self, claimed: &[Claimed], now: i64) -> Vec<Step> {
        futures_util::future::join_all(claimed.iter().map(|job| self.run_job(job, now))).await
    }

    /// Record a round's activations in one transaction (one commit, not one per job); returns
    /// every job's outcome.
    async fn settle_round(&self, steps: Vec<Step>, now: i64) -> Vec<JobOutcome> {
        let activated: Vec<outcome::Activated> = steps
            .iter()
            .filter_map(|step| match step {
                Step::Activated(a) => Some(a.as_ref().clone()),
                Step::Settled(_) => None,
            })
            .collect();
        let mut completed = match self.complete_activations(&activated, now).await {
            Ok(outcomes) => outcomes.into_iter(),
            Err(e) => {
                self.health.note(&e);
                tracing::error!(error.message = %e, "activations could not be recorded; their leases expire and WeChat is asked again");
                vec![JobOutcome::RetryLater; activated.len()].into_iter()
            }
        };
        steps
            .into_iter()
            .map(|step| match step {
                Step::Settled(outcome) => outcome,
                Step::Activated(_) => completed.next().unwrap_or(JobOutcome::RetryLater),
            })
            .collect()
    }

    async fn run_job(&self, job: &Claimed, now: i64) -> Step {
        self.track(job, true);
        // A panicking job is a failed job, not a dead worker.
        let result = AssertUnwindSafe(self.execute(job, now))
            .catch_unwind()
            .await;
        self.track(job, false);
        match result {
            Ok(Ok(step)) => step,
            Ok(Err(e)) => {
                self.health.note(&e);
                tracing::error!(job_id = job.id, error.message = %e, "job could not be settled; its lease will expire and it runs again");
                Step::Settled(JobOutcome::RetryLater)
            }
            Err(_) => {
                tracing::error!(
                    job_id = job.id,
                    "job panicked; it runs again after its lease"
                );
                Step::Settled(JobOutcome::RetryLater)
            }
        }
    }

    fn track(&self, job: &Claimed, running: bool) {
        if let Ok(mut in_flight) = self.in_flight.lock() {
            if running {
                in_flight.insert(job.id, job.claim_token.clone());
            } else {
                in_flight.remove(&job.id);
            }
        }
    }

    /// Loop until `shutdown`, keeping `worker.concurrency` jobs running: a job starts as soon as a
    /// slot frees, not when the slowest job of a round ends. Three parts run side by side, so no
    /// database write (each may wait behind the receiver's batches for SQLite's write lock) sits
    /// on an activation's path (docs/PERFORMANCE.md, "Activation worker"):
    /// - the claimer keeps up to `concurrency` due jobs claimed ahead, several per claim;
    /// - the runner starts each claimed job when a slot is free;
    /// - the recorder records finished activations, whatever finished together in one transaction.
    ///
    /// On shutdown no new job starts; running ones get `worker.drain_timeout_secs`; finished ones
    /// are recorded; whatever is still claimed (running past the drain, or claimed ahead) goes back.
    pub async fn run(self, shutdown: CancellationToken) {
        let concurrency = self.settings.concurrency.max(1);
        let (ready_tx, mut ready) = mpsc::channel(concurrency);
        let (finished_tx, finished) = mpsc::unbounded_channel::<Recording>();
        let stop_claiming = CancellationToken::new();
        let claimer = tokio::spawn(self.clone().claim_ahead(ready_tx, stop_claiming.clone()));
        let recorder = tokio::spawn(self.clone().record_finished(finished));
        let slots = Arc::new(Semaphore::new(concurrency));
        // Activations WeChat made but the database does not know yet are bounded too: a crash
        // repeats at most 2 × concurrency of them (the old rounds' bound: one running, one
        // being recorded).
        let unrecorded = Arc::new(Semaphore::new(2 * concurrency));
        let mut running = JoinSet::new();
        loop {
            let next = async {
                let record = unrecorded.clone().acquire_owned().await.ok()?;
                let slot = slots.clone().acquire_owned().await.ok()?;
                Some((slot, record, ready.recv().await?))
            };
            let (slot, record, job) = tokio::select! {
                next = next => match next {
                    Some(next) => next,
                    None => break,
                },
                _ = shutdown.cancelled() => break,
            };
            let worker = self.clone();
            let finished = finished_tx.clone();
            running.spawn(async move {
                let step = worker.run_job(&job, worker.clock.now()).await;
                drop(slot);
                if let Step::Activated(done) = step {
                    let _ = finished.send((*done, record));
                }
            });
            while running.try_join_next().is_some() {}
        }
        stop_claiming.cancel();
        let drain = Duration::from_secs(self.settings.drain_timeout_secs);
        let drained = tokio::time::timeout(drain, async {
            while running.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            // Jobs still running stay in flight and are released below.
            running.shutdown().await;
        }
        drop(finished_tx);
        let _ = recorder.await;
        let _ = claimer.await;
        drop(ready);
        self.release_in_flight().await;
    }

    /// Keep up to the runner's capacity of due jobs claimed ahead. A claim waits until half the
    /// buffer is free, so one claim serves several jobs.
    async fn claim_ahead(self, ready: mpsc::Sender<Claimed>, stop: CancellationToken) {
        let poll = Duration::from_millis(self.settings.poll_interval_ms.max(10));
        let half = ready.max_capacity().div_ceil(2);
        loop {
            // Register interest before looking, so a push committed meanwhile is not missed.
            let notified = self.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            tokio::select! {
                room = ready.reserve_many(half) => if room.is_err() { return },
                _ = stop.cancelled() => return,
            }
            let limit = u64::try_from(ready.capacity()).unwrap_or(1);
            let claimed = match self.claim(self.clock.now(), limit).await {
                Ok(claimed) => claimed,
                Err(e) => {
                    self.health.note(&e);
                    tracing::error!(error.message = %e, "worker could not claim jobs");
                    Vec::new()
                }
            };
            if claimed.is_empty() {
                tokio::select! {
                    _ = &mut notified => {}
                    _ = tokio::time::sleep(poll) => {}
                    _ = stop.cancelled() => return,
                }
                continue;
            }
            for job in claimed {
                // Only this task sends, and it claimed no more than the free room: this does not
                // wait. A closed runner leaves the job in flight, released at shutdown.
                if ready.send(job).await.is_err() {
                    return;
                }
            }
        }
    }

    /// Record finished activations: whatever finished together, in one transaction.
    async fn record_finished(self, mut finished: mpsc::UnboundedReceiver<Recording>) {
        let mut batch = Vec::new();
        let mut permits = Vec::new();
        while let Some(first) = finished.recv().await {
            let mut next = Some(first);
            while let Some((done, permit)) = next {
                batch.push(done);
                permits.push(permit);
                next = finished.try_recv().ok();
            }
            if let Err(e) = self.complete_activations(&batch, self.clock.now()).await {
                self.health.note(&e);
                tracing::error!(error.message = %e, "activations could not be recorded; their leases expire and WeChat is asked again");
            }
            batch.clear();
            // Recorded (or given up on): room for new jobs.
            permits.clear();
        }
    }

    async fn release_in_flight(&self) {
        let held: Vec<(i64, String)> = match self.in_flight.lock() {
            Ok(in_flight) => in_flight
                .iter()
                .map(|(id, token)| (*id, token.clone()))
                .collect(),
            Err(_) => return,
        };
        for (id, token) in held {
            match jobs::release(&self.db, id, &token, self.clock.now()).await {
                Ok(_) => tracing::warn!(job_id = id, "released an unfinished job at shutdown"),
                Err(e) => {
                    tracing::error!(job_id = id, error.message = %e, "could not release a job; it runs again after its lease")
                }
            }
        }
    }
}

impl Worker {
    /// Run one claimed job to its next state.
    pub(super) async fn execute(&self, job: &Claimed, now: i64) -> Result<Step, StoreError> {
        match serde_json::from_str::<JobPayload>(&job.payload) {
            Ok(JobPayload::ActivateMemberCardV1 { appid, request, .. }) => {
                self.activate(job, &appid, &request, now).await
            }
            Ok(JobPayload::BindMemberV1 {
                appid,
                openid,
                card_id,
                code,
            }) => {
                let claim = bind::OneClick {
                    appid: &appid,
                    openid: &openid,
                    card_id: &card_id,
                    code: &code,
                };
                self.bind_member(job, &claim, now).await.map(Step::Settled)
            }
            Ok(JobPayload::UpdateMemberV1 { appid, member_no }) => self
                .update_member(job, &appid, &member_no, now)
                .await
                .map(Step::Settled),
            Ok(JobPayload::SendCardV1 {
                appid,
                openid,
                card_id,
                outer_str,
            }) => {
                let order = SendCardOrder {
                    appid: Some(appid),
                    card_id,
                    openid,
                    outer_str: Some(outer_str),
                };
                self.send_card(job, order, now).await.map(Step::Settled)
            }
            Ok(JobPayload::TagMemberV1 { appid, member_no }) => self
                .tag_member(job, &appid, &member_no, now)
                .await
                .map(Step::Settled),
            Ok(JobPayload::UntagOpenidV1 { appid, openid, tag }) => self
                .untag_openid(job, &appid, &openid, &tag, now)
                .await
                .map(Step::Settled),
            Err(e) => {
                let reason = format!("unreadable {} payload: {e}", job.kind);
                self.bury(job, &reason, now).await.map(Step::Settled)
            }
        }
    }
}
