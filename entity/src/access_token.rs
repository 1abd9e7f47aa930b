//! `SeaORM` Entity for `access_token`: one shared, cached token per AppID.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "access_token")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub appid: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub token: Option<String>,
    pub expires_at: i64,
    pub refreshed_at: i64,
    pub lease_until: Option<i64>,
    pub lease_owner: Option<String>,
}

impl ActiveModelBehavior for ActiveModel {}
