//! Running a `tag_member` job: the member's OpenID under the WeChat tag of its level, out of the one
//! it was under (`members::tags`, the same as `cardhook members tag` for one member).

use super::outcome::JobOutcome;
use super::Worker;
use crate::members::tags;
use crate::members::MembersError;
use crate::store::jobs::Claimed;
use crate::store::{members, StoreError};

impl Worker {
    pub(super) async fn tag_member(
        &self,
        job: &Claimed,
        appid: &str,
        member_no: &str,
        now: i64,
    ) -> Result<JobOutcome, StoreError> {
        let Some(member) = members::get(&self.db, appid, member_no).await? else {
            return self.bury(job, "the member no longer exists", now).await;
        };
        let moves = tags::moves(&[member], &self.tag_of_level);
        match tags::apply(&self.db, &self.tokens, appid, &moves, false, now).await {
            Ok(report) if report.failed > 0 => {
                let reason =
                    "WeChat refused to tag the member's OpenID (does it still follow the account?)";
                self.bury(job, reason, now).await
            }
            Ok(_) => {
                // A level an import changed while this ran: the job runs again (a requeue leaves a
                // running job alone).
                let member = members::get(&self.db, appid, member_no).await?;
                match member.map(|m| tags::moves(&[m], &self.tag_of_level).is_empty()) {
                    Some(false) => {
                        self.retry(job, "the level changed while tagging", now)
                            .await
                    }
                    _ => self.complete(job, now).await,
                }
            }
            Err(error) => self.tagging_failed(job, error, now).await,
        }
    }

    /// Take `openid` out of tag `tag` (its member's card was taken back).
    pub(super) async fn untag_openid(
        &self,
        job: &Claimed,
        appid: &str,
        openid: &str,
        tag: &str,
        now: i64,
    ) -> Result<JobOutcome, StoreError> {
        let api = self.tokens.api();
        let found = self
            .tokens
            .with_token(
                appid,
                now,
                |token| async move { api.tag_id(&token, tag).await },
            )
            .await;
        let tag_id = match found {
            Ok(tag_id) => tag_id,
            Err(error) => return self.failed_call(job, error, now).await,
        };
        let Some(tag_id) = tag_id else {
            // The tag is gone at WeChat: nobody is under it.
            return self.complete(job, now).await;
        };
        let openids = [openid.to_owned()];
        let openids = &openids;
        let untagged = self
            .tokens
            .with_token(appid, now, |token| async move {
                api.tag_users(&token, tag_id, openids, false).await
            })
            .await;
        match untagged {
            Ok(()) => self.complete(job, now).await,
            Err(error) => self.failed_call(job, error, now).await,
        }
    }

    async fn tagging_failed(
        &self,
        job: &Claimed,
        error: MembersError,
        now: i64,
    ) -> Result<JobOutcome, StoreError> {
        match error {
            MembersError::Credential(error) => self.failed_call(job, error, now).await,
            MembersError::Store(e) => Err(e),
            other => self.bury(job, &other.to_string(), now).await,
        }
    }
}
