//! The `mass_send` and `mass_send_msg` tables: each mass send of a card, its message ids, and what
//! each MASSSENDJOBFINISH push reported of them.

use entity::{mass_send, mass_send_msg};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder,
};
use serde::Serialize;

use super::StoreError;
use crate::wechat::events::MassSendFinish;

/// A mass send as `cardhook mass list` and the admin API print it (DESIGN §4). `status` is
/// `submitted` until every message id was reported, then `sendsuccess` or the first failure;
/// the counts add up what was reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct MassSendView {
    pub id: i64,
    pub appid: String,
    pub card_id: String,
    pub name: String,
    pub target: String,
    pub msg_ids: Vec<i64>,
    pub status: String,
    pub total: i64,
    pub sent: i64,
    pub errors: i64,
    pub created_at: i64,
}

/// A mass send to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMassSend {
    pub appid: String,
    pub card_id: String,
    pub name: String,
    pub target: String,
    pub msg_ids: Vec<i64>,
}

/// Record a mass send made (its calls answered with `msg_ids`); its id.
pub async fn record(
    db: &impl ConnectionTrait,
    send: &NewMassSend,
    now: i64,
) -> Result<i64, StoreError> {
    let row = mass_send::ActiveModel {
        appid: Set(send.appid.clone()),
        card_id: Set(send.card_id.clone()),
        name: Set(send.name.clone()),
        target: Set(send.target.clone()),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    for &msg_id in &send.msg_ids {
        mass_send_msg::ActiveModel {
            appid: Set(send.appid.clone()),
            msg_id: Set(msg_id),
            mass_send_id: Set(row.id),
            status: Set(None),
            total_count: Set(None),
            filter_count: Set(None),
            sent_count: Set(None),
            error_count: Set(None),
            finished_at: Set(None),
        }
        .insert(db)
        .await?;
    }
    Ok(row.id)
}

/// A MASSSENDJOBFINISH push: what WeChat reports of one message id (a message id cardhook did not
/// send is left alone). Setting the same values twice changes nothing. `store::sqlite_batch`
/// writes the same.
pub async fn finished(
    db: &impl ConnectionTrait,
    appid: &str,
    finish: &MassSendFinish,
    now: i64,
) -> Result<(), StoreError> {
    let Some(msg_id) = finish.msg_id else {
        return Ok(());
    };
    mass_send_msg::Entity::update_many()
        .col_expr(
            mass_send_msg::Column::Status,
            Expr::value(finish.status.clone()),
        )
        .col_expr(
            mass_send_msg::Column::TotalCount,
            Expr::value(finish.total_count),
        )
        .col_expr(
            mass_send_msg::Column::FilterCount,
            Expr::value(finish.filter_count),
        )
        .col_expr(
            mass_send_msg::Column::SentCount,
            Expr::value(finish.sent_count),
        )
        .col_expr(
            mass_send_msg::Column::ErrorCount,
            Expr::value(finish.error_count),
        )
        .col_expr(mass_send_msg::Column::FinishedAt, Expr::value(now))
        .filter(mass_send_msg::Column::Appid.eq(appid))
        .filter(mass_send_msg::Column::MsgId.eq(msg_id))
        .exec(db)
        .await?;
    Ok(())
}

/// One mass send.
pub async fn get(db: &impl ConnectionTrait, id: i64) -> Result<MassSendView, StoreError> {
    let send = mass_send::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(StoreError::NotFound)?;
    let msgs = mass_send_msg::Entity::find()
        .filter(mass_send_msg::Column::MassSendId.eq(id))
        .order_by_asc(mass_send_msg::Column::MsgId)
        .all(db)
        .await?;
    Ok(view(send, &msgs.iter().collect::<Vec<_>>()))
}

/// The mass sends (of one account), newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    appid: Option<&str>,
) -> Result<Vec<MassSendView>, StoreError> {
    let mut sends = mass_send::Entity::find().order_by_desc(mass_send::Column::Id);
    let mut msgs = mass_send_msg::Entity::find().order_by_asc(mass_send_msg::Column::MsgId);
    if let Some(appid) = appid {
        sends = sends.filter(mass_send::Column::Appid.eq(appid));
        msgs = msgs.filter(mass_send_msg::Column::Appid.eq(appid));
    }
    let msgs = msgs.all(db).await?;
    Ok(sends
        .all(db)
        .await?
        .into_iter()
        .map(|send| {
            let own: Vec<&mass_send_msg::Model> =
                msgs.iter().filter(|m| m.mass_send_id == send.id).collect();
            view(send, &own)
        })
        .collect())
}

fn view(send: mass_send::Model, msgs: &[&mass_send_msg::Model]) -> MassSendView {
    let reported: Vec<&str> = msgs.iter().filter_map(|m| m.status.as_deref()).collect();
    let status = if send.target == "preview" {
        "preview".to_owned()
    } else if reported.len() < msgs.len() || msgs.is_empty() {
        "submitted".to_owned()
    } else {
        reported
            .iter()
            .find(|s| **s != "sendsuccess")
            .unwrap_or(&"sendsuccess")
            .to_string()
    };
    let sum = |count: fn(&mass_send_msg::Model) -> Option<i64>| -> i64 {
        msgs.iter().filter_map(|m| count(m)).sum()
    };
    MassSendView {
        msg_ids: msgs.iter().map(|m| m.msg_id).collect(),
        status,
        total: sum(|m| m.total_count),
        sent: sum(|m| m.sent_count),
        errors: sum(|m| m.error_count),
        id: send.id,
        appid: send.appid,
        card_id: send.card_id,
        name: send.name,
        target: send.target,
        created_at: send.created_at,
    }
}
