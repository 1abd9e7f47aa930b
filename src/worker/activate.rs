//! Running one activation job: token, `/card/membercard/activate`, and what each answer means.

use rand::SeedableRng;
use sea_orm::ConnectionTrait;

use super::outcome::{activated, Activated, JobOutcome, Step};
use super::Worker;
use crate::credentials::TokenError;
use crate::jobs::JobPayload;
use crate::retry_schedule::{next_day, next_run};
use crate::store::channel_day::{self, ChannelDelta, Counts};
use crate::store::jobs::{self, Claimed};
use crate::store::{bindings, members, outbox, published, push::day_of, StoreError};
use crate::wechat::ids::{CardId, Code};
use crate::wechat_api::membercard::MemberActivation;
use crate::wechat_api::Retry;

impl Worker {
    /// `/card/membercard/activate`, and what its answer means.
    pub(super) async fn activate(
        &self,
        job: &Claimed,
        appid: &str,
        request: &MemberActivation,
        now: i64,
    ) -> Result<Step, StoreError> {
        let result = self.call_activate(appid, request, now).await;
        let error = match result {
            Ok(()) => {
                self.metrics.observe_activation("ok", "0");
                return Ok(activated(job, appid, request));
            }
            Err(error) => error,
        };
        if let TokenError::Store(e) = &error {
            self.health.note(e);
        }
        let errcode = match &error {
            TokenError::Api(api) => api.code_label(),
            TokenError::NoSecret(_) => "no_secret".to_owned(),
            TokenError::Busy => "token_busy".to_owned(),
            TokenError::Store(_) => "store".to_owned(),
        };
        self.metrics.observe_activation("error", &errcode);
        let reason = error.to_string();
        tracing::warn!(job_id = job.id, appid, card_id = %request.card_id, error.message = %reason, "activation failed");
        let settled = match error {
            TokenError::NoSecret(_) => self.bury(job, &reason, now).await,
            TokenError::Busy | TokenError::Store(_) => self.retry(job, &reason, now).await,
            TokenError::Api(api) => match api.retry() {
                Retry::Later | Retry::RefreshToken => self.retry(job, &reason, now).await,
                Retry::QuotaExhausted => {
                    let until = next_day(now, self.offset);
                    let prefix = JobPayload::account_prefix(appid);
                    let paused = jobs::pause_prefix(&self.db, &prefix, until, now).await?;
                    tracing::error!(appid, until, paused, "WeChat daily API quota (45009) used up: this account's activations wait until the next day");
                    jobs::retry_later(&self.db, job.id, &job.claim_token, until, &reason, now)
                        .await?;
                    Ok(JobOutcome::Paused)
                }
                // An earlier attempt may have worked with its answer lost: ask WeChat first.
                Retry::Never | Retry::Unknown => {
                    if self.already_active(appid, request, now).await {
                        return Ok(activated(job, appid, request));
                    }
                    if api.retry() == Retry::Never {
                        self.bury(job, &reason, now).await
                    } else {
                        self.retry(job, &reason, now).await
                    }
                }
            },
        };
        settled.map(Step::Settled)
    }

    /// Activate with the shared token (refreshed once if WeChat refuses it).
    async fn call_activate(
        &self,
        appid: &str,
        activation: &MemberActivation,
        now: i64,
    ) -> Result<(), TokenError> {
        let api = self.tokens.api();
        self.tokens
            .with_token(appid, now, |token| async move {
                api.activate(&token, activation).await
            })
            .await
    }

    async fn already_active(&self, appid: &str, request: &MemberActivation, now: i64) -> bool {
        let Ok(token) = self.tokens.get(appid, now).await else {
            return false;
        };
        matches!(
            self.tokens
                .api()
                .is_active(&token, &request.card_id, &request.code)
                .await,
            Ok(true)
        )
    }

