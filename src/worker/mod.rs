//! The activation worker: claims due jobs from the durable queue and runs them against the WeChat
//! API, never on the request path. `run_once(now)` is the unit; `run` loops on it until shutdown.

pub mod activate;
pub mod retry;

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::FixedOffset;
use futures_util::FutureExt;
use sea_orm::DatabaseConnection;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::{ConfigError, Settings, WorkerSettings};
use crate::credentials::TokenProvider;
use crate::metrics::Metrics;
use crate::store::jobs::{self, Claimed};
use crate::store::StoreError;
use crate::wechat_api::WechatApi;
use activate::{JobOutcome, Step};

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
    db: DatabaseConnection,
    api: WechatApi,
    tokens: TokenProvider,
    settings: WorkerSettings,
    offset: FixedOffset,
    clock: Clock,
    wake: Arc<Notify>,
    metrics: Metrics,
    /// Claims in flight, so a shutdown past the drain timeout can hand them back.
    in_flight: Arc<Mutex<HashMap<i64, String>>>,
}

impl Worker {
    pub fn new(
        settings: &Settings,
        db: DatabaseConnection,
        tokens: TokenProvider,
        clock: Clock,
        wake: Arc<Notify>,
        metrics: Metrics,
    ) -> Result<Self, ConfigError> {
        let api = tokens.api().clone();
        Ok(Self {
            db,
            api,
            tokens,
            settings: settings.worker.clone(),
            offset: settings.stats_offset()?,
            clock,
            wake,
            metrics,
            in_flight: Arc::default(),
        })
    }

    /// Claim up to `worker.concurrency` due jobs and run them concurrently to their next state.
    pub async fn run_once(&self, now: i64) -> Result<Outcome, StoreError> {
        let claimed = self.claim(now).await?;
        if claimed.is_empty() {
            return Ok(Outcome::Empty);
        }
        let steps = self.run_round(&claimed, now).await;
        Ok(Outcome::Ran(self.settle_round(steps, now).await))
    }

    /// Claim up to `worker.concurrency` due jobs; they count as in flight until they ran.
    async fn claim(&self, now: i64) -> Result<Vec<Claimed>, StoreError> {
        let lease = i64::try_from(self.settings.lease_secs).unwrap_or(60);
        let limit = u64::try_from(self.settings.concurrency).unwrap_or(1);
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
        let activated: Vec<activate::Activated> = steps
            .iter()
            .filter_map(|step| match step {
                Step::Activated(a) => Some(a.as_ref().clone()),
                Step::Settled(_) => None,
            })
            .collect();
        let mut completed = match self.complete_activations(&activated, now).await {
            Ok(outcomes) => outcomes.into_iter(),
            Err(e) => {
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

    /// Loop until `shutdown`: wake on the receiver's notify, else poll; on shutdown let running
    /// jobs finish within `worker.drain_timeout_secs`, then release what is still claimed.
    ///
    /// Rounds are pipelined: while one round's API calls run, the previous round's activations
    /// are recorded and the next round is claimed. Both are database writes that may wait behind
    /// the receiver's batches for SQLite's write lock; overlapping them with the calls keeps that
    /// wait off the activations' critical path (docs/PERFORMANCE.md, "Activation worker").
    pub async fn run(self, shutdown: CancellationToken) {
        let poll = Duration::from_millis(self.settings.poll_interval_ms.max(10));
        let mut claimed: Vec<Claimed> = Vec::new();
        let mut unsettled: Vec<Step> = Vec::new();
        loop {
            // Register interest before looking, so a push committed meanwhile is not missed.
            let notified = self.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let now = self.clock.now();
            if claimed.is_empty() {
                self.settle_round(std::mem::take(&mut unsettled), now).await;
                claimed = self.claim(now).await.unwrap_or_else(|e| {
                    tracing::error!(error.message = %e, "worker could not claim jobs");
                    Vec::new()
                });
                if claimed.is_empty() {
                    tokio::select! {
                        _ = &mut notified => {}
                        _ = tokio::time::sleep(poll) => {}
                        _ = shutdown.cancelled() => return,
                    }
                    continue;
                }
            }
            let previous = std::mem::take(&mut unsettled);
            let finished = {
                let round = async {
                    tokio::join!(self.run_round(&claimed, now), async {
                        self.settle_round(previous, now).await;
                        self.claim(now).await
                    })
                };
                tokio::pin!(round);
                tokio::select! {
                    done = &mut round => Some(done),
                    _ = shutdown.cancelled() => {
                        let drain = Duration::from_secs(self.settings.drain_timeout_secs);
                        if let Ok((steps, _)) = tokio::time::timeout(drain, round).await {
                            self.settle_round(steps, self.clock.now()).await;
                        }
                        None
                    }
                }
            };
            let Some((steps, next)) = finished else {
                // Whatever is still claimed (running past the drain, or claimed ahead) goes back.
                self.release_in_flight().await;
                return;
            };
            unsettled = steps;
            claimed = next.unwrap_or_else(|e| {
                tracing::error!(error.message = %e, "worker could not claim jobs");
                Vec::new()
            });
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
