//! `SeaORM` Entity for `channel`: a distribution channel an operator created and named.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "channel")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub appid: String,
    pub card_id: String,
    pub outer_id: String,
    pub outer_str: String,
    pub name: String,
    pub kind: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub qr_ticket: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub qr_url: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub show_qrcode_url: Option<String>,
    pub expire_seconds: Option<i64>,
    #[sea_orm(column_type = "Text", nullable)]
    pub landing_url: Option<String>,
    pub page_id: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl ActiveModelBehavior for ActiveModel {}
