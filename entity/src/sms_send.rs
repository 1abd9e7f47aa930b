//! `SeaORM` Entity for `sms_send`: every SMS code sent, counted by phone, OpenID and client address.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sms_send")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub appid: String,
    pub phone_key: String,
    pub openid: String,
    pub client: String,
    pub sent_at: i64,
}

impl ActiveModelBehavior for ActiveModel {}
