//! `SeaORM` Entity for `channel_day`: per-channel, per-day funnel counters.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "channel_day")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub appid: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub card_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub outer_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub outer_str: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub day: String,
    pub got: i64,
    pub from_friend: i64,
    pub restored: i64,
    pub deleted: i64,
    pub consumed: i64,
    pub activated: i64,
    pub revoked: i64,
    /// Codes bound to a member (by the day of the binding).
    pub bound: i64,
}

impl ActiveModelBehavior for ActiveModel {}
