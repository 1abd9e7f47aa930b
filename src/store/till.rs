//! At the till: each consume asked through cardhook, by its idempotency key (`code_consume`), and
//! what the till's calls change in the ledger — a consumed code counted at once in its channel, a
//! code taken back (the binding ends, its member keeps its points), a code given a new code.
//!
//! A key is claimed by one insert-or-nothing on (appid, idempotency_key), so of two instances (or
//! two requests) with one key only one calls WeChat; the other reads the first one's answer.

use entity::code_consume::{self, Column, Entity};
use entity::{card_binding, member};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::bindings;
use super::channel_day::{self, ChannelDelta, Counts};
use super::effects::{Moved, Status};
use super::published::{self, Revoked};
use super::{outbox, StoreError};
use crate::wechat::ids::{CardId, Code};

/// A consume's state: the call is out (or its answer was lost), or WeChat answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumeState {
    Pending,
    Consumed,
    Refused,
}

impl ConsumeState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Consumed => "consumed",
            Self::Refused => "refused",
        }
    }

    pub fn of(text: &str) -> Self {
        match text {
            "consumed" => Self::Consumed,
            "refused" => Self::Refused,
            _ => Self::Pending,
        }
    }
}

/// What a consume asks: the code, the card if the caller named it, under the caller's key. Owned:
/// the call runs on a task of its own.
#[derive(Debug, Clone)]
pub struct ConsumeRequest {
    pub appid: String,
    pub key: String,
    pub code: String,
    pub card_id: Option<String>,
}

/// Whether this request took the key, or found it taken (with what is known of that consume).
#[derive(Debug, Clone)]
pub enum Claim {
    New,
    Taken(Box<code_consume::Model>),
}

/// Take `request`'s key for a new consume, or read the consume that has it.
pub async fn claim(
    db: &impl ConnectionTrait,
    request: &ConsumeRequest,
    now: i64,
) -> Result<Claim, StoreError> {
    let row = code_consume::ActiveModel {
        appid: Set(request.appid.clone()),
        idempotency_key: Set(request.key.clone()),
        code: Set(request.code.clone()),
        card_id: Set(request.card_id.clone().unwrap_or_default()),
        state: Set(ConsumeState::Pending.as_str().to_owned()),
        answer_card_id: Set(None),
        openid: Set(None),
        errcode: Set(None),
        errmsg: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let inserted = Entity::insert(row)
        .on_conflict(
            OnConflict::columns([Column::Appid, Column::IdempotencyKey])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    if inserted == 1 {
        return Ok(Claim::New);
    }
    match get(db, &request.appid, &request.key).await? {
        Some(taken) => Ok(Claim::Taken(Box::new(taken))),
        // Only an operator deletes rows; the key is free again.
        None => Err(StoreError::Busy(
            "an idempotency key was claimed and then removed; retry".to_owned(),
        )),
    }
}

/// The consume that has `key`, if any.
pub async fn get(
    db: &impl ConnectionTrait,
    appid: &str,
    key: &str,
) -> Result<Option<code_consume::Model>, StoreError> {
    Ok(Entity::find_by_id((appid.to_owned(), key.to_owned()))
        .one(db)
        .await?)
}

/// A retry's turn on a consume left pending since `seen` (its call timed out, or its process
/// died): true for the one request that took it over, so only one of several asks WeChat again.
pub async fn take_over(
    db: &impl ConnectionTrait,
    request: &ConsumeRequest,
    seen: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let taken = Entity::update_many()
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Appid.eq(request.appid.as_str()))
        .filter(Column::IdempotencyKey.eq(request.key.as_str()))
        .filter(Column::State.eq(ConsumeState::Pending.as_str()))
        .filter(Column::UpdatedAt.eq(seen))
        .exec(db)
        .await?;
    Ok(taken.rows_affected == 1)
}

/// A consume whose call got no answer: still pending, and free for the next retry to take over
/// at once.
pub async fn release(db: &impl ConnectionTrait, appid: &str, key: &str) -> Result<(), StoreError> {
    Entity::update_many()
        .col_expr(Column::UpdatedAt, Expr::value(0))
        .filter(Column::Appid.eq(appid))
        .filter(Column::IdempotencyKey.eq(key))
        .filter(Column::State.eq(ConsumeState::Pending.as_str()))
        .exec(db)
        .await?;
    Ok(())
}

/// WeChat's answer to a consume.
#[derive(Debug, Clone, Copy)]
pub enum Answer<'a> {
    Consumed { card_id: &'a str, openid: &'a str },
    Refused { errcode: i64, errmsg: &'a str },
}

/// Record WeChat's answer under the key (in the transaction that changes the ledger with it).
pub async fn settle(
    db: &impl ConnectionTrait,
    appid: &str,
    key: &str,
    answer: Answer<'_>,
    now: i64,
) -> Result<(), StoreError> {
    // Only a pending consume takes an answer: a late answer never overwrites one recorded.
    let mut update = Entity::update_many()
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Appid.eq(appid))
        .filter(Column::IdempotencyKey.eq(key))
        .filter(Column::State.eq(ConsumeState::Pending.as_str()));
    update = match answer {
        Answer::Consumed { card_id, openid } => update
            .col_expr(Column::State, Expr::value(ConsumeState::Consumed.as_str()))
            .col_expr(Column::AnswerCardId, Expr::value(card_id))
            .col_expr(Column::Openid, Expr::value(openid)),
        Answer::Refused { errcode, errmsg } => update
            .col_expr(Column::State, Expr::value(ConsumeState::Refused.as_str()))
            .col_expr(Column::Errcode, Expr::value(errcode))
            .col_expr(Column::Errmsg, Expr::value(errmsg)),
    };
    update.exec(db).await?;
    Ok(())
}

