//! The `card` table: the account's card catalogue — each card's type, title, review status (set by
//! `card_pass_check` / `card_not_pass_check` pushes) and stock.

use entity::card::{Column, Entity, Model};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
};
use serde::Serialize;

use super::effects::CardReview;
use super::StoreError;

/// A card created and not yet reviewed (reference 000).
pub const NOT_VERIFIED: &str = "CARD_STATUS_NOT_VERIFY";

/// A card deleted (`/card/delete`), as `/card/get` then names its status.
pub const DELETED: &str = "CARD_STATUS_DELETE";

/// A card as `cardhook card list` and the admin API print it (DESIGN §4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CardView {
    pub appid: String,
    pub card_id: String,
    pub card_type: String,
    pub title: String,
    pub status: String,
    pub refuse_reason: Option<String>,
    pub quantity: Option<i64>,
}

impl From<Model> for CardView {
    fn from(card: Model) -> Self {
        Self {
            appid: card.appid,
            card_id: card.card_id,
            card_type: card.card_type,
            title: card.title,
            status: card.status,
            refuse_reason: card.refuse_reason,
            quantity: card.quantity,
        }
    }
}

/// What WeChat says of a card (from `/card/create`'s body or `/card/get`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardFacts {
    pub card_type: String,
    pub title: String,
    pub quantity: Option<i64>,
}

impl CardFacts {
    /// Nothing known yet (a card cardhook hears of before it fetched it).
    const UNKNOWN: Self = Self {
        card_type: String::new(),
        title: String::new(),
        quantity: None,
    };
}

/// A new row for a card; `status` and the facts as known.
fn new_row(
    (appid, card_id): (&str, &str),
    facts: &CardFacts,
    status: &str,
    now: i64,
) -> entity::card::ActiveModel {
    entity::card::ActiveModel {
        appid: Set(appid.to_owned()),
        card_id: Set(card_id.to_owned()),
        card_type: Set(facts.card_type.clone()),
        title: Set(facts.title.clone()),
        status: Set(status.to_owned()),
        refuse_reason: Set(None),
        quantity: Set(facts.quantity),
        body: Set(None),
        reviewed_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

/// Insert `row`, or update the `columns` of the card it names (only where `only_if` holds, if given).
async fn upsert(
    db: &impl ConnectionTrait,
    row: entity::card::ActiveModel,
    columns: &[Column],
    only_if: Option<Expr>,
) -> Result<(), StoreError> {
    let mut on_conflict = OnConflict::columns([Column::Appid, Column::CardId]);
    on_conflict.update_columns(columns.iter().copied());
    if let Some(condition) = only_if {
        on_conflict.action_and_where(condition);
    }
    Entity::insert(row)
        .on_conflict(on_conflict)
        .try_insert()
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// A card WeChat just created from `body`. A review push that came first keeps its status.
pub async fn created(
    db: &impl ConnectionTrait,
    card: (&str, &str),
    facts: &CardFacts,
    body: &str,
    now: i64,
) -> Result<(), StoreError> {
    let mut row = new_row(card, facts, NOT_VERIFIED, now);
    row.body = Set(Some(body.to_owned()));
    let columns = [
        Column::CardType,
        Column::Title,
        Column::Quantity,
        Column::Body,
        Column::UpdatedAt,
    ];
    upsert(db, row, &columns, None).await
}

/// What `/card/get` answered: type, title, status and stock, as WeChat has them now.
pub async fn refreshed(
    db: &impl ConnectionTrait,
    card: (&str, &str),
    facts: &CardFacts,
    status: &str,
    now: i64,
) -> Result<Model, StoreError> {
    let columns = [
        Column::CardType,
        Column::Title,
        Column::Status,
        Column::Quantity,
        Column::UpdatedAt,
    ];
    upsert(db, new_row(card, facts, status, now), &columns, None).await?;
    get(db, card.0, card.1).await?.ok_or(StoreError::NotFound)
}

/// A review push (reference §3.1): the card passed or failed review. A card created elsewhere gets a
/// row; a push older than the one applied last changes nothing. `store::sqlite_batch` writes the same.
pub async fn reviewed(
    db: &impl ConnectionTrait,
    review: &CardReview<'_>,
    now: i64,
) -> Result<(), StoreError> {
    let mut row = new_row(
        (review.appid, review.card_id),
        &CardFacts::UNKNOWN,
        review.status,
        now,
    );
    row.refuse_reason = Set(review.refuse_reason.map(str::to_owned));
    row.reviewed_at = Set(Some(review.reviewed_at));
    let reviewed_at = || Expr::col((Entity, Column::ReviewedAt));
    let newer = reviewed_at()
        .is_null()
        .or(reviewed_at().lte(Expr::cust("excluded.reviewed_at")));
    let columns = [
        Column::Status,
        Column::RefuseReason,
        Column::ReviewedAt,
        Column::UpdatedAt,
    ];
    upsert(db, row, &columns, Some(newer)).await
}

/// A card deleted with `/card/delete`: its status says so (a card cardhook did not list gets a row).
pub async fn deleted(
    db: &impl ConnectionTrait,
    card: (&str, &str),
    now: i64,
) -> Result<(), StoreError> {
    let row = new_row(card, &CardFacts::UNKNOWN, DELETED, now);
    upsert(db, row, &[Column::Status, Column::UpdatedAt], None).await
}

pub async fn get(
    db: &impl ConnectionTrait,
    appid: &str,
    card_id: &str,
) -> Result<Option<Model>, StoreError> {
    Ok(Entity::find_by_id((appid.to_owned(), card_id.to_owned()))
        .one(db)
        .await?)
}

/// The cards of `appid` (of every account when None), newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    appid: Option<&str>,
) -> Result<Vec<Model>, StoreError> {
    let mut query = Entity::find();
    if let Some(appid) = appid {
        query = query.filter(Column::Appid.eq(appid));
    }
    Ok(query
        .order_by_desc(Column::CreatedAt)
        .order_by_asc(Column::CardId)
        .all(db)
        .await?)
}
