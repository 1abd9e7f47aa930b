//! Channels (reference §8): named channels for an outer_str / outer_id used elsewhere, landing pages
//! registered as channels, and the card QR codes of `qrcode.rs`.

use serde::Deserialize;

use super::{required, Distribution, DistributionError};
use crate::store::channel::{self, Channel, ChannelKind, NewChannel};
use crate::wechat::ids::OuterId;
use crate::wechat_api::distribution::{LandingCard, LandingPage, LandingPageRequest};

/// The channels an operator registers (`Distribution::channels`).
pub struct Channels<'a> {
    pub(super) op: &'a Distribution,
}

/// A name for an outer_str (or outer_id) used outside cardhook: a cardExt, an article, a link.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NameChannel {
    pub appid: Option<String>,
    pub card_id: Option<String>,
    /// Up to 60 digits, as a number or a string.
    #[serde(default)]
    #[schema(schema_with = crate::api_schema::outer_id_given)]
    pub outer_id: Option<OuterId>,
    #[serde(default)]
    pub outer_str: Option<String>,
    pub name: String,
}

/// `/card/landingpage/create`, and the channel it is registered as.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct LandingPageOrder {
    pub appid: Option<String>,
    pub title: String,
    pub banner: String,
    /// SCENE_NEAR_BY, SCENE_MENU, SCENE_QRCODE, SCENE_ARTICLE, SCENE_H5, SCENE_IVR or SCENE_CARD_CUSTOM_CELL.
    pub scene: String,
    #[schema(min_items = 1)]
    pub cards: Vec<LandingCard>,
    #[serde(default)]
    pub share: bool,
    /// The channel's name (default: the page title).
    pub name: Option<String>,
    #[serde(default)]
    #[schema(minimum = 1, maximum = 9_223_372_036_854_775_807_i64)]
    pub outer_id: Option<i64>,
    #[serde(default)]
    pub outer_str: Option<String>,
}

/// The scenes `/card/landingpage/create` accepts (reference §8.2).
pub const SCENES: [&str; 7] = [
    "SCENE_NEAR_BY",
    "SCENE_MENU",
    "SCENE_QRCODE",
    "SCENE_ARTICLE",
    "SCENE_H5",
    "SCENE_IVR",
    "SCENE_CARD_CUSTOM_CELL",
];

/// A registered landing page: the channel and WeChat's answer.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct CreatedLandingPage {
    pub channel: Channel,
    pub url: String,
    pub page_id: i64,
}

/// A channel key from optional outer_id / outer_str; at least one, outer_id positive.
pub(super) fn channel_key(
    outer_id: Option<OuterId>,
    outer_str: Option<&str>,
) -> Result<(OuterId, String), DistributionError> {
    let outer_str = outer_str.unwrap_or_default().trim();
    match outer_id {
        Some(id) if !id.is_positive() => Err(DistributionError::Invalid(format!(
            "outer_id must be a positive integer, got {id}"
        ))),
        None if outer_str.is_empty() => Err(DistributionError::Invalid(
            "a channel needs outer_str or outer_id".to_owned(),
        )),
        id => Ok((id.unwrap_or_default(), outer_str.to_owned())),
    }
}

impl Channels<'_> {
    pub async fn list(&self, appid: Option<&str>) -> Result<Vec<Channel>, DistributionError> {
        Ok(channel::list(&self.op.db, appid).await?)
    }

    pub async fn get(&self, id: i64) -> Result<Channel, DistributionError> {
        Ok(channel::get(&self.op.db, id).await?)
    }

    /// Name a channel created elsewhere, so `stats` shows its name.
    pub async fn name(&self, order: NameChannel) -> Result<Channel, DistributionError> {
        required("name", &order.name)?;
        let appid = self.op.appid(order.appid.as_deref())?;
        let (outer_id, outer_str) = channel_key(order.outer_id, order.outer_str.as_deref())?;
        let new = NewChannel {
            appid,
            card_id: order.card_id.unwrap_or_default(),
            outer_id,
            outer_str,
            name: order.name.trim().to_owned(),
            ..NewChannel::default()
        };
        Ok(channel::register(&self.op.db, ChannelKind::Named, new, self.op.now()).await?)
    }

    /// Create a landing page and register it as a channel (under its outer_str / outer_id when
    /// given: WeChat's landing pages carry none of their own).
    pub async fn create_landing_page(
        &self,
        order: LandingPageOrder,
    ) -> Result<CreatedLandingPage, DistributionError> {
        required("title", &order.title)?;
        required("banner", &order.banner)?;
        if !SCENES.contains(&order.scene.as_str()) {
            return Err(DistributionError::Invalid(format!(
                "scene must be one of {}, got {:?}",
                SCENES.join(", "),
                order.scene
            )));
        }
        if order.cards.is_empty() {
            return Err(DistributionError::Invalid(
                "a landing page needs at least one card (card_id=thumb_url)".to_owned(),
            ));
        }
        let appid = self.op.appid(order.appid.as_deref())?;
        let (outer_id, outer_str) = match (order.outer_id, order.outer_str.as_deref()) {
            (None, None) => (OuterId::zero(), String::new()),
            (id, text) => channel_key(id.map(OuterId::from), text)?,
        };
        let request = LandingPageRequest {
            banner: order.banner,
            page_title: order.title.clone(),
            can_share: order.share,
            scene: order.scene,
            card_list: order.cards,
        };
        let api = self.op.tokens.api();
        let page: LandingPage = self
            .op
            .tokens
            .with_token(&appid, self.op.now(), |token| {
                let request = &request;
                async move { api.create_landing_page(&token, request).await }
            })
            .await?;
        // One card: the channel is that card's; several: every card of the page.
        let card_id = match request.card_list.as_slice() {
            [only] => only.card_id.clone(),
            _ => String::new(),
        };
        let new = NewChannel {
            appid,
            card_id,
            outer_id,
            outer_str,
            name: order.name.unwrap_or(order.title),
            landing_url: Some(page.url.clone()),
            page_id: Some(page.page_id),
            ..NewChannel::default()
        };
        let channel =
            channel::register(&self.op.db, ChannelKind::LandingPage, new, self.op.now()).await?;
        Ok(CreatedLandingPage {
            channel,
            url: page.url,
            page_id: page.page_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_key_needs_a_positive_outer_id_or_an_outer_str() {
        let id = |n: i64| Some(OuterId::from(n));
        assert_eq!(
            channel_key(None, Some(" t12 ")).ok(),
            Some((OuterId::zero(), "t12".into()))
        );
        assert_eq!(
            channel_key(id(7), None).ok(),
            Some((OuterId::from(7), String::new()))
        );
        assert!(channel_key(None, Some("  ")).is_err());
        assert!(channel_key(id(0), Some("x")).is_err());
        assert!(channel_key(id(-3), None).is_err());
    }
}
