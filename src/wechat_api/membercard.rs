//! Member cards and their codes: `/card/membercard/activate`, `/card/membercard/userinfo/get`,
//! `/card/code/decrypt` (reference §4.1, §4.3, §4.6; `/card/code/get` is in `till.rs`).

use serde::{Deserialize, Serialize};

use super::{ApiCallError, WechatApi};

/// What a member card is activated with. Its JSON is exactly the body of
/// `/card/membercard/activate` (reference 003), which the worker sends as it is; optional values are
/// left out when not configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberActivation {
    pub card_id: String,
    pub code: String,
    pub membership_number: String,
    pub init_bonus: i64,
    pub init_balance: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_bonus_record: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_custom_field_value1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_custom_field_value2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_custom_field_value3: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background_pic_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activate_begin_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activate_end_time: Option<i64>,
}

#[derive(Deserialize)]
struct Empty {}

#[derive(Deserialize)]
struct UserInfo {
    #[serde(default)]
    has_active: bool,
    #[serde(default)]
    bonus: i64,
    #[serde(default)]
    balance: i64,
    #[serde(default)]
    user_info: FormAnswers,
}

/// What a customer filled in on the card's one-click form (`user_info` of userinfo/get, `info` of
/// activatetempinfo/get).
#[derive(Debug, Default, Deserialize)]
struct FormAnswers {
    #[serde(default)]
    common_field_list: Vec<NameValue>,
}

impl FormAnswers {
    /// The mobile number given, if any.
    fn mobile(self) -> Option<String> {
        self.common_field_list
            .into_iter()
            .find(|field| field.name == MOBILE_FIELD)
            .map(|field| field.value)
            .filter(|value| !value.is_empty())
    }
}

/// `/card/membercard/activatetempinfo/get`'s answer.
#[derive(Deserialize)]
struct TempInfo {
    #[serde(default)]
    info: FormAnswers,
}

#[derive(Debug, Deserialize)]
struct NameValue {
    name: String,
    #[serde(default)]
    value: String,
}

/// The mobile number field of the one-click form (reference §4.5).
const MOBILE_FIELD: &str = "USER_FORM_INFO_FLAG_MOBILE";

/// The body of `/card/membercard/updateuser` (reference §4.2). `bonus` and `balance` are absolute, so a
/// retried call is harmless; `add_bonus` and `add_balance` only word WeChat's change message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpdateUser<'a> {
    pub code: &'a str,
    pub card_id: &'a str,
    pub bonus: i64,
    pub add_bonus: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_bonus: Option<&'a str>,
    pub balance: i64,
    pub add_balance: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_balance: Option<&'a str>,
    pub notify_optional: NotifyOptional,
}

/// Which change messages WeChat sends the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct NotifyOptional {
    pub is_notify_bonus: bool,
    pub is_notify_balance: bool,
}

/// What the card shows after an update (absent when WeChat does not say).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Updated {
    pub result_bonus: Option<i64>,
    pub result_balance: Option<i64>,
}

#[derive(Deserialize)]
struct Decrypted {
    code: String,
}

impl WechatApi {
    /// `/card/membercard/activate` with `body`, the request as reference 003 documents it.
    pub async fn activate(
        &self,
        access_token: &str,
        body: &impl Serialize,
    ) -> Result<(), ApiCallError> {
        let _: Empty = self
            .post_json("/card/membercard/activate", access_token, body)
            .await?;
        Ok(())
    }

    /// Whether WeChat already considers the code activated (`has_active`).
    pub async fn is_active(
        &self,
        access_token: &str,
        card_id: &str,
        code: &str,
    ) -> Result<bool, ApiCallError> {
        let body = serde_json::json!({ "card_id": card_id, "code": code });
        let info: UserInfo = self
            .post_json("/card/membercard/userinfo/get", access_token, &body)
            .await?;
        Ok(info.has_active)
    }

    pub async fn update_user(
        &self,
        access_token: &str,
        body: &UpdateUser<'_>,
    ) -> Result<Updated, ApiCallError> {
        self.post_json("/card/membercard/updateuser", access_token, body)
            .await
    }

    /// The points and balance the card `code` shows.
    pub async fn shown_values(
        &self,
        access_token: &str,
        card_id: &str,
        code: &str,
    ) -> Result<(i64, i64), ApiCallError> {
        let body = serde_json::json!({ "card_id": card_id, "code": code });
        let info: UserInfo = self
            .post_json("/card/membercard/userinfo/get", access_token, &body)
            .await?;
        Ok((info.bonus, info.balance))
    }

    /// The mobile number the holder of `code` gave on the card's one-click form, if any.
    pub async fn form_mobile(
        &self,
        access_token: &str,
        card_id: &str,
        code: &str,
    ) -> Result<Option<String>, ApiCallError> {
        let body = serde_json::json!({ "card_id": card_id, "code": code });
        let info: UserInfo = self
            .post_json("/card/membercard/userinfo/get", access_token, &body)
            .await?;
        Ok(info.user_info.mobile())
    }

    /// The mobile number a customer gave on a jump-style form, by the form's `activate_ticket`
    /// (reference §4.4: 跳转型一键激活).
    pub async fn jump_form_mobile(
        &self,
        access_token: &str,
        activate_ticket: &str,
    ) -> Result<Option<String>, ApiCallError> {
        let body = serde_json::json!({ "activate_ticket": activate_ticket });
        let info: TempInfo = self
            .post_json("/card/membercard/activatetempinfo/get", access_token, &body)
            .await?;
        Ok(info.info.mobile())
    }

    /// The plaintext code of an `encrypt_code` (as an activate_url page receives it).
    pub async fn decrypt_code(
        &self,
        access_token: &str,
        encrypt_code: &str,
    ) -> Result<String, ApiCallError> {
        let body = serde_json::json!({ "encrypt_code": encrypt_code });
        let decrypted: Decrypted = self
            .post_json("/card/code/decrypt", access_token, &body)
            .await?;
        Ok(decrypted.code)
    }
}
