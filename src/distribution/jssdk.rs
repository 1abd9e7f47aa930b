//! JS-SDK parameters for the merchant's H5 pages (reference §8.5), signed with the cached tickets:
//! `cardExt` for `wx.addCard`, `cardSign` for `wx.chooseCard`, and the `wx.config` signature.

use rand::distributions::Alphanumeric;
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::{required, Distribution, DistributionError};
use crate::wechat::jssdk::{card_ext_signature, card_sign, config_signature, ChooseCard};
use crate::wechat_api::ticket::TicketKind;

/// `POST /api/v1/jssdk/card-ext`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct CardExtOrder {
    pub appid: Option<String>,
    pub card_id: String,
    pub code: Option<String>,
    pub openid: Option<String>,
    /// The channel (not signed).
    pub outer_str: Option<String>,
    /// The legacy integer channel (not signed).
    pub outer_id: Option<i64>,
    /// Not signed.
    pub fixed_begintimestamp: Option<i64>,
}

/// The `cardExt` JSON string `wx.addCard` expects (reference §8.5).
#[derive(Debug, Serialize)]
struct CardExt<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    openid: Option<&'a str>,
    timestamp: String,
    nonce_str: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fixed_begintimestamp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    outer_str: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    outer_id: Option<i64>,
    signature: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SignedCardExt {
    pub card_id: String,
    pub card_ext: String,
}

/// `POST /api/v1/jssdk/card-sign`: what `wx.chooseCard` filters on.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct CardSignOrder {
    pub appid: Option<String>,
    /// `shopId`.
    pub location_id: Option<String>,
    pub card_id: Option<String>,
    pub card_type: Option<String>,
}

/// The parameters of `wx.chooseCard`, named as it names them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChooseCardParams {
    pub shop_id: String,
    pub card_type: String,
    pub card_id: String,
    pub timestamp: i64,
    pub nonce_str: String,
    pub sign_type: &'static str,
    pub card_sign: String,
}

/// `POST /api/v1/jssdk/config`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct ConfigOrder {
    pub appid: Option<String>,
    pub url: String,
}

/// The parameters of `wx.config`, named as it names them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigParams {
    pub app_id: String,
    pub timestamp: i64,
    pub nonce_str: String,
    pub signature: String,
}

/// A nonce that differs per request (≤ 32 characters, reference §8.5).
fn nonce() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(16)
        .map(char::from)
        .collect()
}

/// The page URL as `wx.config` signs it: http(s), without its `#fragment`.
fn page_url(url: &str) -> Result<&str, DistributionError> {
    let page = url.split('#').next().unwrap_or_default();
    let parsed = url::Url::parse(page)
        .map_err(|e| DistributionError::Invalid(format!("url is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(DistributionError::Invalid(
            "url must be the http(s) page that calls wx.config".to_owned(),
        ));
    }
    Ok(page)
}

/// JS-SDK parameters signed with the cached tickets (`Distribution::jssdk`).
pub struct JsSdk<'a> {
    pub(super) op: &'a Distribution,
}

impl JsSdk<'_> {
    pub async fn card_ext(&self, order: CardExtOrder) -> Result<SignedCardExt, DistributionError> {
        required("card_id", &order.card_id)?;
        let appid = self.op.appid(order.appid.as_deref())?;
        let now = self.op.now();
        let ticket = self.op.tokens.ticket(&appid, TicketKind::Card, now).await?;
        let timestamp = now.to_string();
        let nonce_str = nonce();
        let signature = card_ext_signature(
            &ticket,
            &timestamp,
            &order.card_id,
            order.code.as_deref(),
            order.openid.as_deref(),
            &nonce_str,
        );
        let ext = CardExt {
            code: order.code.as_deref(),
            openid: order.openid.as_deref(),
            timestamp,
            nonce_str,
            fixed_begintimestamp: order.fixed_begintimestamp,
            outer_str: order.outer_str.as_deref(),
            outer_id: order.outer_id,
            signature,
        };
        let card_ext = serde_json::to_string(&ext)
            .map_err(|e| DistributionError::Invalid(format!("cardExt: {e}")))?;
        Ok(SignedCardExt {
            card_id: order.card_id,
            card_ext,
        })
    }

    pub async fn card_sign(
        &self,
        order: CardSignOrder,
    ) -> Result<ChooseCardParams, DistributionError> {
        let appid = self.op.appid(order.appid.as_deref())?;
        let now = self.op.now();
        let ticket = self.op.tokens.ticket(&appid, TicketKind::Card, now).await?;
        let nonce_str = nonce();
        let choose = ChooseCard {
            location_id: order.location_id.as_deref().unwrap_or_default(),
            card_id: order.card_id.as_deref().unwrap_or_default(),
            card_type: order.card_type.as_deref().unwrap_or_default(),
        };
        let card_sign = card_sign(&ticket, &appid, &now.to_string(), &nonce_str, choose);
        Ok(ChooseCardParams {
            shop_id: choose.location_id.to_owned(),
            card_type: choose.card_type.to_owned(),
            card_id: choose.card_id.to_owned(),
            timestamp: now,
            nonce_str,
            sign_type: "SHA1",
            card_sign,
        })
    }

    pub async fn config(&self, order: ConfigOrder) -> Result<ConfigParams, DistributionError> {
        let page = page_url(&order.url)?;
        let appid = self.op.appid(order.appid.as_deref())?;
        let now = self.op.now();
        let ticket = self
            .op
            .tokens
            .ticket(&appid, TicketKind::JsApi, now)
            .await?;
        let nonce_str = nonce();
        let signature = config_signature(&ticket, &nonce_str, &now.to_string(), page);
        Ok(ConfigParams {
            app_id: appid,
            timestamp: now,
            nonce_str,
            signature,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signed_url_drops_the_fragment_and_needs_http() {
        assert_eq!(
            page_url("https://shop.example/card?id=1#top").unwrap(),
            "https://shop.example/card?id=1"
        );
        assert!(page_url("javascript:alert(1)").is_err());
        assert!(page_url("not a url").is_err());
        let n = nonce();
        assert_eq!(n.len(), 16);
        assert_ne!(n, nonce());
    }
}
