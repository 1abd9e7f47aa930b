//! The ordered feed of domain events (issue 33; DESIGN §4 "Events out"): their types, the rows
//! the writers add in the very transaction that records what an event tells of, and the pages its
//! readers (the admin API, `events tail`, the webhook deliverers) take in `seq` order.
//!
//! `seq` is strictly increasing in commit order. On SQLite one writer commits at a time, so the
//! table's AUTOINCREMENT is commit order. On PostgreSQL several writers (and instances) commit at
//! once and a sequence value drawn early could become visible after a later one — a reader would
//! step over it for good. So every transaction that adds events takes one transaction-wide
//! advisory lock just before it adds them and holds it to its commit: events are numbered and
//! committed one transaction after the other.

use entity::domain_event::{self, Column, Entity};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Statement,
};
use sha2::Digest;

use super::channel::ChannelNames;
use super::published::{Fields, NewEvent};
use super::push::Incoming;
use super::{effects, StoreError};
use crate::event_type::EventType;

/// `evt_` and 32 hex digits of SHA-256 over the cause and the type: the same fact never makes two
/// ids, and a redelivered push makes no event at all.
pub fn event_id(cause: &str, kind: EventType) -> String {
    let mut hash = sha2::Sha256::new();
    hash.update(cause.as_bytes());
    hash.update(b"|");
    hash.update(kind.as_str().as_bytes());
    let digest = hex::encode(hash.finalize());
    format!("evt_{}", &digest[..32])
}

/// The advisory lock key PostgreSQL writers take before adding events ("cardhook" in ASCII).
const SEQ_LOCK: i64 = 0x6361_7264_686f_6f6b;

/// Add `events` in order, inside the caller's transaction (see the module doc for PostgreSQL).
pub async fn insert(db: &impl ConnectionTrait, events: &[NewEvent]) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    if db.get_database_backend() == DbBackend::Postgres {
        db.execute_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT pg_advisory_xact_lock({SEQ_LOCK})"),
        ))
        .await?;
    }
    for chunk in super::statement_chunks(events) {
        let rows = chunk.iter().map(|e| domain_event::ActiveModel {
            seq: sea_orm::ActiveValue::NotSet,
            kind: sea_orm::ActiveValue::Set(e.kind.as_str().to_owned()),
            appid: sea_orm::ActiveValue::Set(e.appid.clone()),
            occurred_at: sea_orm::ActiveValue::Set(e.occurred_at),
            recorded_at: sea_orm::ActiveValue::Set(e.recorded_at),
            cause: sea_orm::ActiveValue::Set(e.cause.clone()),
            data: sea_orm::ActiveValue::Set(e.data.clone()),
        });
        Entity::insert_many(rows).exec_without_returning(db).await?;
    }
    Ok(())
}

/// Which events a reader wants: after `after`, at most `limit`, of these types (none = all) and
/// this account (none = all).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub after: i64,
    pub limit: u64,
    pub types: Vec<EventType>,
    pub appid: Option<String>,
    /// Not after this seq (a reader's high-water mark); none: up to the last.
    pub until: Option<i64>,
}

impl Filter {
    /// The events the filter takes, in `seq` order, at most `limit` of them.
    fn select(&self, limit: u64) -> sea_orm::Select<Entity> {
        let mut select = Entity::find()
            .filter(Column::Seq.gt(self.after))
            .order_by_asc(Column::Seq)
            .limit(limit);
        if let Some(until) = self.until {
            select = select.filter(Column::Seq.lte(until));
        }
        if !self.types.is_empty() {
            select = select.filter(Column::Kind.is_in(self.types.iter().map(|t| t.as_str())));
        }
        if let Some(appid) = &self.appid {
            select = select.filter(Column::Appid.eq(appid.as_str()));
        }
        select
    }
}

/// A stored event as readers see it (DESIGN §4): `data` is the type's fields.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct FeedEvent {
    /// `evt_` and 32 hex digits, the same across redeliveries of the push that caused it; the webhook-id of its
    /// deliveries.
    pub id: String,
    /// Strictly increasing in commit order.
    #[schema(minimum = 1)]
    pub seq: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub appid: String,
    /// Unix seconds.
    pub occurred_at: i64,
    pub recorded_at: i64,
    pub data: serde_json::Value,
}

