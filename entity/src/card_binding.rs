//! `SeaORM` Entity for `card_binding`: which OpenID holds which code, and through which channel it came.

use sea_orm::entity::prelude::*;
use serde::Serialize;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, utoipa::ToSchema)]
#[schema(as = BindingRow)]
#[sea_orm(table_name = "card_binding")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub appid: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub card_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub code: String,
    pub openid: String,
    pub unionid: Option<String>,
    /// Digits (up to 60); shown as a JSON number by cardhook's binding view, not here.
    #[serde(skip_serializing)]
    #[schema(ignore)]
    pub outer_id: String,
    pub outer_str: String,
    pub source_scene: Option<String>,
    pub got_at: i64,
    pub got_day: String,
    pub from_friend: bool,
    pub friend_openid: Option<String>,
    pub old_code: Option<String>,
    pub restored: bool,
    pub status: String,
    pub membership_number: Option<String>,
    pub activated_at: Option<i64>,
    pub updated_at: i64,
    /// `push`, or `backfill`: learned from `/card/user/getcardlist` after an outage.
    pub source: String,
}

impl ActiveModelBehavior for ActiveModel {}
