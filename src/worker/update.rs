//! Running an `update_member` job: a bound member's points and balance sent to WeChat
//! (`/card/membercard/updateuser`, reference §4.2), exactly once in effect.
//!
//! The job carries no values: it reads the member when it runs, so the updates made before it runs
//! share one call with the latest values. The values are absolute, so a retried call (its answer lost)
//! does no harm; `add_bonus`/`add_balance` are the change against what WeChat last confirmed and only
//! word the message the customer gets. A retry reads the card first (`userinfo/get`): when the lost
//! attempt already landed, it is only confirmed, so the customer gets one message. WeChat's answer
//! (`result_bonus`, `result_balance`) is recorded with the job's completion, in one transaction; a
//! change made while the call was in flight queues the job again in that transaction.

use super::outcome::JobOutcome;
use super::Worker;
use crate::jobs::JobPayload;
use crate::store::jobs::{self, Claimed};
use crate::store::members::{self, Sent};
use crate::store::StoreError;
use crate::wechat_api::membercard::{NotifyOptional, UpdateUser};
use entity::member::Model;

impl Worker {
    pub(super) async fn update_member(
        &self,
        job: &Claimed,
        appid: &str,
        member_no: &str,
        now: i64,
    ) -> Result<JobOutcome, StoreError> {
        let Some(member) = members::get(&self.db, appid, member_no).await? else {
            return self.bury(job, "the member no longer exists", now).await;
        };
        let (Some(card_id), Some(code), Some(_)) =
            (&member.card_id, &member.code, member.activated_at)
        else {
            // Not bound, or not activated yet: the values go to WeChat with the activation.
            return self.no_call_needed(job, "not_activated", now).await;
        };
        if members::wechat_shows_ours(&member) {
            return self.no_call_needed(job, "unchanged", now).await;
        }
        let mut shown = (
            member.wechat_bonus.unwrap_or(member.bonus),
            member.wechat_balance.unwrap_or(member.balance),
        );
        if job.attempts > 1 {
            // An earlier attempt may have reached WeChat with its answer lost: read the card first,
            // so the customer gets one change message and its text counts from what the card shows.
            let api = self.tokens.api();
            let read = self
                .tokens
                .with_token(appid, now, |token| async move {
                    api.shown_values(&token, card_id, code).await
                })
                .await;
            shown = match read {
                Ok(read) => read,
                Err(error) => return self.failed_call(job, error, now).await,
            };
            if shown == (member.bonus, member.balance) {
                // It did: what that attempt sent is confirmed (its echo was registered before it).
                let sent = Sent {
                    revision: member.revision,
                };
                self.metrics.observe_member_update("already");
                return self.confirm(job, &member, sent, shown, now).await;
            }
        }
        let add_bonus = difference(member.bonus, shown.0);
        let add_balance = difference(member.balance, shown.1);
        let body = UpdateUser {
            code,
            card_id,
            bonus: member.bonus,
            add_bonus,
            record_bonus: member.record_bonus.as_deref(),
            balance: member.balance,
            add_balance,
            record_balance: member.record_balance.as_deref(),
            notify_optional: NotifyOptional {
                is_notify_bonus: add_bonus != 0,
                is_notify_balance: add_balance != 0,
            },
        };
        // Its push may come before its answer is recorded: recognise it as the echo from now on.
        members::expect_echo(&self.db, appid, member_no, (add_bonus, add_balance), now).await?;
        let api = self.tokens.api();
        let body = &body;
        let updated = self
            .tokens
            .with_token(appid, now, |token| async move {
                api.update_user(&token, body).await
            })
            .await;
        let updated = match updated {
            Ok(updated) => updated,
            Err(error) => {
                self.metrics.observe_member_update("error");
                if error.refused_by_wechat() {
                    // Nothing changed on the card: no echo will come.
                    let add = (add_bonus, add_balance);
                    members::forget_echo(&self.db, appid, member_no, add, now).await?;
                }
                return self.failed_call(job, error, now).await;
            }
        };
        self.metrics.observe_member_update("ok");
        let sent = Sent {
            revision: member.revision,
        };
        let shown = (
            updated.result_bonus.unwrap_or(member.bonus),
            updated.result_balance.unwrap_or(member.balance),
        );
        self.confirm(job, &member, sent, shown, now).await
    }

    /// WeChat shows `shown` after the update `sent`: recorded with the job's completion, in one
    /// transaction; a change made meanwhile queues the job again.
    async fn confirm(
        &self,
        job: &Claimed,
        member: &Model,
        sent: Sent,
        shown: (i64, i64),
        now: i64,
    ) -> Result<JobOutcome, StoreError> {
        let (appid, member_no) = (member.appid.as_str(), member.member_no.as_str());
        let txn = self.db.begin_write().await?;
        let after = members::confirm_sync(&txn, appid, member_no, sent, shown, now).await?;
        let held = jobs::complete(&txn, job.id, &job.claim_token, now).await?;
        if let Some(after) = after.filter(|m| held && m.revision > sent.revision) {
            // Changed while the call was in flight: send the new values after it.
            jobs::requeue(&txn, &[JobPayload::update_member(&after).to_job()], now).await?;
            self.wake.notify_one();
        }
        txn.commit().await?;
        tracing::info!(
            job_id = job.id,
            appid,
            "member points and balance confirmed by WeChat"
        );
        Ok(JobOutcome::Done.if_held(held))
    }

    /// Done without a call (`why` is logged).
    async fn no_call_needed(
        &self,
        job: &Claimed,
        why: &str,
        now: i64,
    ) -> Result<JobOutcome, StoreError> {
        tracing::debug!(job_id = job.id, why, "member update needs no call");
        self.complete(job, now).await
    }
}

/// What the change message says was added: `now - before`, saturating. Stored values are at most
/// `members::MAX_VALUE`, but the card's values are WeChat's answer, which cardhook does not bound.
fn difference(now: i64, before: i64) -> i64 {
    now.saturating_sub(before)
}
