//! `SeaORM` Entity for `member`: the merchant's member, and the WeChat card code bound to it.

use sea_orm::entity::prelude::*;
use serde::Serialize;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "member")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub appid: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub member_no: String,
    pub phone: String,
    pub name: Option<String>,
    pub bonus: i64,
    pub balance: i64,
    pub openid: Option<String>,
    pub card_id: Option<String>,
    pub code: Option<String>,
    pub bound_at: Option<i64>,
    pub activated_at: Option<i64>,
    pub wechat_bonus: Option<i64>,
    pub wechat_balance: Option<i64>,
    pub revision: i64,
    pub record_bonus: Option<String>,
    pub record_balance: Option<String>,
    pub echo_bonus: Option<i64>,
    pub echo_balance: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The member's level in the merchant's system (`[[member_tags]]` maps it to a WeChat tag).
    pub level: Option<String>,
    /// The WeChat user tag cardhook last put the member's OpenID under.
    pub wechat_tag: Option<String>,
}

impl ActiveModelBehavior for ActiveModel {}
