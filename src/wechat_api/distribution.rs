//! The distribution APIs an operator creates channels with (reference §8.1–§8.4): card QR codes,
//! landing pages (货架), custom-code deposit and check, the test whitelist and the mpnews HTML.

use serde::{Deserialize, Serialize};

use super::{ApiCallError, WechatApi};

/// The most codes one `/card/code/deposit` or `/card/code/checkcode` call takes (40109 beyond, §8.3).
pub const CODES_PER_CALL: usize = 100;

/// The most OpenIDs and usernames `/card/testwhitelist/set` takes, together.
pub const WHITELIST_MAX: usize = 10;

/// One card of a QR code (`action_info.card`, or an item of `multiple_card.card_list`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QrCard {
    pub card_id: String,
    /// Only for cards with use_custom_code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Only for cards with bind_openid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openid: Option<String>,
    /// A random code per scan; the QR code cannot be scanned again after a get.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_unique_code: bool,
    /// The legacy integer channel (event field OuterId).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outer_id: Option<i64>,
    /// The channel (event field OuterStr).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outer_str: Option<String>,
}

/// What a QR code carries: one card (QR_CARD) or several (QR_MULTIPLE_CARD).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QrCards {
    Single(QrCard),
    Multiple(Vec<QrCard>),
}

/// `/card/qrcode/create`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QrCode {
    pub ticket: String,
    #[serde(default)]
    pub expire_seconds: Option<i64>,
    pub url: String,
    #[serde(default)]
    pub show_qrcode_url: Option<String>,
}

/// One card of a landing page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LandingCard {
    pub card_id: String,
    pub thumb_url: String,
}

/// `/card/landingpage/create`'s request (reference §8.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LandingPageRequest {
    pub banner: String,
    pub page_title: String,
    pub can_share: bool,
    pub scene: String,
    pub card_list: Vec<LandingCard>,
}

/// `/card/landingpage/create`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LandingPage {
    pub url: String,
    pub page_id: i64,
}

/// `/card/code/deposit`'s answer: every code sent lands in exactly one list. Reference 001
/// documents the lists as counts (`"succ_code": 3`), other pages and real answers as the codes
/// themselves: both are read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Deposited {
    #[serde(default)]
    pub succ_code: CodeList,
    #[serde(default)]
    pub duplicate_code: CodeList,
    #[serde(default)]
    pub fail_code: CodeList,
}

/// One list of a deposit's answer: the codes, or only how many there were.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum CodeList {
    Codes(Vec<String>),
    Count(u64),
}

impl Default for CodeList {
    fn default() -> Self {
        Self::Codes(Vec::new())
    }
}

impl Deposited {
    /// The codes deposited, already held, and refused — when the answer names them (not counts).
    pub fn named(self) -> Option<(Vec<String>, Vec<String>, Vec<String>)> {
        match (self.succ_code, self.duplicate_code, self.fail_code) {
            (CodeList::Codes(succ), CodeList::Codes(duplicate), CodeList::Codes(fail)) => {
                Some((succ, duplicate, fail))
            }
            _ => None,
        }
    }
}

/// `/card/code/checkcode`'s answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Checked {
    #[serde(default)]
    pub exist_code: Vec<String>,
    #[serde(default)]
    pub not_exist_code: Vec<String>,
}

#[derive(Deserialize)]
struct Count {
    count: i64,
}

#[derive(Deserialize)]
struct Html {
    content: String,
}

#[derive(Deserialize)]
struct Empty {}

impl QrCards {
    /// The request body (reference §8.1).
    pub fn body(&self, expire_seconds: Option<u32>) -> serde_json::Value {
        let (action_name, action_info) = match self {
            Self::Single(card) => ("QR_CARD", serde_json::json!({ "card": card })),
            Self::Multiple(cards) => (
                "QR_MULTIPLE_CARD",
                serde_json::json!({ "multiple_card": { "card_list": cards } }),
            ),
        };
        let mut body =
            serde_json::json!({ "action_name": action_name, "action_info": action_info });
        if let Some(seconds) = expire_seconds {
            body["expire_seconds"] = seconds.into();
        }
        body
    }
}

