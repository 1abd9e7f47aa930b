//! `SeaORM` Entity for `card_sequence`: the last membership sequence number issued per card.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "card_sequence")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub appid: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub card_id: String,
    pub last: i64,
}

impl ActiveModelBehavior for ActiveModel {}
