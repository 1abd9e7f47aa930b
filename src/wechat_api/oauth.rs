//! Web authorization (reference 002): exchanging the `code` WeChat's authorize page hands back for the
//! customer's OpenID (`snsapi_base`). The web access_token that comes with it is not kept.

use serde::Deserialize;

use super::{ApiCallError, WechatApi};

#[derive(Deserialize)]
struct Exchanged {
    openid: String,
}

impl WechatApi {
    /// `GET /sns/oauth2/access_token?appid&secret&code&grant_type=authorization_code`: the OpenID of
    /// the customer the code was given to. A code is single-use and lives 5 minutes (40029 invalid,
    /// 40163 already used).
    pub async fn oauth_openid(
        &self,
        appid: &str,
        secret: &str,
        code: &str,
    ) -> Result<String, ApiCallError> {
        let request = self.http.get(self.url("/sns/oauth2/access_token")).query(&[
            ("appid", appid),
            ("secret", secret),
            ("code", code),
            ("grant_type", "authorization_code"),
        ]);
        let exchanged: Exchanged = self.call(request).await?;
        Ok(exchanged.openid)
    }
}
