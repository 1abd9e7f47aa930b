//! What an operator distributes cards with (issue 8, reference §8): named channels, card QR codes,
//! landing pages, custom-code deposits, the test whitelist, the mpnews HTML and the JS-SDK
//! signatures. One service behind both the CLI and the admin API; the WeChat calls go through the
//! shared access_token (refreshed once when WeChat refuses it).

pub mod catalogue;
pub mod deposit;
pub mod jssdk;
pub mod messages;
pub mod qrcode;

use serde::Deserialize;

use crate::clock::Clock;
use crate::credentials::{TokenError, TokenProvider};
use crate::store::channel::{self, ChannelKind, NewChannel};
use crate::store::Db;
use crate::store::StoreError;
use crate::wechat::ids::OuterId;
use crate::wechat_api::distribution::{
    LandingCard, LandingPage, LandingPageRequest, WHITELIST_MAX,
};
use crate::wechat_api::ApiCallError;

/// The one error type of the distribution boundary; `http/error.rs` maps it to a status.
#[derive(Debug, thiserror::Error)]
pub enum DistributionError {
    /// The request itself is wrong; the message names the field.
    #[error("{0}")]
    Invalid(String),
    #[error("no account with an app_secret is configured for AppID {0}")]
    UnknownAccount(String),
    #[error("name the account: several accounts with an app_secret are configured (or none is)")]
    AmbiguousAccount,
    #[error(transparent)]
    Credential(#[from] TokenError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the deposit stopped after {done} of {total} codes reached WeChat: {source}; run the same deposit again to resume")]
    DepositInterrupted {
        done: usize,
        total: usize,
        source: TokenError,
    },
    #[error("the mass send stopped after {done} of {total} calls: {source}; what was sent is recorded as send {id} (`cardhook mass list`)")]
    MassInterrupted {
        id: i64,
        done: usize,
        total: usize,
        source: TokenError,
    },
}

impl From<ApiCallError> for DistributionError {
    fn from(e: ApiCallError) -> Self {
        Self::Credential(TokenError::Api(e))
    }
}

/// The operator's side of cardhook. Cheap to clone.
#[derive(Clone)]
pub struct Distribution {
    db: Db,
    tokens: TokenProvider,
    clock: Clock,
}

/// A name for an outer_str (or outer_id) used outside cardhook: a cardExt, an article, a link.
#[derive(Debug, Clone, Deserialize)]
pub struct NameChannel {
    pub appid: Option<String>,
    pub card_id: Option<String>,
    /// Up to 60 digits, as a number or a string.
    #[serde(default)]
    pub outer_id: Option<OuterId>,
    #[serde(default)]
    pub outer_str: Option<String>,
    pub name: String,
}

/// `/card/landingpage/create`, and the channel it is registered as.
#[derive(Debug, Clone, Deserialize)]
pub struct LandingPageOrder {
    pub appid: Option<String>,
    pub title: String,
    pub banner: String,
    /// SCENE_NEAR_BY, SCENE_MENU, SCENE_QRCODE, SCENE_ARTICLE, SCENE_H5, SCENE_IVR or SCENE_CARD_CUSTOM_CELL.
    pub scene: String,
    pub cards: Vec<LandingCard>,
    #[serde(default)]
    pub share: bool,
    /// The channel's name (default: the page title).
    pub name: Option<String>,
    #[serde(default)]
    pub outer_id: Option<i64>,
    #[serde(default)]
    pub outer_str: Option<String>,
}

/// The scenes `/card/landingpage/create` accepts (reference §8.2).
const SCENES: [&str; 7] = [
    "SCENE_NEAR_BY",
    "SCENE_MENU",
    "SCENE_QRCODE",
    "SCENE_ARTICLE",
    "SCENE_H5",
    "SCENE_IVR",
    "SCENE_CARD_CUSTOM_CELL",
];

/// A registered landing page: the channel and WeChat's answer.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CreatedLandingPage {
    pub channel: crate::store::channel::Channel,
    pub url: String,
    pub page_id: i64,
}

