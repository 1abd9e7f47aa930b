//! Tencent Cloud SMS: `SendSms` of API 3.0 (version 2021-01-11), signed `TC3-HMAC-SHA256` as the
//! official SDKs sign it (signed headers `content-type;host`): the request is pure and
//! unit-tested against a vector computed with `tencentcloud-sdk-python-common`.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::{Message, SmsError};

const SERVICE: &str = "sms";
const ACTION: &str = "SendSms";
const VERSION: &str = "2021-01-11";
const CONTENT_TYPE: &str = "application/json";

#[derive(Clone)]
pub struct Tencent {
    pub endpoint: String,
    pub region: String,
    pub secret_id: SecretString,
    pub secret_key: SecretString,
    pub sdk_app_id: String,
    pub sign_name: String,
    pub template_id: String,
}

/// A signed request, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    pub body: String,
    /// `(name, value)`, Content-Type and Host among them.
    pub headers: Vec<(&'static str, String)>,
}

impl Tencent {
    /// The host the endpoint names (signed as the `host` header).
    fn host(&self) -> &str {
        let rest = self
            .endpoint
            .split_once("://")
            .map_or(self.endpoint.as_str(), |(_, rest)| rest);
        rest.split('/').next().unwrap_or(rest)
    }

    /// `SendSms` of `message` at `timestamp`, signed.
    pub fn request(&self, message: &Message<'_>, timestamp: i64) -> SignedRequest {
        let minutes = message.ttl_secs.div_ceil(60).to_string();
        let body = serde_json::json!({
            "PhoneNumberSet": [format!("+86{}", message.phone)],
            "SmsSdkAppId": self.sdk_app_id,
            "SignName": self.sign_name,
            "TemplateId": self.template_id,
            "TemplateParamSet": [message.code, minutes],
        })
        .to_string();
        let host = self.host().to_owned();
        let authorization = self.authorization(&host, &body, timestamp);
        SignedRequest {
            headers: vec![
                ("Authorization", authorization),
                ("Content-Type", CONTENT_TYPE.to_owned()),
                ("Host", host),
                ("X-TC-Action", ACTION.to_owned()),
                ("X-TC-Timestamp", timestamp.to_string()),
                ("X-TC-Version", VERSION.to_owned()),
                ("X-TC-Region", self.region.clone()),
            ],
            body,
        }
    }

    /// The `Authorization` header: TC3-HMAC-SHA256 over the canonical POST of `body` to `host`.
    fn authorization(&self, host: &str, body: &str, timestamp: i64) -> String {
        let date = chrono::DateTime::from_timestamp(timestamp, 0)
            .unwrap_or_default()
            .format("%Y-%m-%d")
            .to_string();
        let signed_headers = "content-type;host";
        let canonical = format!(
            "POST\n/\n\ncontent-type:{CONTENT_TYPE}\nhost:{host}\n\n{signed_headers}\n{}",
            hex::encode(Sha256::digest(body.as_bytes()))
        );
        let scope = format!("{date}/{SERVICE}/tc3_request");
        let to_sign = format!(
            "TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{}",
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let key = format!("TC3{}", self.secret_key.expose_secret());
        let signing = [date.as_str(), SERVICE, "tc3_request"]
            .iter()
            .fold(key.into_bytes(), |key, part| hmac(&key, part.as_bytes()));
        let signature = hex::encode(hmac(&signing, to_sign.as_bytes()));
        format!(
            "TC3-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            self.secret_id.expose_secret()
        )
    }

    pub async fn send(
        &self,
        http: &reqwest::Client,
        message: &Message<'_>,
        now: i64,
    ) -> Result<(), SmsError> {
        let request = self.request(message, now);
        let mut post = http.post(format!("{}/", self.endpoint));
        for (name, value) in &request.headers {
            // reqwest sets Host from the URL.
            if *name != "Host" {
                post = post.header(*name, value);
            }
        }
        let response = post
            .body(request.body)
            .send()
            .await
            .map_err(SmsError::from_http)?;
        let status = response.status();
        if !status.is_success() {
            return Err(SmsError::Status(status.as_u16()));
        }
        let answer: serde_json::Value = response.json().await.map_err(SmsError::from_http)?;
        outcome(&answer)
    }
}

/// What Tencent's answer says: `Response.Error` (the whole request refused), or the one
/// `SendStatusSet` entry's `Code` (`Ok` when sent).
fn outcome(answer: &serde_json::Value) -> Result<(), SmsError> {
    let response = &answer["Response"];
    if let Some(code) = response["Error"]["Code"].as_str() {
        return Err(SmsError::Refused(code.to_owned()));
    }
    match response["SendStatusSet"][0]["Code"].as_str() {
        Some("Ok") => Ok(()),
        Some(code) => Err(SmsError::Refused(code.to_owned())),
        None => Err(SmsError::Refused(
            "no SendStatusSet in the answer".to_owned(),
        )),
    }
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length.
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return Vec::new(),
    };
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tencent() -> Tencent {
        Tencent {
            endpoint: "https://sms.tencentcloudapi.com".to_owned(),
            region: "ap-guangzhou".to_owned(),
            secret_id: "AKIDtestSecretId".to_owned().into(),
            secret_key: "testSecretKey0123456789".to_owned().into(),
            sdk_app_id: "1400006666".to_owned(),
            sign_name: "腾讯云".to_owned(),
            template_id: "1234567".to_owned(),
        }
    }

