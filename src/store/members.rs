//! The `member` table: the merchant's members (number, phone, name, points, balance) and the WeChat
//! card code each is bound to.

use std::collections::HashMap;

use entity::member::{self, Column, Entity, Model};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
};
use serde::Serialize;

use super::StoreError;

/// A member as `cardhook members show` and the admin API print it (DESIGN §4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberView {
    pub appid: String,
    pub member_no: String,
    pub phone: String,
    pub name: Option<String>,
    pub bonus: i64,
    /// In fen.
    pub balance: i64,
    pub openid: Option<String>,
    pub card_id: Option<String>,
    pub code: Option<String>,
    pub bound_at: Option<i64>,
    /// Whether WeChat activated the bound card.
    pub activated: bool,
}

/// What a member is, as written by an import or a new member made at binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRow {
    pub member_no: String,
    pub phone: String,
    pub name: Option<String>,
    pub bonus: i64,
    pub balance: i64,
}

impl MemberRow {
    /// Whether `stored` already holds these values.
    pub fn same_as(&self, stored: &MemberRow) -> bool {
        self == stored
    }
}

pub async fn get(
    db: &impl ConnectionTrait,
    appid: &str,
    member_no: &str,
) -> Result<Option<Model>, StoreError> {
    Ok(Entity::find_by_id((appid.to_owned(), member_no.to_owned()))
        .one(db)
        .await?)
}

pub async fn by_phone(
    db: &impl ConnectionTrait,
    appid: &str,
    phone: &str,
) -> Result<Option<Model>, StoreError> {
    Ok(Entity::find()
        .filter(Column::Appid.eq(appid))
        .filter(Column::Phone.eq(phone))
        .one(db)
        .await?)
}

/// The members a WeChat user holds the cards of (one per card, usually one).
pub async fn by_openid(
    db: &impl ConnectionTrait,
    appid: &str,
    openid: &str,
) -> Result<Vec<Model>, StoreError> {
    Ok(Entity::find()
        .filter(Column::Appid.eq(appid))
        .filter(Column::Openid.eq(openid))
        .order_by_asc(Column::MemberNo)
        .all(db)
        .await?)
}

/// The member a card code is bound to.
pub async fn by_code(
    db: &impl ConnectionTrait,
    appid: &str,
    card_id: &str,
    code: &str,
) -> Result<Option<Model>, StoreError> {
    Ok(Entity::find()
        .filter(Column::Appid.eq(appid))
        .filter(Column::CardId.eq(card_id))
        .filter(Column::Code.eq(code))
        .one(db)
        .await?)
}

/// Every member of an account as an import sees them, by member number (only the columns it
/// compares: a file of 100 000 members is compared with as many rows).
pub async fn all(
    db: &impl ConnectionTrait,
    appid: &str,
) -> Result<HashMap<String, MemberRow>, StoreError> {
    use sea_orm::QuerySelect;
    let rows: Vec<(String, String, Option<String>, i64, i64)> = Entity::find()
        .select_only()
        .columns([
            Column::MemberNo,
            Column::Phone,
            Column::Name,
            Column::Bonus,
            Column::Balance,
        ])
        .filter(Column::Appid.eq(appid))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(member_no, phone, name, bonus, balance)| {
            let row = MemberRow {
                member_no: member_no.clone(),
                phone,
                name,
                bonus,
                balance,
            };
            (member_no, row)
        })
        .collect())
}

/// Insert or update `rows` by member number, in order (a phone passed from one member to another
/// within a file is freed before it is taken). What a member is bound to is kept.
pub async fn upsert(
    db: &impl ConnectionTrait,
    appid: &str,
    rows: &[MemberRow],
    now: i64,
) -> Result<(), StoreError> {
    for chunk in super::statement_chunks(rows) {
        let models = chunk.iter().map(|row| member::ActiveModel {
            appid: Set(appid.to_owned()),
            member_no: Set(row.member_no.clone()),
            phone: Set(row.phone.clone()),
            name: Set(row.name.clone()),
            bonus: Set(row.bonus),
            balance: Set(row.balance),
            openid: Set(None),
            card_id: Set(None),
            code: Set(None),
            bound_at: Set(None),
            activated_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        });
        Entity::insert_many(models)
            .on_conflict(
                OnConflict::columns([Column::Appid, Column::MemberNo])
                    .update_columns([
                        Column::Phone,
                        Column::Name,
                        Column::Bonus,
                        Column::Balance,
                        Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// Bind an unbound member to a card code; false when the member was bound meanwhile.
pub async fn bind(
    db: &impl ConnectionTrait,
    appid: &str,
    member_no: &str,
    card: (&str, &str),
    openid: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let (card_id, code) = card;
    let bound = Entity::update_many()
        .col_expr(Column::Openid, Expr::value(openid))
        .col_expr(Column::CardId, Expr::value(card_id))
        .col_expr(Column::Code, Expr::value(code))
        .col_expr(Column::BoundAt, Expr::value(now))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Appid.eq(appid))
        .filter(Column::MemberNo.eq(member_no))
        .filter(Column::Code.is_null())
        .exec(db)
        .await?;
    Ok(bound.rows_affected == 1)
}

/// WeChat activated the card bound to a member (if one is bound to it).
pub async fn mark_activated(
    db: &impl ConnectionTrait,
    appid: &str,
    card_id: &str,
    code: &str,
    now: i64,
) -> Result<(), StoreError> {
    Entity::update_many()
        .col_expr(Column::ActivatedAt, Expr::value(now))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Appid.eq(appid))
        .filter(Column::CardId.eq(card_id))
        .filter(Column::Code.eq(code))
        .exec(db)
        .await?;
    Ok(())
}

impl From<Model> for MemberView {
    fn from(member: Model) -> Self {
        Self {
            activated: member.activated_at.is_some(),
            appid: member.appid,
            member_no: member.member_no,
            phone: member.phone,
            name: member.name,
            bonus: member.bonus,
            balance: member.balance,
            openid: member.openid,
            card_id: member.card_id,
            code: member.code,
            bound_at: member.bound_at,
        }
    }
}
