//! `/card/membercard/activate` and `/card/membercard/userinfo/get` (reference §4.1, §4.3).

use serde::{Deserialize, Serialize};

use super::{ApiCallError, WechatApi};

#[derive(Deserialize)]
struct Empty {}

#[derive(Deserialize)]
struct UserInfo {
    #[serde(default)]
    has_active: bool,
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
}