    /// Record a round's activations in one transaction: each job done, its binding activated and
    /// its channel's counter raised — only for jobs this worker still holds (the others are
    /// `LostClaim` and change nothing).
    pub(super) async fn complete_activations(
        &self,
        done: &[Activated],
        now: i64,
    ) -> Result<Vec<JobOutcome>, StoreError> {
        // Nothing to record (an idle poll, a round that settled on its own): no transaction.
        if done.is_empty() {
            return Ok(Vec::new());
        }
        // A transaction that lost a deadlock or a connection is tried again: giving up would let
        // the leases expire and ask WeChat a second time.
        let mut attempt = 1;
        loop {
            match self.record_activations(done, now).await {
                Err(e) if attempt < 3 && !matches!(e, StoreError::Disk(_)) => {
                    tracing::warn!(error.message = %e, attempt, "recording activations failed; trying again");
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    async fn record_activations(
        &self,
        done: &[Activated],
        now: i64,
    ) -> Result<Vec<JobOutcome>, StoreError> {
        let txn = self.db.begin_write().await?;
        let outcomes = self.record_in(&txn, done, now).await?;
        // Committed is durable: SQLite at synchronous = FULL, PostgreSQL with synchronous_commit.
        txn.commit().await?;
        for (a, outcome) in done.iter().zip(&outcomes) {
            if *outcome == JobOutcome::Done {
                tracing::info!(job_id = a.id, appid = %a.appid, card_id = %a.request.card_id, "member card activated");
            }
        }
        Ok(outcomes)
    }

    /// Each job done, its binding activated and its channel's counter raised, in `txn`.
    async fn record_in(
        &self,
        txn: &impl ConnectionTrait,
        done: &[Activated],
        now: i64,
    ) -> Result<Vec<JobOutcome>, StoreError> {
        let mut outcomes = vec![JobOutcome::LostClaim; done.len()];
        let mut counters = channel_day::Batch::default();
        let mut activated = Vec::new();
        // Binding order, as the ingest writer's: concurrent transactions lock rows in one order.
        let mut order: Vec<usize> = (0..done.len()).collect();
        order.sort_by_key(|&i| {
            (
                &done[i].appid,
                &done[i].request.card_id,
                &done[i].request.code,
            )
        });
        for i in order {
            let a = &done[i];
            if !jobs::complete(txn, a.id, &a.claim_token, now).await? {
                continue;
            }
            let card_id = CardId(a.request.card_id.clone());
            let code = Code(a.request.code.clone());
            let binding = bindings::mark_activated(
                txn,
                &a.appid,
                &card_id,
                &code,
                &a.request.membership_number,
                now,
            )
            .await?;
            let shown = (a.request.init_bonus, a.request.init_balance);
            let card = (a.appid.as_str(), card_id.as_str(), code.as_str());
            let member = members::mark_activated(txn, card, shown, now).await?;
            if let Some(member) = &member {
                // Changed since the activation was queued: WeChat gets the member's values now.
                if (member.bonus, member.balance) != shown {
                    jobs::requeue(txn, &[JobPayload::update_member(member).to_job()], now).await?;
                }
            }
            let fields = published::Activated {
                card_id: card_id.as_str(),
                code: code.as_str(),
                membership_number: &a.request.membership_number,
                member_no: member.as_ref().map(|m| m.member_no.as_str()),
            };
            activated.push(published::activated(&a.appid, a.id, &fields, now));
            let counts = Counts {
                activated: 1,
                ..Counts::default()
            };
            counters.add(ChannelDelta::for_binding(
                &a.appid,
                &card_id,
                binding.as_ref(),
                &day_of(now, self.offset),
                counts,
            ));
            outcomes[i] = JobOutcome::Done;
        }
        counters.flush(txn).await?;
        // Last, so that on PostgreSQL the lock that orders events is held only to the commit.
        outbox::insert(txn, &activated).await?;
        Ok(outcomes)
    }

    pub(super) async fn retry(
        &self,
        job: &Claimed,
        reason: &str,
        now: i64,
    ) -> Result<JobOutcome, StoreError> {
        let mut rng = rand::rngs::StdRng::from_entropy();
        let schedule = &self.settings.retry_schedule_secs;
        match next_run(
            now,
            job.attempts,
            schedule,
            self.settings.retry_jitter,
            &mut rng,
        ) {
            Some(at) => {
                let held =
                    jobs::retry_later(&self.db, job.id, &job.claim_token, at, reason, now).await?;
                Ok(JobOutcome::RetryLater.if_held(held))
            }
            None => {
                self.bury(
                    job,
                    &format!(
                        "retries exhausted after {} attempts: {reason}",
                        job.attempts
                    ),
                    now,
                )
                .await
            }
        }
    }

    pub(super) async fn bury(
        &self,
        job: &Claimed,
        reason: &str,
        now: i64,
    ) -> Result<JobOutcome, StoreError> {
        tracing::error!(job_id = job.id, reason, "job is dead");
        let held = jobs::bury(&self.db, job.id, &job.claim_token, reason, now).await?;
        Ok(JobOutcome::Dead.if_held(held))
    }

    /// Mark a held job done.
    pub(super) async fn complete(&self, job: &Claimed, now: i64) -> Result<JobOutcome, StoreError> {
        let held = jobs::complete(&self.db, job.id, &job.claim_token, now).await?;
        Ok(JobOutcome::Done.if_held(held))
    }
}
