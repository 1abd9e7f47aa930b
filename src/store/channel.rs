//! The channel registry: the channels an operator created (a QR code, a landing page) or named,
//! keyed like the statistics, (appid, card_id, outer_id, outer_str); card_id "" = every card.

use std::collections::HashMap;

use entity::channel::{self, Column};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, TryIntoModel,
};

use super::{outer_id_of, StoreError};
use crate::wechat::ids::OuterId;

/// What created the channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    QrCode,
    QrCodeMultiple,
    LandingPage,
    /// Named by the operator for an outer_str used elsewhere (a cardExt, a mass-sent article).
    Named,
    /// A follow QR code (issue 26): its scene is the outer_str, and a follow or scan of it gets the
    /// channel's card in a customer-service message.
    FollowQrCode,
}

impl ChannelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::QrCode => "qrcode",
            Self::QrCodeMultiple => "qrcode_multiple",
            Self::LandingPage => "landingpage",
            Self::Named => "named",
            Self::FollowQrCode => "follow_qrcode",
        }
    }
}

/// A channel to register, with what was created for it.
#[derive(Debug, Clone, Default)]
pub struct NewChannel {
    pub appid: String,
    pub card_id: String,
    pub outer_id: OuterId,
    pub outer_str: String,
    pub name: String,
    pub qr_ticket: Option<String>,
    pub qr_url: Option<String>,
    pub show_qrcode_url: Option<String>,
    pub expire_seconds: Option<i64>,
    pub landing_url: Option<String>,
    pub page_id: Option<i64>,
}

/// A registered channel as cardhook shows it (`channels list`, the admin API): the row, its
/// outer_id a number of up to 60 digits.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Channel {
    pub id: i64,
    pub appid: String,
    /// Empty: every card of the account.
    pub card_id: String,
    #[schema(schema_with = crate::api_schema::outer_id)]
    pub outer_id: OuterId,
    pub outer_str: String,
    pub name: String,
    pub kind: String,
    pub qr_ticket: Option<String>,
    pub qr_url: Option<String>,
    pub show_qrcode_url: Option<String>,
    pub expire_seconds: Option<i64>,
    pub landing_url: Option<String>,
    pub page_id: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<channel::Model> for Channel {
    fn from(row: channel::Model) -> Self {
        Self {
            id: row.id,
            outer_id: outer_id_of(&row.outer_id),
            appid: row.appid,
            card_id: row.card_id,
            outer_str: row.outer_str,
            name: row.name,
            kind: row.kind,
            qr_ticket: row.qr_ticket,
            qr_url: row.qr_url,
            show_qrcode_url: row.show_qrcode_url,
            expire_seconds: row.expire_seconds,
            landing_url: row.landing_url,
            page_id: row.page_id,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// Whether events can name a channel: a non-zero outer_id or a non-empty outer_str (the same
/// condition as the partial unique index `idx_channel_key`).
fn has_key(outer_id: &OuterId, outer_str: &str) -> bool {
    !outer_id.is_zero() || !outer_str.is_empty()
}

/// Register a channel. A channel with a key that is already registered is updated (new name, the
/// latest QR code or page): its statistics stay one row. A channel without a key is always added.
pub async fn register(
    db: &impl ConnectionTrait,
    kind: ChannelKind,
    new: NewChannel,
    now: i64,
) -> Result<Channel, StoreError> {
    let existing = if has_key(&new.outer_id, &new.outer_str) {
        channel::Entity::find()
            .filter(Column::Appid.eq(new.appid.as_str()))
            .filter(Column::CardId.eq(new.card_id.as_str()))
            .filter(Column::OuterId.eq(new.outer_id.as_str()))
            .filter(Column::OuterStr.eq(new.outer_str.as_str()))
            .one(db)
            .await?
    } else {
        None
    };
    let created_at = existing.as_ref().map_or(now, |c| c.created_at);
    let mut row = match existing {
        Some(found) => found.into_active_model(),
        None => channel::ActiveModel {
            appid: Set(new.appid),
            card_id: Set(new.card_id),
            outer_id: Set(new.outer_id.to_string()),
            outer_str: Set(new.outer_str),
            ..Default::default()
        },
    };
    row.name = Set(new.name);
    row.kind = Set(kind.as_str().to_owned());
    row.qr_ticket = Set(new.qr_ticket);
    row.qr_url = Set(new.qr_url);
    row.show_qrcode_url = Set(new.show_qrcode_url);
    row.expire_seconds = Set(new.expire_seconds);
    row.landing_url = Set(new.landing_url);
    row.page_id = Set(new.page_id);
    row.created_at = Set(created_at);
    row.updated_at = Set(now);
    Ok(row.save(db).await?.try_into_model()?.into())
}

/// The cards a follow or scan of the follow QR code `scene` hands out (usually one).
pub async fn follow_cards(
    db: &impl ConnectionTrait,
    appid: &str,
    scene: &str,
) -> Result<Vec<String>, StoreError> {
    use sea_orm::QuerySelect;
    Ok(channel::Entity::find()
        .select_only()
        .column(Column::CardId)
        .filter(Column::Appid.eq(appid))
        .filter(Column::Kind.eq(ChannelKind::FollowQrCode.as_str()))
        .filter(Column::OuterId.eq("0"))
        .filter(Column::OuterStr.eq(scene))
        .order_by_asc(Column::CardId)
        .into_tuple()
        .all(db)
        .await?)
}

/// Every registered channel (of one account), oldest first.
pub async fn list(
    db: &impl ConnectionTrait,
    appid: Option<&str>,
) -> Result<Vec<Channel>, StoreError> {
    let mut select = channel::Entity::find().order_by_asc(Column::Id);
    if let Some(appid) = appid {
        select = select.filter(Column::Appid.eq(appid));
    }
    Ok(select
        .all(db)
        .await?
        .into_iter()
        .map(Channel::from)
        .collect())
}

pub async fn get(db: &impl ConnectionTrait, id: i64) -> Result<Channel, StoreError> {
    channel::Entity::find_by_id(id)
        .one(db)
        .await?
        .map(Channel::from)
        .ok_or(StoreError::NotFound)
}

/// The names of the registered channels, by key.
#[derive(Debug, Default)]
pub struct ChannelNames {
    by_key: HashMap<(String, String, OuterId, String), String>,
}

impl ChannelNames {
    pub async fn load(db: &impl ConnectionTrait, appid: Option<&str>) -> Result<Self, StoreError> {
        let by_key = list(db, appid)
            .await?
            .into_iter()
            .filter(|c| has_key(&c.outer_id, &c.outer_str))
            .map(|c| ((c.appid, c.card_id, c.outer_id, c.outer_str), c.name))
            .collect();
        Ok(Self { by_key })
    }

    /// Every registered key: (appid, card_id, outer_id, outer_str).
    pub fn keys(&self) -> impl Iterator<Item = &(String, String, OuterId, String)> {
        self.by_key.keys()
    }

    /// The name of the channel a statistics row counts: registered for that card, else for every card.
    pub fn name(
        &self,
        appid: &str,
        card_id: &str,
        outer_id: &OuterId,
        outer_str: &str,
    ) -> Option<String> {
        let key = |card: &str| {
            (
                appid.to_owned(),
                card.to_owned(),
                outer_id.clone(),
                outer_str.to_owned(),
            )
        };
        self.by_key
            .get(&key(card_id))
            .or_else(|| self.by_key.get(&key("")))
            .cloned()
    }
}
