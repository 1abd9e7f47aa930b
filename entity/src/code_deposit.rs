//! `SeaORM` Entity for `code_deposit`: each custom code of a deposit and how far it got.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "code_deposit")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub appid: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub card_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub code: String,
    pub state: String,
    pub updated_at: i64,
}

impl ActiveModelBehavior for ActiveModel {}
