//! `bindings backfill`: after an outage longer than WeChat retries its pushes, ask WeChat which codes
//! each user holds (`/card/user/getcardlist`, rate-limited) and record those the ledger lacks as
//! bindings marked `backfill` (`store::backfill`). Resumable: a rerun of an interrupted run over
//! the same list skips the OpenIDs it checked.

use std::time::Duration;

use serde::Serialize;

use super::{Distribution, DistributionError};
use crate::credentials::TokenError;
use crate::store::{backfill, members};
use crate::wechat_api::Retry;

/// An unfinished run's progress older than this is not resumed (a new outage starts over).
const PROGRESS_KEPT_SECS: i64 = 7 * 24 * 3600;

/// Whose codes to ask for.
#[derive(Debug, Clone)]
pub enum Openids {
    One(String),
    /// A list (of a file), named by `run` so an interrupted run resumes.
    List {
        openids: Vec<String>,
        run: String,
    },
    /// Every member bound to a card.
    Members,
}

/// A backfill to run.
#[derive(Debug, Clone)]
pub struct BackfillOrder {
    pub appid: Option<String>,
    pub openids: Openids,
    pub card_id: Option<String>,
    /// Calls a second at most.
    pub per_second: u32,
}

/// What a backfill did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BackfillReport {
    /// OpenIDs asked about.
    pub openids: usize,
    /// OpenIDs an interrupted run had checked already (not asked again).
    pub skipped: usize,
    /// Codes WeChat says they hold.
    pub codes: usize,
    /// Of them, in the ledger already (left as they are).
    pub known: usize,
    /// Of them, recorded now as bindings marked `backfill` (no counter: the day is unknown).
    pub backfilled: usize,
    /// OpenIDs WeChat did not answer for; a rerun asks again.
    pub failed: usize,
    /// The first failure, to say why.
    pub first_error: Option<String>,
}

/// Backfills (`Distribution::backfill`).
pub struct Backfill<'a> {
    pub(super) op: &'a Distribution,
}

impl Backfill<'_> {
    /// Run `order`; `progress(done, total)` after each OpenID.
    pub async fn run(
        &self,
        order: &BackfillOrder,
        progress: &dyn Fn(usize, usize),
    ) -> Result<BackfillReport, DistributionError> {
        let appid = self.op.appid(order.appid.as_deref())?;
        if order.per_second == 0 {
            return Err(DistributionError::Invalid(
                "the rate must be at least 1 call a second".to_owned(),
            ));
        }
        let (openids, list) = match &order.openids {
            Openids::One(openid) => (vec![openid.clone()], None),
            Openids::List { openids, run } => (openids.clone(), Some(run.clone())),
            Openids::Members => {
                let bound = members::bound(&self.op.db, &appid).await?;
                let openids = bound.into_iter().filter_map(|m| m.openid).collect();
                (openids, Some("members".to_owned()))
            }
        };
        // A run is its list and its card: a run for one card resumes only a run for that card.
        let run =
            list.map(|list| format!("{list}|card:{}", order.card_id.as_deref().unwrap_or("*")));
        let done = match &run {
            Some(run) => {
                let since = self.op.now() - PROGRESS_KEPT_SECS;
                backfill::checked(&self.op.db, &appid, run, since).await?
            }
            None => Default::default(),
        };
        let mut report = BackfillReport::default();
        let mut pace = tokio::time::interval(Duration::from_secs(1) / order.per_second);
        pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let api = self.op.tokens.api();
        let card_id = order.card_id.as_deref();
        for (n, openid) in openids.iter().enumerate() {
            progress(n, openids.len());
            if done.contains(openid) {
                report.skipped += 1;
                continue;
            }
            pace.tick().await;
            report.openids += 1;
            let answer = self
                .op
                .tokens
                .with_token(&appid, self.op.now(), |token| async move {
                    api.user_cards(&token, openid, card_id).await
                })
                .await;
            let held = match answer {
                Ok(held) => held,
                // The day's quota, no secret, a refused token: no later OpenID can be asked either.
                Err(e)
                    if matches!(&e, TokenError::NoSecret(_))
                        || matches!(&e, TokenError::Api(api) if matches!(api.retry(), Retry::QuotaExhausted | Retry::RefreshToken)) =>
                {
                    return Err(e.into());
                }
                Err(e) => {
                    report.failed += 1;
                    report.first_error.get_or_insert_with(|| e.to_string());
                    continue;
                }
            };
            let held: Vec<(String, String)> = held
                .into_iter()
                .filter(|h| card_id.is_none_or(|c| c == h.card_id))
                .map(|h| (h.card_id, h.code))
                .collect();
            let now = self.op.now();
            let recorded =
                backfill::record(&self.op.db, &appid, openid, &held, &self.op.day(now), now)
                    .await?;
            report.codes += held.len();
            report.known += recorded.known;
            report.backfilled += recorded.added;
            if let Some(run) = &run {
                backfill::mark_checked(&self.op.db, &appid, run, openid, now).await?;
            }
        }
        progress(openids.len(), openids.len());
        if let (Some(run), 0) = (&run, report.failed) {
            backfill::finish(&self.op.db, &appid, run).await?;
        }
        if report.backfilled > 0 {
            tracing::info!(appid = %appid, backfilled = report.backfilled, "bindings backfilled");
        }
        Ok(report)
    }
}
