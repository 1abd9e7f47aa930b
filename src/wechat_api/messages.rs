//! Cards by message (references 000, 001, 003; wechat-protocol.md "Follow QR codes", "Sending
//! cards"): follow QR codes, a card in a customer-service message, mass sends and their preview.

use serde::Deserialize;
use serde_json::{json, Value};

use super::distribution::QrCode;
use super::{ApiCallError, WechatApi};

/// The longest a temporary follow QR code lives (30 days).
pub const FOLLOW_QR_MAX_SECONDS: u32 = 2_592_000;

/// The most OpenIDs one `/cgi-bin/message/mass/send` call takes; it needs at least two.
pub const MASS_OPENIDS_PER_CALL: usize = 10_000;

/// Who a mass send goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MassAudience<'a> {
    /// Every follower with this tag (按标签群发).
    Tag(i64),
    /// Every follower.
    All,
    /// These followers (2 to [`MASS_OPENIDS_PER_CALL`]).
    OpenIds(&'a [String]),
}

impl MassAudience<'_> {
    /// How much of a send one call is: its OpenIDs, or 1 for a tag or everyone.
    pub fn reach(&self) -> usize {
        match self {
            Self::OpenIds(openids) => openids.len(),
            Self::Tag(_) | Self::All => 1,
        }
    }
}

#[derive(Deserialize)]
struct MassAnswer {
    #[serde(default)]
    msg_id: Option<i64>,
}

#[derive(Deserialize)]
struct Empty {}

/// `{"wxcard": {"card_id"}, "msgtype": "wxcard"}` plus `to` (the addressee fields).
fn wxcard(card_id: &str, mut to: Value) -> Value {
    to["wxcard"] = json!({ "card_id": card_id });
    to["msgtype"] = json!("wxcard");
    to
}

impl WechatApi {
    /// `/cgi-bin/qrcode/create` for a string scene: temporary (`QR_STR_SCENE`, `expire_seconds`) or,
    /// without an expiry, permanent (`QR_LIMIT_STR_SCENE`).
    pub async fn create_follow_qrcode(
        &self,
        access_token: &str,
        scene: &str,
        expire_seconds: Option<u32>,
    ) -> Result<QrCode, ApiCallError> {
        let action_info = json!({ "scene": { "scene_str": scene } });
        let body = match expire_seconds {
            Some(seconds) => json!({
                "expire_seconds": seconds,
                "action_name": "QR_STR_SCENE",
                "action_info": action_info,
            }),
            None => json!({ "action_name": "QR_LIMIT_STR_SCENE", "action_info": action_info }),
        };
        self.post_json("/cgi-bin/qrcode/create", access_token, &body)
            .await
    }

    /// A card in a customer-service message (within 48 hours of the user's last interaction;
    /// 45015 otherwise). `card_ext` is the signed cardExt JSON string.
    pub async fn send_card_message(
        &self,
        access_token: &str,
        openid: &str,
        card_id: &str,
        card_ext: &str,
    ) -> Result<(), ApiCallError> {
        let body = json!({
            "touser": openid,
            "msgtype": "wxcard",
            "wxcard": { "card_id": card_id, "card_ext": card_ext },
        });
        let _: Empty = self
            .post_json("/cgi-bin/message/custom/send", access_token, &body)
            .await?;
        Ok(())
    }

    /// A mass send of a card; its msg_id.
    pub async fn mass_send_card(
        &self,
        access_token: &str,
        audience: &MassAudience<'_>,
        card_id: &str,
    ) -> Result<Option<i64>, ApiCallError> {
        let (path, to) = match audience {
            MassAudience::Tag(tag_id) => (
                "/cgi-bin/message/mass/sendall",
                json!({ "filter": { "is_to_all": false, "tag_id": tag_id } }),
            ),
            MassAudience::All => (
                "/cgi-bin/message/mass/sendall",
                json!({ "filter": { "is_to_all": true } }),
            ),
            MassAudience::OpenIds(openids) => {
                ("/cgi-bin/message/mass/send", json!({ "touser": openids }))
            }
        };
        let answer: MassAnswer = self
            .post_json(path, access_token, &wxcard(card_id, to))
            .await?;
        Ok(answer.msg_id)
    }

    /// The mass message as one follower (the operator) will see it.
    pub async fn preview_card(
        &self,
        access_token: &str,
        openid: &str,
        card_id: &str,
    ) -> Result<Option<i64>, ApiCallError> {
        let body = wxcard(card_id, json!({ "touser": openid }));
        let answer: MassAnswer = self
            .post_json("/cgi-bin/message/mass/preview", access_token, &body)
            .await?;
        Ok(answer.msg_id)
    }
}
