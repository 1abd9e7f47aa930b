//! Cards by message (issue 26, references 000, 001, 003): follow QR codes that hand out a card, a
//! card in a customer-service message, and mass sends with a preview, each recorded.

use serde::{Deserialize, Serialize};

use super::jssdk::CardExtOrder;
use super::{required, Distribution, DistributionError};
use crate::credentials::TokenError;
use crate::store::channel::{self, ChannelKind, NewChannel};
use crate::store::mass::{self, MassSendView, NewMassSend};
use crate::wechat_api::distribution::WHITELIST_MAX;
use crate::wechat_api::messages::{MassAudience, FOLLOW_QR_MAX_SECONDS, MASS_OPENIDS_PER_CALL};

use super::qrcode::CreatedQrCode;

/// The longest scene a string-scene QR code takes (reference "Follow QR codes").
const SCENE_MAX_CHARS: usize = 64;

/// `cardhook qrcode follow` / `POST /api/v1/channels/follow-qrcode`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct FollowQrOrder {
    pub appid: Option<String>,
    /// The QR code's scene: the channel's outer_str.
    pub scene: String,
    pub card_id: String,
    pub name: String,
    /// Seconds a temporary code lives (at most 30 days; the default).
    #[schema(minimum = 1, maximum = 2592000)]
    pub expire_seconds: Option<u32>,
    /// A permanent code (QR_LIMIT_STR_SCENE) instead.
    #[serde(default)]
    pub permanent: bool,
}

/// `cardhook send card` / `POST /api/v1/send/card`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct SendCardOrder {
    pub appid: Option<String>,
    pub card_id: String,
    pub openid: String,
    /// The channel the get will count in.
    pub outer_str: Option<String>,
}

/// Who a mass send goes to, as an operator names it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MassTarget {
    Tag(i64),
    OpenIds(Vec<String>),
    All,
    /// One follower (the operator) sees it first (`/cgi-bin/message/mass/preview`).
    Preview(String),
}

/// `cardhook mass card` / `POST /api/v1/mass`: `{"card_id", "target": {"tag": N} | {"open_ids":
/// […]} | "all" | {"preview": OPENID}, "name"?}`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct MassOrder {
    pub appid: Option<String>,
    pub card_id: String,
    pub target: MassTarget,
    pub name: Option<String>,
}

impl MassTarget {
    /// How the send is recorded: never the OpenIDs themselves.
    fn label(&self) -> String {
        match self {
            Self::Tag(tag_id) => format!("tag:{tag_id}"),
            Self::OpenIds(openids) => format!("openids:{}", openids.len()),
            Self::All => "all".to_owned(),
            Self::Preview(_) => "preview".to_owned(),
        }
    }
}

/// The URL that shows a QR code's image (reference "Follow QR codes").
fn show_url(ticket: &str) -> String {
    let ticket: String = url::form_urlencoded::byte_serialize(ticket.as_bytes()).collect();
    format!("https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket={ticket}")
}

/// `openids` in calls of at most [`MASS_OPENIDS_PER_CALL`], none of fewer than two (WeChat's floor).
fn batches(openids: &[String]) -> Result<Vec<&[String]>, DistributionError> {
    if openids.len() < 2 {
        return Err(DistributionError::Invalid(
            "a mass send to OpenIDs needs at least 2 (send one card with `cardhook send card`)"
                .to_owned(),
        ));
    }
    let calls = openids.len().div_ceil(MASS_OPENIDS_PER_CALL);
    let size = openids.len().div_ceil(calls);
    Ok(openids.chunks(size).collect())
}

/// Cards by message and the test whitelist (`Distribution::messages`).
pub struct Messages<'a> {
    pub(super) op: &'a Distribution,
}

/// The test whitelist (it replaces the whole list: reference §8.4).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct Whitelist {
    pub appid: Option<String>,
    #[serde(default)]
    #[schema(max_items = 10)]
    pub openid: Vec<String>,
    #[serde(default)]
    #[schema(max_items = 10)]
    pub username: Vec<String>,
}

