//! Fetching an access_token: `/cgi-bin/stable_token` (default) or `/cgi-bin/token` (reference §5.1, §5.2).

use serde::Deserialize;

use super::{ApiCallError, WechatApi};
use crate::config::TokenEndpoint;

/// A fresh access_token (or ticket) and its lifetime. `Debug` hides the value.
pub struct FetchedToken {
    pub value: String,
    pub expires_in: i64,
}

impl std::fmt::Debug for FetchedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "FetchedToken(<redacted>, expires_in {})",
            self.expires_in
        )
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: i64,
}

impl WechatApi {
    pub async fn fetch_token(
        &self,
        endpoint: TokenEndpoint,
        appid: &str,
        secret: &str,
    ) -> Result<FetchedToken, ApiCallError> {
        let request = match endpoint {
            // Repeated calls within validity return the same token: safe for many callers.
            TokenEndpoint::Stable => {
                self.http
                    .post(self.url("/cgi-bin/stable_token"))
                    .json(&serde_json::json!({
                        "grant_type": "client_credential",
                        "appid": appid,
                        "secret": secret,
                        "force_refresh": false,
                    }))
            }
            TokenEndpoint::Classic => self.http.get(self.url("/cgi-bin/token")).query(&[
                ("grant_type", "client_credential"),
                ("appid", appid),
                ("secret", secret),
            ]),
        };
        let answer: TokenAnswer = self.call(request).await?;
        Ok(FetchedToken {
            value: answer.access_token,
            expires_in: answer.expires_in,
        })
    }
}
