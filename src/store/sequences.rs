//! The `card_sequence` table: the next membership sequence number of a card, issued in the
//! transaction that enqueues its activation.

use entity::card_sequence::{self, Column};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};

use super::StoreError;

/// Issue the next number (1, 2, …) of `(appid, card_id)`.
pub async fn next(
    db: &impl ConnectionTrait,
    appid: &str,
    card_id: &str,
) -> Result<i64, StoreError> {
    let row = card_sequence::ActiveModel {
        appid: Set(appid.to_owned()),
        card_id: Set(card_id.to_owned()),
        last: Set(1),
    };
    let issued = card_sequence::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([Column::Appid, Column::CardId])
                .value(
                    Column::Last,
                    Expr::col((card_sequence::Entity, Column::Last)).add(1),
                )
                .to_owned(),
        )
        .exec_with_returning(db)
        .await?;
    Ok(issued.last)
}