/// The next page of events after `filter.after`, in `seq` order, each with its fields: a push's
/// read from the stored push (and its channel's name from the registry, as it is now).
pub async fn page(
    db: &impl ConnectionTrait,
    filter: &Filter,
) -> Result<Vec<FeedEvent>, StoreError> {
    let rows = filter.select(filter.limit).all(db).await?;
    let causes: Vec<&str> = rows
        .iter()
        .filter(|r| r.data.is_none())
        .map(|r| r.cause.as_str())
        .collect();
    let pushes = super::events::by_dedupe_keys(db, &causes).await?;
    let names = if rows.iter().any(|r| r.kind == EventType::CardGot.as_str()) {
        ChannelNames::load(db, filter.appid.as_deref()).await?
    } else {
        ChannelNames::default()
    };
    Ok(rows
        .into_iter()
        .map(|row| {
            let data = match &row.data {
                // Stored from a JSON value; a row edited by hand into something else is shown as
                // a string rather than breaking the feed.
                Some(text) => serde_json::from_str(text)
                    .unwrap_or_else(|_| serde_json::Value::String(text.clone())),
                None => pushes
                    .get(&row.cause)
                    .map_or(serde_json::Value::Null, |push| {
                        fields_of_push(push, &row.kind, &names)
                    }),
            };
            FeedEvent {
                id: EventType::parse(&row.kind)
                    .map_or_else(String::new, |kind| event_id(&row.cause, kind)),
                seq: row.seq,
                kind: row.kind,
                appid: row.appid,
                occurred_at: row.occurred_at,
                recorded_at: row.recorded_at,
                data,
            }
        })
        .collect())
}

/// The fields of the `kind` event of a stored push, as the rules decide them for the push
/// (`store::effects::publication`), a `card.got` with its channel's registered name.
fn fields_of_push(
    row: &entity::card_event::Model,
    kind: &str,
    names: &ChannelNames,
) -> serde_json::Value {
    let Ok(message) = crate::wechat::events::parse(&row.raw_xml) else {
        // Stored because it was signed, though its XML does not read: no fields to tell.
        return serde_json::Value::Null;
    };
    let push = Incoming::new(
        crate::wechat::ids::AppId(row.appid.clone()),
        message,
        String::new(),
        row.received_at,
    );
    let Some(mut publish) = effects::publication(&push) else {
        return serde_json::Value::Null;
    };
    if publish.kind.as_str() != kind {
        return serde_json::Value::Null;
    }
    if let Fields::Got(got) = &mut publish.fields {
        got.channel = names.name(
            &row.appid,
            got.card_id.as_str(),
            got.outer_id,
            got.outer_str,
        );
    }
    serde_json::to_value(&publish.fields).unwrap_or(serde_json::Value::Null)
}

/// How many events after `filter.after` the filter takes (at most `cap`: a lag figure, not a scan
/// of a long history).
pub async fn count_after(
    db: &impl ConnectionTrait,
    filter: &Filter,
    cap: u64,
) -> Result<u64, StoreError> {
    let select = filter.select(cap).select_only().column(Column::Seq);
    // A count over the limited query (sea-orm counts it as a subquery, its LIMIT kept).
    Ok(sea_orm::PaginatorTrait::count(select, db).await?)
}

/// When the first event the filter takes was recorded (none: no event waits).
pub async fn first_recorded_at(
    db: &impl ConnectionTrait,
    filter: &Filter,
) -> Result<Option<i64>, StoreError> {
    Ok(filter
        .select(1)
        .select_only()
        .column(Column::RecordedAt)
        .into_tuple()
        .one(db)
        .await?)
}

/// The last `seq` stored (0 when none is).
pub async fn last_seq(db: &impl ConnectionTrait) -> Result<i64, StoreError> {
    let last: Option<i64> = Entity::find()
        .select_only()
        .column(Column::Seq)
        .order_by_desc(Column::Seq)
        .into_tuple()
        .one(db)
        .await?;
    Ok(last.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_cause_and_the_type() {
        let a = event_id("000000000001|wxA|o1|user_get_card|c|1", EventType::CardGot);
        assert_eq!(a.len(), 36);
        assert!(a.starts_with("evt_"));
        assert_eq!(
            a,
            event_id("000000000001|wxA|o1|user_get_card|c|1", EventType::CardGot)
        );
        assert_ne!(
            a,
            event_id("000000000001|wxA|o1|user_get_card|c|2", EventType::CardGot)
        );
        assert_ne!(
            a,
            event_id(
                "000000000001|wxA|o1|user_get_card|c|1",
                EventType::CardEvent
            )
        );
    }
}
