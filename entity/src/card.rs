//! `SeaORM` Entity for `card`: a card of the catalogue, its review status and stock.

use sea_orm::entity::prelude::*;
use serde::Serialize;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "card")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub appid: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub card_id: String,
    pub card_type: String,
    pub title: String,
    pub status: String,
    pub refuse_reason: Option<String>,
    pub quantity: Option<i64>,
    pub body: Option<String>,
    pub reviewed_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl ActiveModelBehavior for ActiveModel {}