impl WechatApi {
    pub async fn create_qrcode(
        &self,
        access_token: &str,
        cards: &QrCards,
        expire_seconds: Option<u32>,
    ) -> Result<QrCode, ApiCallError> {
        self.post_json(
            "/card/qrcode/create",
            access_token,
            &cards.body(expire_seconds),
        )
        .await
    }

    pub async fn create_landing_page(
        &self,
        access_token: &str,
        page: &LandingPageRequest,
    ) -> Result<LandingPage, ApiCallError> {
        self.post_json("/card/landingpage/create", access_token, page)
            .await
    }

    /// Import at most [`CODES_PER_CALL`] custom codes.
    pub async fn deposit_codes(
        &self,
        access_token: &str,
        card_id: &str,
        codes: &[String],
    ) -> Result<Deposited, ApiCallError> {
        let body = serde_json::json!({ "card_id": card_id, "code": codes });
        self.post_json("/card/code/deposit", access_token, &body)
            .await
    }

    pub async fn deposit_count(
        &self,
        access_token: &str,
        card_id: &str,
    ) -> Result<i64, ApiCallError> {
        let body = serde_json::json!({ "card_id": card_id });
        let answer: Count = self
            .post_json("/card/code/getdepositcount", access_token, &body)
            .await?;
        Ok(answer.count)
    }

    /// Which of at most [`CODES_PER_CALL`] codes WeChat holds for the card.
    pub async fn check_codes(
        &self,
        access_token: &str,
        card_id: &str,
        codes: &[String],
    ) -> Result<Checked, ApiCallError> {
        let body = serde_json::json!({ "card_id": card_id, "code": codes });
        self.post_json("/card/code/checkcode", access_token, &body)
            .await
    }

    /// Replace the whole test whitelist.
    pub async fn set_test_whitelist(
        &self,
        access_token: &str,
        openids: &[String],
        usernames: &[String],
    ) -> Result<(), ApiCallError> {
        let body = serde_json::json!({ "openid": openids, "username": usernames });
        let _: Empty = self
            .post_json("/card/testwhitelist/set", access_token, &body)
            .await?;
        Ok(())
    }

    /// The HTML that puts the card into a 图文 (mpnews) message.
    pub async fn mpnews_html(
        &self,
        access_token: &str,
        card_id: &str,
    ) -> Result<String, ApiCallError> {
        let body = serde_json::json!({ "card_id": card_id });
        let answer: Html = self
            .post_json("/card/mpnews/gethtml", access_token, &body)
            .await?;
        Ok(answer.content)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qr_bodies_follow_reference_8_1() {
        let card = QrCard {
            card_id: "pFS7Fjg8kV1IdDz01r4SQwMkuCKc".into(),
            outer_str: Some("12b".into()),
            ..QrCard::default()
        };
        assert_eq!(
            QrCards::Single(card.clone()).body(Some(1800)),
            serde_json::json!({
                "action_name": "QR_CARD",
                "expire_seconds": 1800,
                "action_info": { "card": { "card_id": "pFS7Fjg8kV1IdDz01r4SQwMkuCKc", "outer_str": "12b" } }
            })
        );
        let unique = QrCard {
            is_unique_code: true,
            ..card.clone()
        };
        assert_eq!(
            QrCards::Multiple(vec![card, unique]).body(None),
            serde_json::json!({
                "action_name": "QR_MULTIPLE_CARD",
                "action_info": { "multiple_card": { "card_list": [
                    { "card_id": "pFS7Fjg8kV1IdDz01r4SQwMkuCKc", "outer_str": "12b" },
                    { "card_id": "pFS7Fjg8kV1IdDz01r4SQwMkuCKc", "outer_str": "12b", "is_unique_code": true }
                ] } }
            })
        );
    }
}
