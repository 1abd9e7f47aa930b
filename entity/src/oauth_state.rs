//! `SeaORM` Entity for `oauth_state`: the OAuth2 states already used, until they expire.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oauth_state")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub state_id: String,
    pub appid: String,
    pub expires_at: i64,
}

impl ActiveModelBehavior for ActiveModel {}
