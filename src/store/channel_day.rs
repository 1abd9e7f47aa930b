//! The `channel_day` counters and the channel statistics read from them.
//!
//! A channel is (appid, card_id, outer_id, outer_str); outer_id 0 and outer_str "" mean "none".

use std::collections::BTreeMap;

use chrono::NaiveDate;
use entity::{card_binding, channel_day};
use sea_orm::sea_query::{BinOper, Expr, ExprTrait, OnConflict, SimpleExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QuerySelect, Select,
};
use serde::Serialize;

use super::channel::ChannelNames;
use super::StoreError;
use crate::wechat::events::UserGetCard;
use crate::wechat::ids::{CardId, OuterId};

/// The funnel counters of one channel.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Counts {
    /// New cards received (restores excluded).
    pub got: i64,
    /// Of `got`, received as a gift from a friend.
    pub from_friend: i64,
    /// Deleted member cards found back (IsRestoreMemberCard=1).
    pub restored: i64,
    pub deleted: i64,
    pub consumed: i64,
    pub activated: i64,
    /// Codes taken back with `codes unavailable`.
    pub revoked: i64,
    /// Codes bound to a member (the H5 page, the one-click form, the jump page), on the day bound.
    pub bound: i64,
}

impl Counts {
    /// The counters of one `channel_day` row.
    pub fn of(row: &channel_day::Model) -> Self {
        Self {
            got: row.got,
            from_friend: row.from_friend,
            restored: row.restored,
            deleted: row.deleted,
            consumed: row.consumed,
            activated: row.activated,
            revoked: row.revoked,
            bound: row.bound,
        }
    }

    /// Add `other` to these counts, counter by counter.
    pub fn add(&mut self, other: &Counts) {
        self.got += other.got;
        self.from_friend += other.from_friend;
        self.restored += other.restored;
        self.deleted += other.deleted;
        self.consumed += other.consumed;
        self.activated += other.activated;
        self.revoked += other.revoked;
        self.bound += other.bound;
    }
}

/// Counters to add to one channel on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelDelta {
    pub appid: String,
    pub card_id: String,
    pub outer_id: OuterId,
    pub outer_str: String,
    pub day: String,
    pub counts: Counts,
}

impl ChannelDelta {
    /// The channel a `user_get_card` names.
    pub fn for_event(appid: &str, e: &UserGetCard, day: &str, counts: Counts) -> Self {
        Self {
            appid: appid.to_owned(),
            card_id: e.card_id.0.clone(),
            outer_id: e.outer_id.clone(),
            outer_str: e.outer_str.clone().unwrap_or_default(),
            day: day.to_owned(),
            counts,
        }
    }

    /// The channel a code arrived through; unattributed when cardhook never saw it arrive.
    pub fn for_binding(
        appid: &str,
        card_id: &CardId,
        binding: Option<&card_binding::Model>,
        day: &str,
        counts: Counts,
    ) -> Self {
        let channel = binding.map(|b| (super::outer_id_of(&b.outer_id), b.outer_str.clone()));
        Self::for_channel(appid, card_id, channel, day, counts)
    }

    /// The channel (outer_id, outer_str) a binding holds; unattributed when there is none.
    pub fn for_channel(
        appid: &str,
        card_id: &CardId,
        channel: Option<(OuterId, String)>,
        day: &str,
        counts: Counts,
    ) -> Self {
        let (outer_id, outer_str) = channel.unwrap_or_default();
        Self {
            appid: appid.to_owned(),
            card_id: card_id.0.clone(),
            outer_id,
            outer_str,
            day: day.to_owned(),
            counts,
        }
    }
}

/// Add `delta` to its channel's row of the day, creating the row on first use.
pub async fn add(db: &impl ConnectionTrait, delta: &ChannelDelta) -> Result<(), StoreError> {
    let mut batch = Batch::default();
    batch.add(delta.clone());
    batch.flush(db).await
}

/// A counter row's key: (appid, card_id, outer_id, outer_str, day).
pub type DeltaKey = (String, String, OuterId, String, String);

/// Counter deltas summed per channel and day, written in one multi-row upsert.
///
/// Rows are written in key order: transactions of several instances (and the worker) that touch
/// the same rows then lock them in the same order and cannot deadlock on PostgreSQL.
#[derive(Default)]
pub struct Batch {
    sums: std::collections::BTreeMap<DeltaKey, Counts>,
}

