//! `SeaORM` Entity for `webhook_delivery`: one webhook endpoint's cursor, retries and lease.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_delivery")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub endpoint: String,
    pub cursor: i64,
    pub attempts: i64,
    pub next_attempt_at: Option<i64>,
    pub failing: bool,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
    pub last_attempt_at: Option<i64>,
    pub version: i64,
    pub lease_holder: Option<String>,
    pub lease_until: Option<i64>,
    pub updated_at: i64,
}

impl ActiveModelBehavior for ActiveModel {}