/// A code consumed at the till: its binding moves to `consumed` and counts in its channel on `day`
/// at once; the `user_consume_card` push that follows finds it there and counts nothing. A code
/// cardhook never saw arrive is left to that push (counted unattributed, as any such push).
pub async fn note_consumed(
    db: &impl ConnectionTrait,
    appid: &str,
    card_id: &CardId,
    code: &Code,
    day: &str,
    now: i64,
) -> Result<(), StoreError> {
    let count = Counts {
        consumed: 1,
        ..Counts::default()
    };
    move_and_count(db, appid, card_id, code, Status::Consumed, count, day, now).await?;
    Ok(())
}

/// What a code taken back changed: its holder and member, if cardhook knew them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevokedCode {
    pub openid: Option<String>,
    pub member_no: Option<String>,
    /// The OpenID and the WeChat tag its member was under: to be taken out of it.
    pub untag: Option<(String, String)>,
}

/// A code taken back (`/card/code/unavailable` answered ok): its binding moves to `revoked`
/// (counted `revoked` in its channel on `day`), the member bound to it is unbound and keeps its
/// points and balance, and `card.revoked` is published — all in `db`'s transaction.
pub async fn note_revoked(
    db: &impl ConnectionTrait,
    appid: &str,
    card_id: &CardId,
    code: &Code,
    reason: Option<&str>,
    day: &str,
    now: i64,
) -> Result<RevokedCode, StoreError> {
    let count = Counts {
        revoked: 1,
        ..Counts::default()
    };
    let moved = move_and_count(db, appid, card_id, code, Status::Revoked, count, day, now).await?;
    let openid = match moved {
        Moved::From(binding) => Some(binding.openid),
        // Taken back before: nothing changes again, nothing is published twice.
        Moved::Already => return Ok(RevokedCode::default()),
        Moved::Unknown => None,
    };
    let member = super::members::by_code(db, appid, card_id.as_str(), code.as_str()).await?;
    if let Some(member) = &member {
        member::Entity::update_many()
            .col_expr(member::Column::Openid, Expr::value(Option::<String>::None))
            .col_expr(member::Column::CardId, Expr::value(Option::<String>::None))
            .col_expr(member::Column::Code, Expr::value(Option::<String>::None))
            .col_expr(member::Column::BoundAt, Expr::value(Option::<i64>::None))
            .col_expr(
                member::Column::ActivatedAt,
                Expr::value(Option::<i64>::None),
            )
            .col_expr(
                member::Column::WechatTag,
                Expr::value(Option::<String>::None),
            )
            .col_expr(member::Column::UpdatedAt, Expr::value(now))
            .filter(member::Column::Appid.eq(appid))
            .filter(member::Column::MemberNo.eq(member.member_no.as_str()))
            .exec(db)
            .await?;
    }
    let untag = member
        .as_ref()
        .and_then(|m| Some((m.openid.clone()?, m.wechat_tag.clone()?)));
    let revoked = RevokedCode {
        openid: openid.or_else(|| member.as_ref().and_then(|m| m.openid.clone())),
        member_no: member.map(|m| m.member_no),
        untag,
    };
    let fields = Revoked {
        card_id: card_id.as_str(),
        code: code.as_str(),
        openid: revoked.openid.as_deref(),
        member_no: revoked.member_no.as_deref(),
        reason,
    };
    outbox::insert(db, &[published::revoked(appid, &fields, now)]).await?;
    Ok(revoked)
}

/// A code given a new code (`/card/code/update` answered ok): its binding and the member bound to it
/// follow; the channel, status and history stay. False when cardhook did not know the code.
pub async fn note_recoded(
    db: &impl ConnectionTrait,
    appid: &str,
    card_id: &str,
    code: &str,
    new_code: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let moved = card_binding::Entity::update_many()
        .col_expr(card_binding::Column::Code, Expr::value(new_code))
        .col_expr(card_binding::Column::UpdatedAt, Expr::value(now))
        .filter(card_binding::Column::Appid.eq(appid))
        .filter(card_binding::Column::CardId.eq(card_id))
        .filter(card_binding::Column::Code.eq(code))
        .exec(db)
        .await?;
    member::Entity::update_many()
        .col_expr(member::Column::Code, Expr::value(new_code))
        .col_expr(member::Column::UpdatedAt, Expr::value(now))
        .filter(member::Column::Appid.eq(appid))
        .filter(member::Column::CardId.eq(card_id))
        .filter(member::Column::Code.eq(code))
        .exec(db)
        .await?;
    Ok(moved.rows_affected == 1)
}

/// Move a code to `status` and add `count` in its channel on `day` when it moved.
#[allow(clippy::too_many_arguments)]
async fn move_and_count(
    db: &impl ConnectionTrait,
    appid: &str,
    card_id: &CardId,
    code: &Code,
    status: Status,
    count: Counts,
    day: &str,
    now: i64,
) -> Result<Moved<card_binding::Model>, StoreError> {
    let moved = bindings::transition(db, appid, card_id, code, status, now).await?;
    if let Moved::From(binding) = &moved {
        let delta = ChannelDelta::for_binding(appid, card_id, Some(binding), day, count);
        channel_day::add(db, &delta).await?;
    }
    Ok(moved)
}
