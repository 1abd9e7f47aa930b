//! Signing a POST as the Standard Webhooks specification does (standardwebhooks.com): headers
//! `webhook-id`, `webhook-timestamp` and `webhook-signature: v1,<base64 HMAC-SHA256 of
//! "id.timestamp.body">`, with the `whsec_…` secret's bytes as the key. Any of the
//! specification's libraries verifies it. Used by the SMS gateway and the domain-event webhooks.

use secrecy::{ExposeSecret, SecretString};

/// `webhook-id`, `webhook-timestamp` and `webhook-signature`, with their values.
pub type SignatureHeaders = [(&'static str, String); 3];

/// The secret is not `whsec_` and base64 (checked when the config loads; never the secret in a
/// message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the secret is not a whsec_ secret")]
pub struct BadSecret;

/// The three headers that sign `body`, sent as message `id` at `timestamp` (Unix seconds).
pub fn sign(
    secret: &SecretString,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<SignatureHeaders, BadSecret> {
    let signature = standardwebhooks::Webhook::new(secret.expose_secret())
        .and_then(|webhook| webhook.sign(id, timestamp, body))
        .map_err(|_| BadSecret)?;
    Ok([
        ("webhook-id", id.to_owned()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signature),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification (its reference libraries' test).
    #[test]
    fn signatures_are_the_specifications() {
        let secret: SecretString = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned().into();
        let headers = sign(
            &secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(
            headers[0],
            ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek".to_owned())
        );
        assert_eq!(headers[1], ("webhook-timestamp", "1614265330".to_owned()));
        assert_eq!(
            headers[2],
            (
                "webhook-signature",
                "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=".to_owned()
            )
        );
        let not_a_secret: SecretString = "hunter2".to_owned().into();
        assert_eq!(sign(&not_a_secret, "m", 1, b"{}"), Err(BadSecret));
    }
}
