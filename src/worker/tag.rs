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
            Ok(_) => self.complete(job, now).await,
            Err(MembersError::Credential(error)) => self.failed_call(job, error, now).await,
            Err(MembersError::Store(e)) => Err(e),
            Err(other) => self.bury(job, &other.to_string(), now).await,
        }
    }
}
