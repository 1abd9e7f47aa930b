//! `SeaORM` Entity for `code_consume`: a consume asked at the till, by its idempotency key, and
//! WeChat's answer.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "code_consume")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub appid: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub idempotency_key: String,
    pub code: String,
    pub card_id: String,
    pub state: String,
    pub answer_card_id: Option<String>,
    pub openid: Option<String>,
    pub errcode: Option<i64>,
    pub errmsg: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl ActiveModelBehavior for ActiveModel {}
