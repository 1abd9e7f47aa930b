//! Running a one-click binding job (`activation = "on_submit"`, `bind_by = "phone"`): read the mobile
//! number the customer gave on the card's form (`/card/membercard/userinfo/get`), bind the member with
//! that phone, and queue the activation — `members::bind`, the same as the H5 page.

use super::outcome::JobOutcome;
use super::Worker;
use crate::credentials::TokenError;
use crate::members::bind::{self, Bound, Claim};
use crate::members::phone;
use crate::store::jobs::Claimed;
use crate::store::StoreError;
use crate::wechat_api::Retry;

/// The card code whose one-click form was submitted, and by whom.
pub struct OneClick<'a> {
    pub appid: &'a str,
    pub openid: &'a str,
    pub card_id: &'a str,
    pub code: &'a str,
}

impl Worker {
    pub(super) async fn bind_member(
        &self,
        job: &Claimed,
        one_click: &OneClick<'_>,
        now: i64,
    ) -> Result<JobOutcome, StoreError> {
        let Some(card) = self.cards.card(one_click.card_id) else {
            let reason = format!(
                "card {} is no longer configured under [[cards]]",
                one_click.card_id
            );
            return self.bury(job, &reason, now).await;
        };
        let api = self.tokens.api();
        let mobile = self
            .tokens
            .with_token(one_click.appid, now, |token| async move {
                api.form_mobile(&token, one_click.card_id, one_click.code)
                    .await
            })
            .await;
        let mobile = match mobile {
            Ok(Some(mobile)) => mobile,
            Ok(None) => {
                let reason = format!(
                    "the one-click form of card {} gave no mobile number (its form needs USER_FORM_INFO_FLAG_MOBILE)",
                    card.card_id
                );
                self.metrics.observe_binding("one_click", "no_mobile");
                return self.bury(job, &reason, now).await;
            }
            Err(error) => return self.failed_call(job, error, now).await,
        };
        let phone = match phone::normalise(&mobile) {
            Ok(phone) => phone,
            Err(e) => {
                self.metrics.observe_binding("one_click", "bad_phone");
                return self
                    .bury(job, &format!("the form's mobile number: {e}"), now)
                    .await;
            }
        };
        let claim = Claim {
            appid: one_click.appid,
            card,
            code: one_click.code,
            openid: one_click.openid,
            phone: &phone,
            tagging: !self.tag_of_level.is_empty(),
            stats_offset: self.offset,
        };
        // WeChat verified the form's mobile number by SMS (reference 003, 一键激活).
        let label = match bind::bind(&self.db, &claim, bind::Proof::WeChatForm, now).await? {
            Ok(Bound::New(_)) => {
                // Its activation is queued.
                self.wake.notify_one();
                "bound"
            }
            Ok(Bound::Already(_)) => "already",
            Err(refusal) => {
                self.metrics.observe_binding("one_click", refusal.label());
                tracing::warn!(job_id = job.id, appid = one_click.appid, card_id = %card.card_id, outcome = refusal.label(), "one-click binding refused");
                return self.bury(job, &format!("not bound: {refusal}"), now).await;
            }
        };
        self.metrics.observe_binding("one_click", label);
        tracing::info!(job_id = job.id, appid = one_click.appid, card_id = %card.card_id, outcome = label, "member binding");
        self.complete(job, now).await
    }

    /// A WeChat call of a job that failed: retried while it may succeed later, dead when it cannot.
    pub(super) async fn failed_call(
        &self,
        job: &Claimed,
        error: TokenError,
        now: i64,
    ) -> Result<JobOutcome, StoreError> {
        if let TokenError::Store(e) = &error {
            self.health.note(e);
        }
        let reason = error.to_string();
        tracing::warn!(job_id = job.id, error.message = %reason, "WeChat call failed");
        match error {
            TokenError::NoSecret(_) => self.bury(job, &reason, now).await,
            TokenError::Api(api) if api.retry() == Retry::Never => {
                self.bury(job, &reason, now).await
            }
            _ => self.retry(job, &reason, now).await,
        }
    }
}
