//! The merchant's own SMS gateway: `POST url` with `{"phone","code","ttl_seconds","appid"}`, signed
//! as the Standard Webhooks specification signs a delivery (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, secret `whsec_…`), so any
//! of its libraries verifies it. A 2xx answer is a sent code.

use rand::Rng;
use secrecy::SecretString;

use super::{Message, SmsError};
use crate::standard_webhooks::{self, SignatureHeaders};

#[derive(Clone)]
pub struct Gateway {
    pub url: String,
    /// `whsec_…`.
    pub secret: SecretString,
}

impl Gateway {
    /// The body and the three signature headers of `message` sent as `id` at `timestamp`.
    pub fn request(
        &self,
        message: &Message<'_>,
        id: &str,
        timestamp: i64,
    ) -> Result<(String, SignatureHeaders), SmsError> {
        let body = serde_json::json!({
            "phone": message.phone,
            "code": message.code,
            "ttl_seconds": message.ttl_secs,
            "appid": message.appid,
        })
        .to_string();
        // Checked at start-up (`SmsSettings::validate`); never the secret in the message.
        let headers = standard_webhooks::sign(&self.secret, id, timestamp, body.as_bytes())
            .map_err(|_| SmsError::Refused("sms.secret is not a whsec_ secret".to_owned()))?;
        Ok((body, headers))
    }

    pub async fn send(
        &self,
        http: &reqwest::Client,
        message: &Message<'_>,
        now: i64,
    ) -> Result<(), SmsError> {
        let id = format!("msg_{:032x}", rand::thread_rng().gen::<u128>());
        let (body, headers) = self.request(message, &id, now)?;
        let mut post = http
            .post(&self.url)
            .header("Content-Type", "application/json");
        for (name, value) in headers {
            post = post.header(name, value);
        }
        let response = post.body(body).send().await.map_err(SmsError::from_http)?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(SmsError::Status(response.status().as_u16()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The gateway's body, signed (the signature itself: `standard_webhooks`'s test).
    #[test]
    fn the_gateway_gets_the_code_signed() {
        let gateway = Gateway {
            url: "https://gw.example".to_owned(),
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned().into(),
        };
        let message = Message {
            appid: "wxA",
            phone: "13800000000",
            code: "123456",
            ttl_secs: 300,
        };
        let (body, headers) = gateway.request(&message, "msg_1", 1_700_000_000).unwrap();
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"phone": "13800000000", "code": "123456", "ttl_seconds": 300, "appid": "wxA"})
        );
        assert_eq!(headers[0], ("webhook-id", "msg_1".to_owned()));
        assert!(headers[2].1.starts_with("v1,"));
    }
}
