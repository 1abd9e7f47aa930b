//! Sending the H5 page's one-time codes by SMS (`[sms]`): Tencent Cloud SMS (`tencent.rs`) or the
//! merchant's own gateway, signed as Standard Webhooks are (`webhook.rs`).
//!
//! No phone number or code ever goes into a log line, an error message or a URL built here.

pub mod tencent;
pub mod webhook;

use std::time::Duration;

use secrecy::ExposeSecret;

use crate::config::{SmsProvider, SmsSettings};

/// How long one send may take: the customer is waiting on the page.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a code was not sent (the customer is asked to try again; the log names the reason).
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    /// No answer in time: the message may have gone out all the same.
    #[error("the SMS provider did not answer in time")]
    Timeout,
    #[error("the SMS provider could not be reached: {0}")]
    Unreachable(String),
    #[error("the SMS provider answered HTTP {0}")]
    Status(u16),
    #[error("the SMS provider refused the message: {0}")]
    Refused(String),
}

impl SmsError {
    fn from_http(e: reqwest::Error) -> Self {
        if e.is_timeout() {
            return Self::Timeout;
        }
        // reqwest's message may hold the URL (no secret in it, but no need either).
        Self::Unreachable(
            if e.is_connect() {
                "connection failed"
            } else {
                "request failed"
            }
            .to_owned(),
        )
    }

    /// Whether the code surely did not go out (then the send does not count).
    pub fn surely_unsent(&self) -> bool {
        !matches!(self, Self::Timeout)
    }
}

/// One code to send.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    pub appid: &'a str,
    /// 11 digits (mainland mobile).
    pub phone: &'a str,
    pub code: &'a str,
    pub ttl_secs: u64,
}

/// The configured sender.
#[derive(Clone)]
pub struct SmsSender {
    http: reqwest::Client,
    provider: Provider,
}

#[derive(Clone)]
enum Provider {
    Tencent(tencent::Tencent),
    Webhook(webhook::Gateway),
}

impl SmsSender {
    /// The sender `settings` describe (checked by `Settings::validate`).
    pub fn from_settings(settings: &SmsSettings) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder().timeout(SEND_TIMEOUT).build()?;
        let text = |value: &Option<String>| value.clone().unwrap_or_default();
        let secret = |value: &Option<secrecy::SecretString>| {
            value
                .as_ref()
                .map(|s| s.expose_secret().to_owned())
                .unwrap_or_default()
        };
        let provider = match settings.provider {
            SmsProvider::Tencent => Provider::Tencent(tencent::Tencent {
                endpoint: settings.endpoint.trim_end_matches('/').to_owned(),
                region: settings.region.clone(),
                secret_id: secret(&settings.secret_id).into(),
                secret_key: secret(&settings.secret_key).into(),
                sdk_app_id: text(&settings.sdk_app_id),
                sign_name: text(&settings.sign_name),
                template_id: text(&settings.template_id),
            }),
            SmsProvider::Webhook => Provider::Webhook(webhook::Gateway {
                url: text(&settings.url),
                secret: secret(&settings.secret).into(),
            }),
        };
        Ok(Self { http, provider })
    }

    /// Send `message` now; Ok once the provider accepted it.
    pub async fn send(&self, message: &Message<'_>, now: i64) -> Result<(), SmsError> {
        match &self.provider {
            Provider::Tencent(tencent) => tencent.send(&self.http, message, now).await,
            Provider::Webhook(gateway) => gateway.send(&self.http, message, now).await,
        }
    }
}
