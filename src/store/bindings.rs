//! The `card_binding` table: which OpenID holds which code, its channel, gift lineage and status.
//!
//! A later event for a code (delete, consume) counts in the channel the code arrived through
//! (DESIGN §3). A gift gives the receiver a new code with its own binding; the giver's becomes
//! `gifted_away`.

use entity::card_binding::{self, Column};
use sea_orm::sea_query::{Expr, OnConflict, Query, SimpleExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, IdenStatic, QueryFilter, QueryOrder, QuerySelect,
};

use super::channel_day::{ChannelDelta, Counts};
use super::effects::{CodeMove, Moved, NewBinding, Status};
use super::StoreError;
use crate::wechat::ids::{CardId, Code, OuterId};

/// Carry out [`Effect::Restore`](super::effects::Effect::Restore): the code's binding returns to
/// `got` under the push's sender, marked restored, or is created so; `count` goes to the channel
/// of the binding that holds the code afterwards.
pub async fn restore(
    db: &impl ConnectionTrait,
    binding: &NewBinding<'_>,
    count: Counts,
) -> Result<ChannelDelta, StoreError> {
    let (push, e) = (binding.push, binding.get);
    let appid = push.appid.as_str();
    let restored = card_binding::Entity::update_many()
        .col_expr(Column::Status, Expr::value(Status::Got.as_str()))
        .col_expr(Column::Restored, Expr::value(true))
        .col_expr(
            Column::Openid,
            Expr::value(push.message.from_user_name.as_str()),
        )
        .col_expr(Column::UpdatedAt, Expr::value(push.received_at))
        .filter(key(appid, &e.card_id, &e.code))
        .exec_with_returning(db)
        .await?;
    if let Some(existing) = restored.first() {
        return Ok(ChannelDelta::for_binding(
            appid,
            &e.card_id,
            Some(existing),
            &binding.day,
            count,
        ));
    }
    let mut batch = Batch::default();
    batch.push(binding.clone());
    batch.flush(db).await?;
    Ok(ChannelDelta::for_event(appid, e, &binding.day, count))
}

/// The values of a new binding, in the order of [`BINDING_COLUMNS`].
fn values(binding: &NewBinding<'_>) -> [sea_orm::Value; 19] {
    let (push, e) = (binding.push, binding.get);
    let (appid, card_id, code) = binding.key();
    [
        appid.to_owned().into(),
        card_id.to_owned().into(),
        code.to_owned().into(),
        push.message.from_user_name.0.clone().into(),
        e.union_id.clone().into(),
        e.outer_id.to_string().into(),
        e.outer_str.clone().unwrap_or_default().into(),
        e.source_scene.clone().into(),
        push.message.create_time.into(),
        binding.day.clone().into(),
        e.is_give_by_friend.into(),
        e.friend_user_name.as_ref().map(|o| o.0.clone()).into(),
        e.old_user_card_code.as_ref().map(|c| c.0.clone()).into(),
        binding.restored.into(),
        Status::Got.as_str().to_owned().into(),
        Option::<String>::None.into(),
        Option::<i64>::None.into(),
        push.received_at.into(),
        // A push recorded it (a binding `bindings backfill` found becomes the push's).
        "push".to_owned().into(),
    ]
}

/// The columns of a [`NewBinding`]: all of `card_binding`'s.
const BINDING_COLUMNS: [Column; 19] = [
    Column::Appid,
    Column::CardId,
    Column::Code,
    Column::Openid,
    Column::Unionid,
    Column::OuterId,
    Column::OuterStr,
    Column::SourceScene,
    Column::GotAt,
    Column::GotDay,
    Column::FromFriend,
    Column::FriendOpenid,
    Column::OldCode,
    Column::Restored,
    Column::Status,
    Column::MembershipNumber,
    Column::ActivatedAt,
    Column::UpdatedAt,
    Column::Source,
];

/// What a code got again keeps: its key, whether it was restored, its membership and activation.
const KEPT_ON_CONFLICT: [Column; 6] = [
    Column::Appid,
    Column::CardId,
    Column::Code,
    Column::Restored,
    Column::MembershipNumber,
    Column::ActivatedAt,
];

/// New bindings, by key, written together by multi-row upserts.
#[derive(Default)]
pub struct Batch<'a> {
    rows: std::collections::BTreeMap<(&'a str, &'a str, &'a str), NewBinding<'a>>,
}

impl<'a> Batch<'a> {
    /// Add a row; a later row for the same code replaces the earlier one. One statement may not
    /// touch a row twice (PostgreSQL), and key order is the order of every multi-row write:
    /// concurrent transactions lock rows in one order and cannot deadlock.
    pub fn push(&mut self, row: NewBinding<'a>) {
        self.rows.insert(row.key(), row);
    }