    /// The signature `tencentcloud-sdk-python-common` (`AbstractClient._get_tc3_signature` and
    /// `Sign.sign_tc3`) computes for the same POST: host, body, timestamp and secret key.
    #[test]
    fn the_signature_is_the_sdks() {
        let t = tencent();
        let body = r#"{"PhoneNumberSet": ["+8613800000000"]}"#;
        assert_eq!(
            t.authorization("sms.tencentcloudapi.com", body, 1_700_000_000),
            format!(
                "TC3-HMAC-SHA256 Credential=AKIDtestSecretId/2023-11-14/sms/tc3_request, \
                 SignedHeaders=content-type;host, Signature={}",
                SDK_SIGNATURE
            )
        );
    }

    const SDK_SIGNATURE: &str = "3dde9857b9a43393e73297c840b00b09ada01f7144e88d63c5b11e311881aa17";

    #[test]
    fn the_request_carries_the_phone_the_code_and_the_minutes() {
        let request = tencent().request(
            &Message {
                appid: "wxA",
                phone: "13800000000",
                code: "042137",
                ttl_secs: 300,
            },
            1_700_000_000,
        );
        let body: serde_json::Value = serde_json::from_str(&request.body).unwrap();
        assert_eq!(body["PhoneNumberSet"][0], "+8613800000000");
        assert_eq!(body["TemplateParamSet"], serde_json::json!(["042137", "5"]));
        assert_eq!(body["SmsSdkAppId"], "1400006666");
        let header = |name: &str| {
            request
                .headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(header("X-TC-Action"), Some("SendSms"));
        assert_eq!(header("X-TC-Version"), Some("2021-01-11"));
        assert_eq!(header("Host"), Some("sms.tencentcloudapi.com"));
        assert!(!format!("{:?}", request.headers).contains("testSecretKey"));
    }

    #[test]
    fn answers_are_read_as_tencent_writes_them() {
        let ok = serde_json::json!({"Response": {"SendStatusSet": [{"Code": "Ok", "Message": "send success"}], "RequestId": "r"}});
        assert!(outcome(&ok).is_ok());
        let limited = serde_json::json!({"Response": {"SendStatusSet": [{"Code": "LimitExceeded.PhoneNumberDailyLimit"}]}});
        assert!(
            matches!(outcome(&limited), Err(SmsError::Refused(c)) if c == "LimitExceeded.PhoneNumberDailyLimit")
        );
        let auth = serde_json::json!({"Response": {"Error": {"Code": "AuthFailure.SignatureFailure", "Message": "m"}}});
        assert!(
            matches!(outcome(&auth), Err(SmsError::Refused(c)) if c == "AuthFailure.SignatureFailure")
        );
    }
}