impl Batch {
    pub fn add(&mut self, delta: ChannelDelta) {
        let key = (
            delta.appid,
            delta.card_id,
            delta.outer_id,
            delta.outer_str,
            delta.day,
        );
        self.sums.entry(key).or_default().add(&delta.counts);
    }

    /// Add every sum to its row (`counter = counter + excluded.counter`) and empty the batch.
    pub async fn flush(&mut self, db: &impl ConnectionTrait) -> Result<(), StoreError> {
        let backend = db.get_database_backend();
        let rows: Vec<(DeltaKey, Counts)> = std::mem::take(&mut self.sums).into_iter().collect();
        for chunk in super::statement_chunks(&rows) {
            let mut upsert = counter_upsert();
            for ((appid, card_id, outer_id, outer_str, day), c) in chunk {
                let row: [sea_orm::Value; 13] = [
                    appid.clone().into(),
                    card_id.clone().into(),
                    outer_id.as_str().into(),
                    outer_str.clone().into(),
                    day.clone().into(),
                    c.got.into(),
                    c.from_friend.into(),
                    c.restored.into(),
                    c.deleted.into(),
                    c.consumed.into(),
                    c.activated.into(),
                    c.revoked.into(),
                    c.bound.into(),
                ];
                upsert
                    .values(row.map(SimpleExpr::Value))
                    .map_err(|e| StoreError::Encode(e.to_string()))?;
            }
            db.execute_raw(backend.build(&upsert)).await?;
        }
        Ok(())
    }

    /// The summed counters, by (appid, card_id, outer_id, outer_str, day), in key order.
    pub fn sums(&self) -> impl Iterator<Item = (&DeltaKey, &Counts)> {
        self.sums.iter()
    }
}

/// `channel_day`'s columns, in the order of a counter row: the key, then the counters.
const COUNTER_COLUMNS: [channel_day::Column; 13] = {
    use channel_day::Column as C;
    [
        C::Appid,
        C::CardId,
        C::OuterId,
        C::OuterStr,
        C::Day,
        C::Got,
        C::FromFriend,
        C::Restored,
        C::Deleted,
        C::Consumed,
        C::Activated,
        C::Revoked,
        C::Bound,
    ]
};

/// The INSERT of counter rows that adds each to the row already there, without values.
fn counter_upsert() -> sea_orm::sea_query::InsertStatement {
    let (key, counters) = COUNTER_COLUMNS.split_at(5);
    let mut on_conflict = OnConflict::columns(key.iter().copied());
    for &col in counters {
        on_conflict.value(
            col,
            Expr::col((channel_day::Entity, col)).add(Expr::col(("excluded", col))),
        );
    }
    sea_orm::sea_query::Query::insert()
        .into_table(channel_day::Entity)
        .columns(COUNTER_COLUMNS)
        .on_conflict(on_conflict)
        .to_owned()
}

/// How statistics rows are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    #[default]
    Channel,
    Day,
}

/// Which statistics to read; days are inclusive.
#[derive(Debug, Clone, Default)]
pub struct StatsQuery {
    pub appid: Option<String>,
    pub card_id: Option<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub by: GroupBy,
}

