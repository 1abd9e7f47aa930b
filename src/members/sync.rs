//! Members' points and balance set by the merchant, and the `update_member` jobs that carry them to
//! WeChat (issue 24). A member bound to an activated card gets a job; any other keeps its values
//! until its activation, which sends them.

use serde::Deserialize;

use super::MembersError;
use crate::jobs::JobPayload;
use crate::store::members::{self, ValueChange};
use crate::store::Db;
use crate::store::{jobs, StoreError};
use crate::store::{outbox, published};
use entity::member::Model;

/// What `PUT /api/v1/members/{member_no}` and `cardhook members update` set: absolute points and
/// balance (in fen), and the texts of the change messages WeChat sends the customer.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewValues {
    #[schema(minimum = 0, maximum = 2147483647)]
    pub bonus: Option<i64>,
    #[schema(minimum = 0, maximum = 2147483647)]
    pub balance: Option<i64>,
    pub record_bonus: Option<String>,
    pub record_balance: Option<String>,
}

impl NewValues {
    /// The change to store, or what is wrong with the request.
    fn change(self) -> Result<ValueChange, MembersError> {
        if self.bonus.is_none() && self.balance.is_none() {
            return Err(MembersError::Invalid(
                "nothing to change: give bonus, balance or both".to_owned(),
            ));
        }
        for (name, value) in [("bonus", self.bonus), ("balance", self.balance)] {
            if let Some(value) = value {
                crate::config::check_member_value(value)
                    .map_err(|reason| MembersError::Invalid(format!("{name} {reason}")))?;
            }
        }
        Ok(ValueChange {
            bonus: self.bonus,
            balance: self.balance,
            record_bonus: self.record_bonus.filter(|t| !t.is_empty()),
            record_balance: self.record_balance.filter(|t| !t.is_empty()),
        })
    }
}

/// Set a member's points and balance and, when its card is activated, queue their sync — in one
/// transaction. The member as it now is.
pub async fn set_values(
    db: &Db,
    appid: &str,
    member_no: &str,
    values: NewValues,
    now: i64,
) -> Result<Model, MembersError> {
    let change = values.change()?;
    let txn = db.begin_write().await?;
    let before = members::get(&txn, appid, member_no)
        .await?
        .ok_or(MembersError::UnknownMember)?;
    let member = members::change_values(&txn, appid, member_no, &change, now)
        .await?
        .ok_or(MembersError::UnknownMember)?;
    if member.activated_at.is_some() {
        jobs::requeue(&txn, &[JobPayload::update_member(&member).to_job()], now).await?;
    }
    // Last, so that on PostgreSQL the lock that orders events is held only to the commit.
    if (member.bonus, member.balance) != (before.bonus, before.balance) {
        let event =
            published::points_changed_by_cardhook((before.bonus, before.balance), &member, now);
        outbox::insert(&txn, &[event]).await?;
    }
    txn.commit().await.map_err(StoreError::from)?;
    Ok(member)
}

/// Queue the sync of those of `member_nos` (members whose points or balance changed) that are bound
/// to an activated card, in the caller's transaction; the dedup keys of the jobs queued.
pub async fn queue_changed(
    txn: &impl sea_orm::ConnectionTrait,
    appid: &str,
    member_nos: &[String],
    now: i64,
) -> Result<Vec<String>, StoreError> {
    let activated = members::activated_among(txn, appid, member_nos).await?;
    let jobs: Vec<_> = activated
        .iter()
        .map(|m| JobPayload::update_member(m).to_job())
        .collect();
    jobs::requeue(txn, &jobs, now).await?;
    Ok(jobs.into_iter().map(|job| job.dedup_key).collect())
}
