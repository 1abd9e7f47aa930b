//! The `card_event` table through sea-orm: every push, raw and parsed, deduplicated by a UNIQUE key.

use std::collections::HashSet;

use entity::card_event;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query, SimpleExpr};
use sea_orm::{ConnectionTrait, Value};

use super::push::{EventRow, Incoming, EVENT_COLUMNS};
use super::StoreError;

/// The values of `row`, in the order of [`EVENT_COLUMNS`].
fn values(row: &EventRow<'_>) -> [Value; 20] {
    let text = |s: &str| Value::from(s.to_owned());
    let optional = |s: Option<&str>| Value::from(s.map(str::to_owned));
    [
        text(row.appid),
        text(row.dedupe_key),
        text(row.msg_type),
        optional(row.event),
        text(row.openid),
        optional(row.card_id),
        optional(row.code),
        row.create_time.into(),
        row.received_at.into(),
        text(row.outer_id),
        optional(row.outer_str),
        optional(row.source_scene),
        row.is_give_by_friend.into(),
        optional(row.friend_openid),
        optional(row.old_code),
        row.is_restore_member_card.into(),
        optional(row.unionid),
        text(row.raw_xml),
        Value::from(row.unparsed.clone()),
        optional(row.query_key),
    ]
}

/// Insert the events whose dedupe keys are not stored yet; returns the keys inserted.
///
/// The stored keys are looked up first and the rest inserted in multi-row statements with ON
/// CONFLICT DO NOTHING (a plain-mode push alone); the affected-row count confirms that each was new. When another instance
/// stores one of the keys in between (PostgreSQL, several instances), the count falls short and
/// the batch fails with [`StoreError::Race`]; the writer then stores its pushes one by one, where
/// a single row's count is exact.
pub async fn insert_new(
    db: &impl ConnectionTrait,
    pushes: &[&Incoming],
    keys: &[String],
) -> Result<HashSet<String>, StoreError> {
    let stored = stored_keys(db, keys).await?;
    let mut inserted = HashSet::with_capacity(pushes.len());
    let mut batch_keys = HashSet::with_capacity(pushes.len());
    let mut fresh: Vec<(&Incoming, &String)> = pushes
        .iter()
        .copied()
        .zip(keys)
        .filter(|(_, key)| !stored.contains(*key) && batch_keys.insert(key.as_str()))
        .collect();
    // Key order: two instances storing the same redeliveries lock their keys in one order.
    fresh.sort_by(|a, b| a.1.cmp(b.1));
    // A plain-mode push may also meet a stored query (`query_key` is UNIQUE), which the lookup
    // above does not see: each goes in a statement of its own, whose count is exact.
    let (plain, signed): (Vec<_>, Vec<_>) = fresh
        .into_iter()
        .partition(|(push, _)| push.query_key.is_some());
    for chunk in super::statement_chunks(&signed).chain(plain.chunks(1)) {
        let mut insert = Query::insert();
        insert
            .into_table(card_event::Entity)
            .columns(EVENT_COLUMNS.map(Alias::new))
            // Either unique key: the dedupe key, or a plain-mode push's query.
            .on_conflict(OnConflict::new().do_nothing().to_owned());
        for (push, key) in chunk {
            let row = values(&EventRow::of(push, key)).map(SimpleExpr::Value);
            insert
                .values(row)
                .map_err(|e| StoreError::Encode(e.to_string()))?;
        }
        let statement = db.get_database_backend().build(&insert);
        let affected = db.execute_raw(statement).await?.rows_affected();
        match (affected == chunk.len() as u64, chunk.len()) {
            (true, _) => inserted.extend(chunk.iter().map(|(_, key)| (*key).clone())),
            // A single row's count is exact: it was stored concurrently, a duplicate.
            (false, 1) => {}
            (false, _) => return Err(StoreError::Race),
        }
    }
    Ok(inserted)
}