/// One row of DESIGN §4's `stats/channels` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct StatsRow {
    pub appid: String,
    pub card_id: String,
    #[schema(schema_with = crate::api_schema::outer_id)]
    pub outer_id: OuterId,
    pub outer_str: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub day: Option<String>,
    #[serde(flatten)]
    pub counts: Counts,
    /// Distinct OpenIDs that got a card through the channel in the period.
    pub users: i64,
    /// The name the channel is registered under (`cardhook qrcode create`, `channels name`, …).
    #[schema(required = true)]
    pub channel_name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Totals {
    #[serde(flatten)]
    pub counts: Counts,
    pub users: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct StatsReport {
    pub rows: Vec<StatsRow>,
    pub totals: Totals,
}

type GroupKey = (String, String, OuterId, String, Option<String>);

/// The one statistics query behind `cardhook stats` and the admin API.
/// Counting distinct users is most of the work: per channel and in all, at once (on a pool, two
/// connections; no more, the pool serves the writes too).
pub async fn stats(db: &impl ConnectionTrait, q: &StatsQuery) -> Result<StatsReport, StoreError> {
    let by_day = q.by == GroupBy::Day;
    let counters = counter_rows(q).all(db).await?;
    let names = ChannelNames::load(db, q.appid.as_deref()).await?;
    let (users, all_users) = futures_util::try_join!(user_counts(db, q), distinct_users(db, q))?;
    let mut groups: BTreeMap<GroupKey, (Counts, i64)> = BTreeMap::new();
    for row in counters {
        let day = by_day.then(|| row.day.clone());
        let counts = Counts::of(&row);
        groups
            .entry((
                row.appid,
                row.card_id,
                super::outer_id_of(&row.outer_id),
                row.outer_str,
                day,
            ))
            .or_default()
            .0
            .add(&counts);
    }
    for (appid, card_id, outer_id, outer_str, day, users) in users {
        let day = if by_day { Some(day) } else { None };
        groups
            .entry((
                appid,
                card_id,
                super::outer_id_of(&outer_id),
                outer_str,
                day,
            ))
            .or_default()
            .1 += users;
    }
    if !by_day {
        // A registered channel nobody has used yet still shows, with zeros.
        for (appid, card_id, outer_id, outer_str) in names.keys() {
            if card_id.is_empty() || q.card_id.as_ref().is_some_and(|c| c != card_id) {
                continue;
            }
            groups
                .entry((
                    appid.clone(),
                    card_id.clone(),
                    outer_id.clone(),
                    outer_str.clone(),
                    None,
                ))
                .or_default();
        }
    }
    let mut totals = Totals {
        users: all_users,
        ..Totals::default()
    };
    let rows = groups
        .into_iter()
        .map(
            |((appid, card_id, outer_id, outer_str, day), (counts, users))| {
                totals.counts.add(&counts);
                let channel_name = names.name(&appid, &card_id, &outer_id, &outer_str);
                StatsRow {
                    appid,
                    card_id,
                    outer_id,
                    outer_str,
                    day,
                    counts,
                    users,
                    channel_name,
                }
            },
        )
        .collect();
    Ok(StatsReport { rows, totals })
}

/// The counter rows of `q`'s accounts, card and days, one per channel and day (the dashboard
/// sums them itself). Read by day range: a year of 100 channels is 36 500 small rows.
pub async fn rows(
    db: &impl ConnectionTrait,
    q: &StatsQuery,
) -> Result<Vec<channel_day::Model>, StoreError> {
    Ok(counter_rows(q).all(db).await?)
}

fn counter_rows(q: &StatsQuery) -> Select<channel_day::Entity> {
    use channel_day::Column as C;
    let mut select = channel_day::Entity::find();
    if let Some(appid) = &q.appid {
        select = select.filter(C::Appid.eq(appid.as_str()));
    }
    if let Some(card_id) = &q.card_id {
        select = select.filter(C::CardId.eq(card_id.as_str()));
    }
    if let Some(from) = q.from {
        select = select.filter(C::Day.gte(from.to_string()));
    }
    if let Some(to) = q.to {
        select = select.filter(C::Day.lte(to.to_string()));
    }
    select
}

/// The bindings got in `q`'s days, for its account and card. On SQLite, with a day bound, they are
/// found through `idx_card_binding_day`: SQLite has no statistics (cardhook never runs ANALYZE)
/// and would rather walk all of an account's bindings by `idx_card_binding_openid` than a week's
/// by day, so the account and card are compared as `col || ''`, which no index serves, and an
/// open end is closed (SQLite deems a range open at one end too wide for the index). PostgreSQL
/// has statistics and chooses for itself.
fn binding_rows(q: &StatsQuery, backend: DbBackend) -> Select<card_binding::Entity> {
    use card_binding::Column as C;
    let by_day = backend == DbBackend::Sqlite && (q.from.is_some() || q.to.is_some());
    let column = |column: C| match by_day {
        true => Expr::col(column).binary(BinOper::Custom("||"), ""),
        false => Expr::col(column),
    };
    let mut select = card_binding::Entity::find();
    if let Some(appid) = &q.appid {
        select = select.filter(column(C::Appid).eq(appid.as_str()));
    }
    if let Some(card_id) = &q.card_id {
        select = select.filter(column(C::CardId).eq(card_id.as_str()));
    }
    let (from, to) = (q.from.map(|d| d.to_string()), q.to.map(|d| d.to_string()));
    if by_day {
        let from = from.unwrap_or_default();
        let to = to.unwrap_or_else(|| AFTER_EVERY_DAY.to_owned());
        return select.filter(C::GotDay.between(from, to));
    }
    if let Some(from) = from {
        select = select.filter(C::GotDay.gte(from));
    }
    if let Some(to) = to {
        select = select.filter(C::GotDay.lte(to));
    }
    select
}

/// Sorts (in SQLite's BINARY order) after every `got_day`: digits, `-` and `+` are below `~`.
const AFTER_EVERY_DAY: &str = "~";

/// Distinct users per channel (and day): counted in SQL, the bindings can be millions.
async fn user_counts(
    db: &impl ConnectionTrait,
    q: &StatsQuery,
) -> Result<Vec<(String, String, String, String, String, i64)>, StoreError> {
    let backend = db.get_database_backend();
    Ok(users_by_channel(q, backend).into_tuple().all(db).await?)
}

fn users_by_channel(q: &StatsQuery, backend: DbBackend) -> Select<card_binding::Entity> {
    use card_binding::Column as C;
    let day_expr = if q.by == GroupBy::Day {
        Expr::col(C::GotDay)
    } else {
        Expr::value("")
    };
    let mut select = binding_rows(q, backend)
        .select_only()
        .column(C::Appid)
        .column(C::CardId)
        .column(C::OuterId)
        .column(C::OuterStr)
        .column_as(day_expr, "day")
        .column_as(Expr::col(C::Openid).count_distinct(), "users")
        .group_by(C::Appid)
        .group_by(C::CardId)
        .group_by(C::OuterId)
        .group_by(C::OuterStr);
    if q.by == GroupBy::Day {
        select = select.group_by(C::GotDay);
    }
    select
}

async fn distinct_users(db: &impl ConnectionTrait, q: &StatsQuery) -> Result<i64, StoreError> {
    let backend = db.get_database_backend();
    let count: Option<i64> = users_in_all(q, backend).into_tuple().one(db).await?;
    Ok(count.unwrap_or(0))
}

fn users_in_all(q: &StatsQuery, backend: DbBackend) -> Select<card_binding::Entity> {
    binding_rows(q, backend).select_only().column_as(
        Expr::col(card_binding::Column::Openid).count_distinct(),
        "users",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{QueryTrait, Statement};

    /// SQLite's plan for `select`, one line per step.
    async fn plan(
        db: &sea_orm::DatabaseConnection,
        select: Select<card_binding::Entity>,
    ) -> String {
        let stmt = select.build(DbBackend::Sqlite);
        let explain = Statement::from_sql_and_values(
            DbBackend::Sqlite,
            format!("EXPLAIN QUERY PLAN {}", stmt.sql),
            stmt.values.map(|values| values.0).unwrap_or_default(),
        );
        let rows = db.query_all_raw(explain).await.expect("plan");
        rows.iter()
            .map(|row| row.try_get::<String>("", "detail").expect("detail"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[tokio::test]
    async fn a_period_s_users_are_found_through_the_day_index() {
        use migration::MigratorTrait;
        let db = sea_orm::Database::connect("sqlite::memory:")
            .await
            .expect("memory");
        migration::Migrator::up(&db, None).await.expect("migrate");
        let day = NaiveDate::from_ymd_opt(2026, 12, 1);
        for (appid, card_id) in [
            (None, None),
            (Some("wxa"), None),
            (None, Some("pCARD")),
            (Some("wxa"), Some("pCARD")),
        ] {
            for (from, to) in [(day, day), (day, None), (None, day)] {
                for by in [GroupBy::Channel, GroupBy::Day] {
                    let q = StatsQuery {
                        appid: appid.map(str::to_owned),
                        card_id: card_id.map(str::to_owned),
                        from,
                        to,
                        by,
                    };
                    let sqlite = DbBackend::Sqlite;
                    for select in [users_by_channel(&q, sqlite), users_in_all(&q, sqlite)] {
                        let plan = plan(&db, select).await;
                        assert!(
                            plan.contains("USING INDEX idx_card_binding_day (got_day"),
                            "{q:?}: {plan}"
                        );
                    }
                }
            }
        }
    }
}
