//! `/card/membercard/activate` and `/card/membercard/userinfo/get` (reference §4.1, §4.3).

use serde::{Deserialize, Serialize};

use super::{ApiCallError, WechatApi};

/// The activation request body. Optional fields are sent only when configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivateRequest {
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
}

impl WechatApi {
    pub async fn activate(
        &self,
        access_token: &str,
        body: &ActivateRequest,
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
}