    /// Upsert every pending row and empty the batch: a code got again is re-pointed to its new
    /// holder and channel and keeps what [`KEPT_ON_CONFLICT`] names.
    pub async fn flush(&mut self, db: &impl ConnectionTrait) -> Result<(), StoreError> {
        let backend = db.get_database_backend();
        let rows: Vec<NewBinding<'_>> = std::mem::take(&mut self.rows).into_values().collect();
        for chunk in super::statement_chunks(&rows) {
            let mut upsert = Query::insert();
            upsert
                .into_table(card_binding::Entity)
                .columns(BINDING_COLUMNS)
                .on_conflict(
                    OnConflict::columns(BINDING_KEY)
                        .update_columns(BINDING_COLUMNS.into_iter().filter(|c| {
                            !KEPT_ON_CONFLICT.map(|k| k.as_str()).contains(&c.as_str())
                        }))
                        .to_owned(),
                );
            for row in chunk {
                upsert
                    .values(values(row).map(SimpleExpr::Value))
                    .map_err(|e| StoreError::Encode(e.to_string()))?;
            }
            db.execute_raw(backend.build(&upsert)).await?;
        }
        Ok(())
    }
}

/// A binding's unique key, the conflict target of its inserts.
const BINDING_KEY: [Column; 3] = [Column::Appid, Column::CardId, Column::Code];

/// Carry out [`Effect::Move`](super::effects::Effect::Move): the code moves to `status`; the
/// counters `count` moves, in the channel the code arrived through (unattributed when cardhook
/// never saw it).
pub async fn move_code(
    db: &impl ConnectionTrait,
    appid: &str,
    change: &CodeMove<'_>,
    day: &str,
    now: i64,
) -> Result<Option<ChannelDelta>, StoreError> {
    let CodeMove {
        card_id,
        code,
        status,
        count,
    } = *change;
    let moved = match code {
        Some(code) => transition(db, appid, card_id, code, status, now).await?,
        None => Moved::Unknown,
    };
    Ok(moved.counts(count).map(|(binding, count)| {
        ChannelDelta::for_binding(appid, card_id, binding.as_ref(), day, count)
    }))
}

/// Move a code to `status`: from its binding (as it now is), if cardhook knows the code and it was
/// not in that status already.
pub async fn transition(
    db: &impl ConnectionTrait,
    appid: &str,
    card_id: &CardId,
    code: &Code,
    status: Status,
    now: i64,
) -> Result<Moved<card_binding::Model>, StoreError> {
    let mut rows = card_binding::Entity::update_many()
        .col_expr(Column::Status, Expr::value(status.as_str()))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(key(appid, card_id, code))
        .filter(Column::Status.ne(status.as_str()))
        .exec_with_returning(db)
        .await?;
    if let Some(binding) = rows.pop() {
        return Ok(Moved::From(binding));
    }
    let known = card_binding::Entity::find()
        .filter(key(appid, card_id, code))
        .one(db)
        .await?
        .is_some();
    Ok(if known {
        Moved::Already
    } else {
        Moved::Unknown
    })
}

fn key(appid: &str, card_id: &CardId, code: &Code) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(Column::Appid.eq(appid))
        .add(Column::CardId.eq(card_id.as_str()))
        .add(Column::Code.eq(code.as_str()))
}

/// A binding as shown (`cardhook binding`, the admin API): with the merchant's member the code is
/// bound to, if any.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct BindingView {
    #[serde(flatten)]
    pub binding: card_binding::Model,
    /// The channel's outer_id, a number of up to 60 digits.
    #[schema(schema_with = crate::api_schema::outer_id)]
    pub outer_id: OuterId,
    pub member_no: Option<String>,
}

/// `rows` with the member each code is bound to.
pub async fn with_members(
    db: &impl ConnectionTrait,
    rows: Vec<card_binding::Model>,
) -> Result<Vec<BindingView>, StoreError> {
    use entity::member;
    let codes: Vec<&str> = rows.iter().map(|b| b.code.as_str()).collect();
    let mut numbers = std::collections::HashMap::new();
    for chunk in super::statement_chunks(&codes) {
        let members = member::Entity::find()
            .filter(member::Column::Code.is_in(chunk.iter().copied()))
            .all(db)
            .await?;
        for m in members {
            if let (Some(card_id), Some(code)) = (m.card_id, m.code) {
                numbers.insert((m.appid, card_id, code), m.member_no);
            }
        }
    }
    Ok(rows
        .into_iter()
        .map(|binding| {
            let key = (
                binding.appid.clone(),
                binding.card_id.clone(),
                binding.code.clone(),
            );
            BindingView {
                member_no: numbers.remove(&key),
                outer_id: super::outer_id_of(&binding.outer_id),
                binding,
            }
        })
        .collect())
}

