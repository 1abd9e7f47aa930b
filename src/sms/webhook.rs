//! The merchant's own SMS gateway: `POST url` with `{"phone","code","ttl_seconds","appid"}`, signed
//! as the Standard Webhooks specification signs a delivery (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, secret `whsec_…`), so any
//! of its libraries verifies it. A 2xx answer is a sent code.

use rand::Rng;
use secrecy::{ExposeSecret, SecretString};

use super::{Message, SmsError};

/// `webhook-id`, `webhook-timestamp` and `webhook-signature`, with their values.
pub type SignatureHeaders = [(&'static str, String); 3];

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
        let key = self.secret.expose_secret();
        let signature = standardwebhooks::Webhook::new(key)
            .and_then(|webhook| webhook.sign(id, timestamp, body.as_bytes()))
            // Checked at start-up (`SmsSettings::validate`); never the secret in the message.
            .map_err(|_| SmsError::Refused("sms.secret is not a whsec_ secret".to_owned()))?;
        Ok((
            body,
            [
                ("webhook-id", id.to_owned()),
                ("webhook-timestamp", timestamp.to_string()),
                ("webhook-signature", signature),
            ],
        ))
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

    /// The example of the Standard Webhooks specification (its reference libraries' test):
    /// secret `whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw`, id `msg_p5jXN8AQM9LWM0D4loKWxJek`,
    /// timestamp 1614265330, body `{"test": 2432232314}`.
    #[test]
    fn signatures_are_the_specifications() {
        let gateway = Gateway {
            url: "https://gw.example".to_owned(),
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned().into(),
        };
        let webhook = standardwebhooks::Webhook::new(gateway.secret.expose_secret()).unwrap();
        let signed = webhook
            .sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#,
            )
            .unwrap();
        assert_eq!(signed, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
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