/// Which of `keys` are stored already.
async fn stored_keys(
    db: &impl ConnectionTrait,
    keys: &[String],
) -> Result<HashSet<String>, StoreError> {
    use card_event::Column as C;
    let mut stored = HashSet::new();
    for chunk in super::statement_chunks(keys) {
        let select = Query::select()
            .column(C::DedupeKey)
            .from(card_event::Entity)
            .and_where(Expr::col(C::DedupeKey).is_in(chunk.iter().cloned()))
            .to_owned();
        let statement = db.get_database_backend().build(&select);
        for row in db.query_all_raw(statement).await? {
            stored.insert(row.try_get::<String>("", "dedupe_key")?);
        }
    }
    Ok(stored)
}

/// One field of a stored push that could not be read (`cardhook events unparsed`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UnparsedField {
    /// The push's `card_event` id.
    pub id: i64,
    pub appid: String,
    pub event: Option<String>,
    pub field: String,
    pub reason: String,
    pub received_at: i64,
}

/// The fields of stored pushes that could not be read, oldest push first (one entry per field).
/// Reads the partial index of the few pushes that have some.
pub async fn unparsed(
    db: &impl ConnectionTrait,
    appid: Option<&str>,
) -> Result<Vec<UnparsedField>, StoreError> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    let mut select = card_event::Entity::find()
        .filter(card_event::Column::Unparsed.is_not_null())
        .order_by_asc(card_event::Column::Id);
    if let Some(appid) = appid {
        select = select.filter(card_event::Column::Appid.eq(appid));
    }
    let mut fields = Vec::new();
    for row in select.all(db).await? {
        #[derive(serde::Deserialize)]
        struct Named {
            field: String,
            reason: String,
        }
        let named: Vec<Named> = serde_json::from_str(row.unparsed.as_deref().unwrap_or("[]"))
            .map_err(|e| StoreError::Encode(format!("card_event {}: unparsed: {e}", row.id)))?;
        fields.extend(named.into_iter().map(|n| UnparsedField {
            id: row.id,
            appid: row.appid.clone(),
            event: row.event.clone(),
            field: n.field,
            reason: n.reason,
            received_at: row.received_at,
        }));
    }
    Ok(fields)
}

/// The stored pushes of `keys` (dedupe keys), by key.
pub async fn by_dedupe_keys(
    db: &impl ConnectionTrait,
    keys: &[&str],
) -> Result<std::collections::HashMap<String, card_event::Model>, StoreError> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let mut pushes = std::collections::HashMap::with_capacity(keys.len());
    for chunk in super::statement_chunks(keys) {
        let rows = card_event::Entity::find()
            .filter(card_event::Column::DedupeKey.is_in(chunk.iter().copied()))
            .all(db)
            .await?;
        pushes.extend(rows.into_iter().map(|row| (row.dedupe_key.clone(), row)));
    }
    Ok(pushes)
}

/// A push as the dashboard lists it: no OpenID, no code.
#[derive(Debug, Clone, PartialEq, Eq, sea_orm::FromQueryResult)]
pub struct Received {
    pub id: i64,
    pub appid: String,
    pub msg_type: String,
    pub event: Option<String>,
    pub card_id: Option<String>,
    pub received_at: i64,
    /// What could not be parsed, if anything.
    pub unparsed: Option<String>,
}

/// The `limit` pushes stored last, newest first (by primary key).
pub async fn latest(db: &impl ConnectionTrait, limit: u64) -> Result<Vec<Received>, StoreError> {
    use card_event::Column as C;
    use sea_orm::{EntityTrait, QueryOrder, QuerySelect};
    Ok(card_event::Entity::find()
        .select_only()
        .columns([
            C::Id,
            C::Appid,
            C::MsgType,
            C::Event,
            C::CardId,
            C::ReceivedAt,
            C::Unparsed,
        ])
        .order_by_desc(C::Id)
        .limit(limit)
        .into_model::<Received>()
        .all(db)
        .await?)
}
