//! The code APIs of the till and of a card's life (wechat-protocol.md §4.6; wechatpy's `card.py`
//! shows the same bodies): `/card/code/get` with `check_consume`, `/card/code/consume`,
//! `/card/code/unavailable`, `/card/code/update`, `/card/user/getcardlist` (the codes a user holds)
//! and `/card/delete`.

use serde::{Deserialize, Serialize};

use super::{ApiCallError, WechatApi};

/// WeChat's refusals at the till, by errcode (§5.3): the code was consumed already.
pub const CONSUMED: i64 = 40099;
/// The holder deleted the code, or it is being gifted, expired or unavailable.
pub const GONE: i64 = 40127;
/// No such code (40056 "invalid serial code"; 40116 "invalid code" too).
pub const UNKNOWN_CODES: [i64; 2] = [40056, 40116];

/// `/card/code/get`'s answer: the card (with its validity), the holder and the code's status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeInfo {
    #[serde(default)]
    pub card: CodeCard,
    /// The holder: WeChat always names one (an answer without is not read).
    pub openid: String,
    #[serde(default)]
    pub can_consume: bool,
    /// `NORMAL`, `CONSUMED`, `EXPIRE`, `GIFTING`, `GIFT_SUCC`, `GIFT_TIMEOUT`, `DELETE`,
    /// `UNAVAILABLE`.
    #[serde(default)]
    pub user_card_status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outer_str: Option<String>,
}

/// The card of a code, as `/card/code/get` names it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeCard {
    #[serde(default)]
    pub card_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub begin_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<i64>,
}

/// `/card/code/consume`'s answer: whose code of which card was consumed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Consumed {
    #[serde(default)]
    pub card: CodeCard,
    #[serde(default)]
    pub openid: String,
}

#[derive(Deserialize)]
struct Empty {}

/// One code a user holds, as `/card/user/getcardlist` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HeldCard {
    pub card_id: String,
    pub code: String,
}

#[derive(Deserialize)]
struct CardList {
    #[serde(default)]
    card_list: Vec<HeldCard>,
}

/// A body with the code and, when the caller named it, the card (needed for custom-code cards).
#[derive(Serialize)]
struct CodeBody<'a> {
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    card_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    check_consume: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    new_code: Option<&'a str>,
}

impl<'a> CodeBody<'a> {
    fn of(code: &'a str, card_id: Option<&'a str>) -> Self {
        Self {
            code,
            card_id,
            check_consume: None,
            reason: None,
            new_code: None,
        }
    }
}

impl WechatApi {
    /// The code's card, holder and status; with `check_consume`, whether it can be consumed now
    /// (WeChat then answers errcode 40099 for a consumed code instead of its status).
    pub async fn code_info(
        &self,
        access_token: &str,
        code: &str,
        card_id: Option<&str>,
        check_consume: bool,
    ) -> Result<CodeInfo, ApiCallError> {
        let body = CodeBody {
            check_consume: Some(check_consume),
            ..CodeBody::of(code, card_id)
        };
        self.post_json("/card/code/get", access_token, &body).await
    }

    /// Consume (核销) a code.
    pub async fn consume_code(
        &self,
        access_token: &str,
        code: &str,
        card_id: Option<&str>,
    ) -> Result<Consumed, ApiCallError> {
        let body = CodeBody::of(code, card_id);
        self.post_json("/card/code/consume", access_token, &body)
            .await
    }

    /// Make a code unavailable (take the card back), with the reason shown to no one but WeChat.
    pub async fn code_unavailable(
        &self,
        access_token: &str,
        code: &str,
        card_id: Option<&str>,
        reason: Option<&str>,
    ) -> Result<(), ApiCallError> {
        let body = CodeBody {
            reason,
            ..CodeBody::of(code, card_id)
        };
        let _: Empty = self
            .post_json("/card/code/unavailable", access_token, &body)
            .await?;
        Ok(())
    }

    /// Give a code a new code (the holder keeps the card).
    pub async fn update_code(
        &self,
        access_token: &str,
        code: &str,
        card_id: Option<&str>,
        new_code: &str,
    ) -> Result<(), ApiCallError> {
        let body = CodeBody {
            new_code: Some(new_code),
            ..CodeBody::of(code, card_id)
        };
        let _: Empty = self
            .post_json("/card/code/update", access_token, &body)
            .await?;
        Ok(())
    }

    /// The codes `openid` holds (of `card_id` only, when given).
    pub async fn user_cards(
        &self,
        access_token: &str,
        openid: &str,
        card_id: Option<&str>,
    ) -> Result<Vec<HeldCard>, ApiCallError> {
        let mut body = serde_json::json!({ "openid": openid });
        if let Some(card_id) = card_id {
            body["card_id"] = card_id.into();
        }
        let list: CardList = self
            .post_json("/card/user/getcardlist", access_token, &body)
            .await?;
        Ok(list.card_list)
    }

    /// Delete a card: no one can get it any more, and the codes handed out cannot be used.
    pub async fn delete_card(&self, access_token: &str, card_id: &str) -> Result<(), ApiCallError> {
        let body = serde_json::json!({ "card_id": card_id });
        let _: Empty = self.post_json("/card/delete", access_token, &body).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_carry_what_the_call_needs_and_nothing_else() {
        let json = |b: &CodeBody<'_>| serde_json::to_value(b).unwrap();
        assert_eq!(
            json(&CodeBody::of("123", None)),
            serde_json::json!({"code": "123"})
        );
        assert_eq!(
            json(&CodeBody {
                check_consume: Some(true),
                ..CodeBody::of("123", Some("pC"))
            }),
            serde_json::json!({"code": "123", "card_id": "pC", "check_consume": true})
        );
        assert_eq!(
            json(&CodeBody {
                new_code: Some("456"),
                ..CodeBody::of("123", Some("pC"))
            }),
            serde_json::json!({"code": "123", "card_id": "pC", "new_code": "456"})
        );
    }

    #[test]
    fn a_code_answer_reads_as_wechat_documents_it() {
        let info: CodeInfo = serde_json::from_str(
            r#"{"errcode":0,"errmsg":"ok","card":{"card_id":"pC","begin_time":1457452800,"end_time":1463155199},"openid":"oX","can_consume":true,"user_card_status":"NORMAL"}"#,
        )
        .unwrap();
        assert_eq!(info.card.card_id, "pC");
        assert_eq!(info.card.end_time, Some(1_463_155_199));
        assert!(info.can_consume);
        assert_eq!(info.user_card_status, "NORMAL");
    }
}
