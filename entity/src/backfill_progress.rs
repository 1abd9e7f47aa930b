//! `SeaORM` Entity for `backfill_progress`: the OpenIDs an unfinished `bindings backfill` run checked.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "backfill_progress")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub appid: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub run: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub openid: String,
    pub checked_at: i64,
}

impl ActiveModelBehavior for ActiveModel {}
