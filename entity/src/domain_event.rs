//! `SeaORM` Entity for `domain_event`: the ordered feed of what cardhook recorded (issue 33).

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "domain_event")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub seq: i64,
    pub kind: String,
    pub appid: String,
    pub occurred_at: i64,
    pub recorded_at: i64,
    pub cause: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub data: Option<String>,
}

impl ActiveModelBehavior for ActiveModel {}
