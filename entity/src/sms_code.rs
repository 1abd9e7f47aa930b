//! `SeaORM` Entity for `sms_code`: the live SMS code of a phone for one session (hashed), and its wrong tries.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sms_code")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub appid: String,
    /// A keyed hash of the phone number.
    #[sea_orm(primary_key, auto_increment = false)]
    pub phone_key: String,
    /// The session that asked for the code: only it can use the code.
    #[sea_orm(primary_key, auto_increment = false)]
    pub openid: String,
    pub code_hash: String,
    pub expires_at: i64,
    pub tries: i64,
    pub created_at: i64,
}

impl ActiveModelBehavior for ActiveModel {}
