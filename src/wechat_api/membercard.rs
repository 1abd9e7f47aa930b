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
        let request = self
            .http
            .post(self.url("/card/membercard/activate"))
            .query(&[("access_token", access_token)])
            .json(body);
        self.call::<Empty>(request).await.map(|_| ())
    }

    /// Whether WeChat already considers the code activated (`has_active`).
    pub async fn is_active(
        &self,
        access_token: &str,
        card_id: &str,
        code: &str,
    ) -> Result<bool, ApiCallError> {
        let request = self
            .http
            .post(self.url("/card/membercard/userinfo/get"))
            .query(&[("access_token", access_token)])
            .json(&serde_json::json!({ "card_id": card_id, "code": code }));
        Ok(self.call::<UserInfo>(request).await?.has_active)
    }
}
