//! `SeaORM` Entity for `mass_send_msg`: a message id of a mass send and how it ended.

use sea_orm::entity::prelude::*;
use serde::Serialize;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "mass_send_msg")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub appid: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub msg_id: i64,
    pub mass_send_id: i64,
    pub status: Option<String>,
    pub total_count: Option<i64>,
    pub filter_count: Option<i64>,
    pub sent_count: Option<i64>,
    pub error_count: Option<i64>,
    pub finished_at: Option<i64>,
}

impl ActiveModelBehavior for ActiveModel {}
