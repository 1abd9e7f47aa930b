//! `SeaORM` Entity for `card_event`: every push, raw and parsed.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "card_event")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub appid: String,
    #[sea_orm(unique)]
    pub dedupe_key: String,
    pub msg_type: String,
    pub event: Option<String>,
    pub openid: String,
    pub card_id: Option<String>,
    pub code: Option<String>,
    pub create_time: i64,
    pub received_at: i64,
    pub outer_id: String,
    pub outer_str: Option<String>,
    pub source_scene: Option<String>,
    pub is_give_by_friend: bool,
    pub friend_openid: Option<String>,
    pub old_code: Option<String>,
    pub is_restore_member_card: bool,
    pub unionid: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub raw_xml: String,
    /// The fields that could not be read, as JSON `[{"field","reason"}]`; NULL for nearly all.
    #[sea_orm(column_type = "Text", nullable)]
    pub unparsed: Option<String>,
    /// A plain-mode push's query (`timestamp|nonce`): one stored push per signed URL.
    pub query_key: Option<String>,
}

impl ActiveModelBehavior for ActiveModel {}