impl Messages<'_> {
    /// The id of the account's WeChat user tag `name`, if WeChat has one (`/cgi-bin/tags/get`).
    pub async fn tag_id(
        &self,
        appid: Option<&str>,
        name: &str,
    ) -> Result<Option<i64>, DistributionError> {
        let appid = self.op.appid(appid)?;
        let api = self.op.tokens.api();
        Ok(self
            .op
            .tokens
            .with_token(&appid, self.op.now(), |token| async move {
                api.tag_id(&token, name).await
            })
            .await?)
    }

    /// Create a follow QR code for `scene` and register its channel: a follow or scan of it sends
    /// the card (the `send_card` job the ingest queues).
    pub async fn create_follow_qrcode(
        &self,
        order: FollowQrOrder,
    ) -> Result<CreatedQrCode, DistributionError> {
        required("scene", &order.scene)?;
        required("card_id", &order.card_id)?;
        required("name", &order.name)?;
        let scene = order.scene.trim();
        if scene.chars().count() > SCENE_MAX_CHARS {
            return Err(DistributionError::Invalid(format!(
                "scene is at most {SCENE_MAX_CHARS} characters"
            )));
        }
        let expire = match (order.permanent, order.expire_seconds) {
            (true, Some(_)) => {
                return Err(DistributionError::Invalid(
                    "a permanent QR code has no expire_seconds".to_owned(),
                ))
            }
            (true, None) => None,
            (false, Some(s)) if s == 0 || s > FOLLOW_QR_MAX_SECONDS => {
                return Err(DistributionError::Invalid(format!(
                    "expire_seconds must be 1 to {FOLLOW_QR_MAX_SECONDS} (30 days), got {s}"
                )))
            }
            (false, seconds) => Some(seconds.unwrap_or(FOLLOW_QR_MAX_SECONDS)),
        };
        let appid = self.op.appid(order.appid.as_deref())?;
        let api = self.op.tokens.api();
        let qr = self
            .op
            .tokens
            .with_token(&appid, self.op.now(), |token| async move {
                api.create_follow_qrcode(&token, scene, expire).await
            })
            .await?;
        let show_qrcode_url = show_url(&qr.ticket);
        let new = NewChannel {
            appid,
            card_id: order.card_id.trim().to_owned(),
            outer_str: scene.to_owned(),
            name: order.name.trim().to_owned(),
            qr_ticket: Some(qr.ticket.clone()),
            qr_url: Some(qr.url.clone()),
            show_qrcode_url: Some(show_qrcode_url.clone()),
            expire_seconds: qr.expire_seconds,
            ..NewChannel::default()
        };
        let channel =
            channel::register(&self.op.db, ChannelKind::FollowQrCode, new, self.op.now()).await?;
        Ok(CreatedQrCode {
            channel,
            ticket: qr.ticket,
            url: qr.url,
            show_qrcode_url: Some(show_qrcode_url),
            expire_seconds: qr.expire_seconds,
        })
    }

    /// A card in a customer-service message (`/cgi-bin/message/custom/send`), its cardExt signed
    /// with the card api_ticket and naming `outer_str`.
    pub async fn send_card(&self, order: SendCardOrder) -> Result<(), DistributionError> {
        required("card_id", &order.card_id)?;
        required("openid", &order.openid)?;
        let appid = self.op.appid(order.appid.as_deref())?;
        let signed = self
            .op
            .jssdk()
            .card_ext(CardExtOrder {
                appid: Some(appid.clone()),
                card_id: order.card_id.clone(),
                outer_str: order.outer_str.clone(),
                ..CardExtOrder::default()
            })
            .await?;
        let api = self.op.tokens.api();
        let (openid, card_id, card_ext) = (&order.openid, &order.card_id, &signed.card_ext);
        self.op
            .tokens
            .with_token(&appid, self.op.now(), |token| async move {
                api.send_card_message(&token, openid, card_id, card_ext)
                    .await
            })
            .await?;
        Ok(())
    }

    /// Mass-send a card (or preview it) and record the send with WeChat's message ids. A send to
    /// OpenIDs goes in calls of at most 10 000; one that stops midway records what was sent.
    /// `progress(done, total)` after each call, in OpenIDs when the send names them, else calls.
    pub async fn mass_card(
        &self,
        order: MassOrder,
        progress: &dyn Fn(usize, usize),
    ) -> Result<MassSendView, DistributionError> {
        required("card_id", &order.card_id)?;
        let appid = self.op.appid(order.appid.as_deref())?;
        let card_id = order.card_id.as_str();
        let audiences: Vec<MassAudience<'_>> = match &order.target {
            MassTarget::Tag(tag_id) => vec![MassAudience::Tag(*tag_id)],
            MassTarget::All => vec![MassAudience::All],
            MassTarget::OpenIds(openids) => batches(openids)?
                .into_iter()
                .map(MassAudience::OpenIds)
                .collect(),
            MassTarget::Preview(openid) => {
                required("preview", openid)?;
                Vec::new()
            }
        };
        let api = self.op.tokens.api();
        let mut msg_ids = Vec::new();
        let mut stopped: Option<TokenError> = None;
        if let MassTarget::Preview(openid) = &order.target {
            let msg_id = self
                .op
                .tokens
                .with_token(&appid, self.op.now(), |token| async move {
                    api.preview_card(&token, openid, card_id).await
                })
                .await?;
            msg_ids.extend(msg_id);
        }
        let total: usize = audiences.iter().map(MassAudience::reach).sum();
        let mut done = 0;
        for audience in &audiences {
            let sent = self
                .op
                .tokens
                .with_token(&appid, self.op.now(), |token| async move {
                    api.mass_send_card(&token, audience, card_id).await
                })
                .await;
            match sent {
                Ok(msg_id) => {
                    msg_ids.extend(msg_id);
                    done += audience.reach();
                    progress(done, total);
                }
                Err(e) if msg_ids.is_empty() => return Err(e.into()),
                Err(e) => {
                    stopped = Some(e);
                    break;
                }
            }
        }
        let send = NewMassSend {
            appid: appid.clone(),
            card_id: order.card_id.clone(),
            name: order.name.clone().unwrap_or_else(|| order.target.label()),
            target: order.target.label(),
            msg_ids,
        };
        let id = mass::record(&self.op.db, &send, self.op.now()).await?;
        if let Some(source) = stopped {
            return Err(DistributionError::MassInterrupted {
                id,
                done: send.msg_ids.len(),
                total: audiences.len(),
                source,
            });
        }
        Ok(mass::get(&self.op.db, id).await?)
    }

    /// The mass sends, newest first.
    pub async fn mass_sends(
        &self,
        appid: Option<&str>,
    ) -> Result<Vec<MassSendView>, DistributionError> {
        Ok(mass::list(&self.op.db, appid).await?)
    }
}

