//! `SeaORM` Entity for `mass_send`: one mass send of a card.

use sea_orm::entity::prelude::*;
use serde::Serialize;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "mass_send")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub appid: String,
    pub card_id: String,
    pub name: String,
    pub target: String,
    pub created_at: i64,
}

impl ActiveModelBehavior for ActiveModel {}