/// The test whitelist (it replaces the whole list: reference §8.4).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Whitelist {
    pub appid: Option<String>,
    #[serde(default)]
    pub openid: Vec<String>,
    #[serde(default)]
    pub username: Vec<String>,
}

/// A channel key from optional outer_id / outer_str; at least one, outer_id positive.
fn channel_key(
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

fn required(field: &str, value: &str) -> Result<(), DistributionError> {
    if value.trim().is_empty() {
        return Err(DistributionError::Invalid(format!("{field} is required")));
    }
    Ok(())
}

impl Distribution {
    pub fn new(db: Db, tokens: TokenProvider, clock: Clock) -> Self {
        Self { db, tokens, clock }
    }

    /// The account to act for: the one named (it needs an app_secret), else the only one.
    pub fn appid(&self, named: Option<&str>) -> Result<String, DistributionError> {
        match named {
            Some(appid) if self.tokens.has_secret(appid) => Ok(appid.to_owned()),
            Some(appid) => Err(DistributionError::UnknownAccount(appid.to_owned())),
            None => self
                .tokens
                .single_appid()
                .map(str::to_owned)
                .ok_or(DistributionError::AmbiguousAccount),
        }
    }

    fn now(&self) -> i64 {
        self.clock.now()
    }

    pub async fn channels(
        &self,
        appid: Option<&str>,
    ) -> Result<Vec<crate::store::channel::Channel>, DistributionError> {
        Ok(channel::list(&self.db, appid).await?)
    }

    pub async fn channel(
        &self,
        id: i64,
    ) -> Result<crate::store::channel::Channel, DistributionError> {
        Ok(channel::get(&self.db, id).await?)
    }

    /// Name a channel created elsewhere, so `stats` shows its name.
    pub async fn name_channel(
        &self,
        order: NameChannel,
    ) -> Result<crate::store::channel::Channel, DistributionError> {
        required("name", &order.name)?;
        let appid = self.appid(order.appid.as_deref())?;
        let (outer_id, outer_str) = channel_key(order.outer_id, order.outer_str.as_deref())?;
        let new = NewChannel {
            appid,
            card_id: order.card_id.unwrap_or_default(),
            outer_id,
            outer_str,
            name: order.name.trim().to_owned(),
            ..NewChannel::default()
        };
        Ok(channel::register(&self.db, ChannelKind::Named, new, self.now()).await?)
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
        let appid = self.appid(order.appid.as_deref())?;
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
        let api = self.tokens.api();
        let page: LandingPage = self
            .tokens
            .with_token(&appid, self.now(), |token| {
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
            channel::register(&self.db, ChannelKind::LandingPage, new, self.now()).await?;
        Ok(CreatedLandingPage {
            channel,
            url: page.url,
            page_id: page.page_id,
        })
    }

    /// Replace the test whitelist: at most 10 OpenIDs and usernames together.
    pub async fn set_whitelist(&self, list: Whitelist) -> Result<(), DistributionError> {
        let total = list.openid.len() + list.username.len();
        if total == 0 || total > WHITELIST_MAX {
            return Err(DistributionError::Invalid(format!(
                "the test whitelist takes 1 to {WHITELIST_MAX} OpenIDs and usernames together, got {total}"
            )));
        }
        let appid = self.appid(list.appid.as_deref())?;
        let api = self.tokens.api();
        let list = &list;
        self.tokens
            .with_token(&appid, self.now(), |token| async move {
                api.set_test_whitelist(&token, &list.openid, &list.username)
                    .await
            })
            .await?;
        Ok(())
    }

    /// The HTML that puts a card into a 图文 message.
    pub async fn mpnews_html(
        &self,
        appid: Option<&str>,
        card_id: &str,
    ) -> Result<String, DistributionError> {
        required("card_id", card_id)?;
        let appid = self.appid(appid)?;
        let api = self.tokens.api();
        Ok(self
            .tokens
            .with_token(&appid, self.now(), |token| async move {
                api.mpnews_html(&token, card_id).await
            })
            .await?)
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