impl Messages<'_> {
    /// Replace the test whitelist: at most 10 OpenIDs and usernames together.
    pub async fn set_whitelist(&self, list: Whitelist) -> Result<(), DistributionError> {
        let total = list.openid.len() + list.username.len();
        if total == 0 || total > WHITELIST_MAX {
            return Err(DistributionError::Invalid(format!(
                "the test whitelist takes 1 to {WHITELIST_MAX} OpenIDs and usernames together, got {total}"
            )));
        }
        let appid = self.op.appid(list.appid.as_deref())?;
        let api = self.op.tokens.api();
        let list = &list;
        self.op
            .tokens
            .with_token(&appid, self.op.now(), |token| async move {
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
        let appid = self.op.appid(appid)?;
        let api = self.op.tokens.api();
        Ok(self
            .op
            .tokens
            .with_token(&appid, self.op.now(), |token| async move {
                api.mpnews_html(&token, card_id).await
            })
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openids_go_in_even_calls_of_at_most_ten_thousand_and_never_one() {
        let ids = |n: usize| -> Vec<String> { (0..n).map(|i| format!("o{i}")).collect() };
        let sizes = |n: usize| -> Vec<usize> {
            batches(&ids(n)).unwrap().iter().map(|b| b.len()).collect()
        };
        assert_eq!(sizes(2), [2]);
        assert_eq!(sizes(10_000), [10_000]);
        assert_eq!(sizes(10_001), [5_001, 5_000]);
        assert_eq!(sizes(25_000), [8_334, 8_334, 8_332]);
        assert!(batches(&ids(1)).is_err());
    }

    #[test]
    fn a_send_is_recorded_without_its_openids() {
        let many = MassTarget::OpenIds(vec!["oA".to_owned(), "oB".to_owned()]);
        assert_eq!(many.label(), "openids:2");
        assert_eq!(
            MassTarget::Preview("oOperator".to_owned()).label(),
            "preview"
        );
        assert_eq!(MassTarget::Tag(2).label(), "tag:2");
    }
}
