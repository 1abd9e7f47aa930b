//! The outbound WeChat API client (reqwest): access tokens, tickets, member-card activation and
//! the distribution, card catalogue and message APIs.
//!
//! URLs carry `access_token` (and, for `/cgi-bin/token`, the AppSecret): no URL is ever logged or
//! put in an error; reqwest errors are stripped of theirs.

pub mod catalogue;
pub mod distribution;
pub mod error;
pub mod membercard;
pub mod messages;
pub mod oauth;
pub mod tags;
pub mod ticket;
pub mod till;
pub mod token;

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use error::{ApiCallError, Retry};

/// A client for one API base URL (`wechat.api_base`; tests point it at a fake).
#[derive(Clone)]
pub struct WechatApi {
    http: reqwest::Client,
    base: String,
    timeout: Duration,
}

/// WeChat's error envelope, present on every answer (`errcode` 0 or absent on success).
#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
}

impl WechatApi {
    pub fn new(base: &str, timeout: Duration) -> Result<Self, ApiCallError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| ApiCallError::Transport(e.without_url().to_string()))?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            timeout,
        })
    }

    /// How long one call may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POST `body` as JSON to `path` with the access_token, and decode the answer.
    async fn post_json<T: DeserializeOwned>(
        &self,
        path: &str,
        access_token: &str,
        body: &(impl Serialize + ?Sized),
    ) -> Result<T, ApiCallError> {
        let request = self
            .http
            .post(self.url(path))
            .query(&[("access_token", access_token)])
            .json(body);
        self.call(request).await
    }

    /// GET `path` with the access_token, and decode the answer.
    async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        access_token: &str,
    ) -> Result<T, ApiCallError> {
        let request = self
            .http
            .get(self.url(path))
            .query(&[("access_token", access_token)]);
        self.call(request).await
    }

    /// Send, then decode the JSON answer: errcode ≠ 0 becomes `ApiCallError::Api`.
    async fn call<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, ApiCallError> {
        let response = request.send().await.map_err(ApiCallError::from_reqwest)?;
        let status = response.status();
        if !status.is_success() {
            return Err(ApiCallError::Status(status.as_u16()));
        }
        let body = response.bytes().await.map_err(ApiCallError::from_reqwest)?;
        let envelope: Envelope =
            serde_json::from_slice(&body).map_err(|e| ApiCallError::Decode(e.to_string()))?;
        if envelope.errcode != 0 {
            return Err(ApiCallError::Api {
                errcode: envelope.errcode,
                errmsg: envelope.errmsg.chars().take(200).collect(),
            });
        }
        serde_json::from_slice(&body).map_err(|e| ApiCallError::Decode(e.to_string()))
    }
}