/// The bindings of one code (one per account that has it, normally one).
pub async fn by_code(
    db: &impl ConnectionTrait,
    appid: Option<&str>,
    card_id: &str,
    code: &str,
) -> Result<Vec<card_binding::Model>, StoreError> {
    let mut query = card_binding::Entity::find()
        .filter(Column::CardId.eq(card_id))
        .filter(Column::Code.eq(code));
    if let Some(appid) = appid {
        query = query.filter(Column::Appid.eq(appid));
    }
    Ok(query.order_by_asc(Column::Appid).all(db).await?)
}

/// The cards under which the ledger holds `code` in `appid` (normally one).
pub async fn cards_of_code(
    db: &impl ConnectionTrait,
    appid: &str,
    code: &str,
) -> Result<Vec<String>, StoreError> {
    Ok(card_binding::Entity::find()
        .select_only()
        .column(Column::CardId)
        .filter(Column::Appid.eq(appid))
        .filter(Column::Code.eq(code))
        .order_by_asc(Column::CardId)
        .into_tuple()
        .all(db)
        .await?)
}

/// A user's bindings, newest first.
pub async fn by_openid(
    db: &impl ConnectionTrait,
    appid: Option<&str>,
    openid: &str,
) -> Result<Vec<card_binding::Model>, StoreError> {
    let mut query = card_binding::Entity::find().filter(Column::Openid.eq(openid));
    if let Some(appid) = appid {
        query = query.filter(Column::Appid.eq(appid));
    }
    Ok(query
        .order_by_desc(Column::GotAt)
        .order_by_asc(Column::CardId)
        .order_by_asc(Column::Code)
        .all(db)
        .await?)
}

/// The card is activated: status, membership number and time; returns the binding (for its channel).
pub async fn mark_activated(
    db: &impl ConnectionTrait,
    appid: &str,
    card_id: &CardId,
    code: &Code,
    membership_number: &str,
    now: i64,
) -> Result<Option<card_binding::Model>, StoreError> {
    let mut rows = card_binding::Entity::update_many()
        .col_expr(Column::Status, Expr::value(Status::Activated.as_str()))
        .col_expr(Column::MembershipNumber, Expr::value(membership_number))
        .col_expr(Column::ActivatedAt, Expr::value(now))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(key(appid, card_id, code))
        .exec_with_returning(db)
        .await?;
    Ok(rows.pop())
}

/// Where a page of a user's bindings starts: after (got_at, card_id, code) in newest-first order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageCursor {
    pub got_at: i64,
    pub card_id: String,
    pub code: String,
}

impl PageCursor {
    /// Opaque text for clients: `got_at:card_id:code`, base64url.
    pub fn encode(&self) -> String {
        use base64::Engine;
        let raw = format!("{}:{}:{}", self.got_at, self.card_id, self.code);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    }

    pub fn decode(text: &str) -> Option<Self> {
        use base64::Engine;
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let mut parts = raw.splitn(3, ':');
        Some(Self {
            got_at: parts.next()?.parse().ok()?,
            card_id: parts.next()?.to_owned(),
            code: parts.next()?.to_owned(),
        })
    }
}

/// One page of a user's bindings, newest first, and the cursor of the next page if there is one.
pub async fn by_openid_page(
    db: &impl ConnectionTrait,
    appid: Option<&str>,
    openid: &str,
    limit: u64,
    after: Option<&PageCursor>,
) -> Result<(Vec<card_binding::Model>, Option<PageCursor>), StoreError> {
    use sea_orm::{Condition, QuerySelect};
    let mut query = card_binding::Entity::find().filter(Column::Openid.eq(openid));
    if let Some(appid) = appid {
        query = query.filter(Column::Appid.eq(appid));
    }
    if let Some(c) = after {
        // Rows after the cursor in (got_at DESC, card_id ASC, code ASC) order.
        query = query.filter(
            Condition::any().add(Column::GotAt.lt(c.got_at)).add(
                Condition::all().add(Column::GotAt.eq(c.got_at)).add(
                    Condition::any()
                        .add(Column::CardId.gt(c.card_id.as_str()))
                        .add(
                            Condition::all()
                                .add(Column::CardId.eq(c.card_id.as_str()))
                                .add(Column::Code.gt(c.code.as_str())),
                        ),
                ),
            ),
        );
    }
    let mut rows = query
        .order_by_desc(Column::GotAt)
        .order_by_asc(Column::CardId)
        .order_by_asc(Column::Code)
        .limit(limit + 1)
        .all(db)
        .await?;
    let next = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|b| PageCursor {
            got_at: b.got_at,
            card_id: b.card_id.clone(),
            code: b.code.clone(),
        })
    } else {
        None
    };
    Ok((rows, next))
}
