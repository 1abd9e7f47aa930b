//! `members reconcile`: what WeChat shows of each activated member card's points and balance
//! (`/card/membercard/userinfo/get`, reference §4.3), compared with cardhook's; a fix queues the
//! `update_member` job of each member that differs.

use futures_util::stream::{self, StreamExt};
use serde::Serialize;

use super::{sync, MembersError};
use crate::clock::Clock;
use crate::credentials::TokenProvider;
use crate::store::Db;
use crate::store::{members, StoreError};
use entity::member::Model;

/// A member whose card shows other points or balance than cardhook has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    pub member_no: String,
    pub card_id: String,
    /// cardhook's values.
    pub bonus: i64,
    pub balance: i64,
    /// What the card shows.
    pub wechat_bonus: i64,
    pub wechat_balance: i64,
}

/// A member whose card could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unread {
    pub member_no: String,
    pub error: String,
}

/// What one pass found, by member number.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Checked {
    pub checked: usize,
    pub drift: Vec<Drift>,
    pub unread: Vec<Unread>,
}

/// What `members reconcile` found and, with `--fix`, what still differs after the fixes ran.
#[derive(Debug, Serialize)]
pub struct Reconciled {
    #[serde(flatten)]
    pub found: Checked,
    /// With --fix: the updates queued, and the members that still differ once they ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed: Option<Fixed>,
}

#[derive(Debug, Serialize)]
pub struct Fixed {
    pub queued: usize,
    pub still_differ: Vec<Drift>,
}

impl Reconciled {
    /// The members that differ from WeChat when the command ends.
    pub fn remaining(&self) -> &[Drift] {
        match &self.fixed {
            Some(fixed) => &fixed.still_differ,
            None => &self.found.drift,
        }
    }
}

/// Reads WeChat for members, a bounded number at a time.
pub struct Reconciler<'a> {
    pub db: &'a Db,
    pub tokens: &'a TokenProvider,
    pub clock: &'a Clock,
    pub appid: &'a str,
    /// Reads in flight at once.
    pub concurrency: usize,
}

impl Reconciler<'_> {
    /// The members to check: bound to an activated card (of `card_id`, if given).
    pub async fn members(&self, card_id: Option<&str>) -> Result<Vec<Model>, MembersError> {
        if !self.tokens.has_secret(self.appid) {
            return Err(MembersError::Invalid(format!(
                "account {} has no app_secret: WeChat cannot be read",
                self.appid
            )));
        }
        Ok(members::activated(self.db, self.appid, card_id).await?)
    }

    /// Read what WeChat shows of each member's card, record it, and compare it with cardhook's
    /// values. `progress` is told (done, total) after each read.
    pub async fn check(
        &self,
        to_check: &[Model],
        progress: &dyn Fn(usize, usize),
    ) -> Result<Checked, MembersError> {
        let total = to_check.len();
        let mut reads = stream::iter(to_check)
            .map(|member| async move { (member, self.read(member).await) })
            .buffer_unordered(self.concurrency.max(1));
        let mut found = Checked::default();
        while let Some((member, read)) = reads.next().await {
            found.checked += 1;
            progress(found.checked, total);
            let (card_id, shown) = match read {
                Ok(read) => read,
                Err(error) => {
                    found.unread.push(Unread {
                        member_no: member.member_no.clone(),
                        error,
                    });
                    continue;
                }
            };
            // Compared with the member as it is now, not as it was listed.
            let noted = members::note_shown(
                self.db,
                self.appid,
                &member.member_no,
                shown,
                self.clock.now(),
            )
            .await?;
            let Some(now) = noted else { continue };
            if (now.bonus, now.balance) != shown {
                found.drift.push(Drift {
                    member_no: now.member_no,
                    card_id,
                    bonus: now.bonus,
                    balance: now.balance,
                    wechat_bonus: shown.0,
                    wechat_balance: shown.1,
                });
            }
        }
        found.drift.sort_by(|a, b| a.member_no.cmp(&b.member_no));
        found.unread.sort_by(|a, b| a.member_no.cmp(&b.member_no));
        Ok(found)
    }

    /// The card and what it shows (points, balance), or why it could not be read.
    async fn read(&self, member: &Model) -> Result<(String, (i64, i64)), String> {
        let (Some(card_id), Some(code)) = (&member.card_id, &member.code) else {
            return Err("not bound to a card".to_owned());
        };
        let api = self.tokens.api();
        let shown = self
            .tokens
            .with_token(self.appid, self.clock.now(), |token| async move {
                api.shown_values(&token, card_id, code).await
            })
            .await
            .map_err(|e| e.to_string())?;
        Ok((card_id.clone(), shown))
    }

    /// Queue the update of each drifted member, in one transaction; the jobs' dedup keys.
    pub async fn queue_fixes(&self, drift: &[Drift]) -> Result<Vec<String>, MembersError> {
        let member_nos: Vec<String> = drift.iter().map(|d| d.member_no.clone()).collect();
        let txn = self.db.begin_write().await?;
        let keys = sync::queue_changed(&txn, self.appid, &member_nos, self.clock.now()).await?;
        txn.commit().await.map_err(StoreError::from)?;
        Ok(keys)
    }
}
