//! The fake SMS provider (`tests/sms_gateway.py`) as a child process: Tencent Cloud SMS on `/`
//! (TC3 signatures checked with Tencent's own Python SDK) and a Standard Webhooks gateway on
//! `/webhook` (checked with the `standardwebhooks` package). It records the codes it sends.

use cardhook::config::{SmsProvider, SmsSettings};
use secrecy::SecretString;
use serde_json::Value;

use super::python_server::PythonServer;

pub const SECRET_ID: &str = "AKIDtestSmsSecretId";
pub const SECRET_KEY: &str = "test-sms-secret-key-0123456789";
/// A Standard Webhooks secret: `whsec_` and base64 of 24 bytes.
pub const WEBHOOK_SECRET: &str = "whsec_dGVzdC13ZWJob29rLXNlY3JldC0yNC1ieXRlcw==";

pub struct SmsGateway {
    server: PythonServer,
    pub base: String,
}

impl SmsGateway {
    /// Start the gateway (python3 with `standardwebhooks` and `tencentcloud-sdk-python-common`,
    /// which `tools/test` installs).
    pub async fn start() -> Self {
        let env = [
            ("TENCENT_SECRET_ID", SECRET_ID),
            ("TENCENT_SECRET_KEY", SECRET_KEY),
            ("WEBHOOK_SECRET", WEBHOOK_SECRET),
        ];
        let server = PythonServer::start(
            "sms_gateway.py",
            &env,
            "standardwebhooks tencentcloud-sdk-python-common",
        )
        .await;
        Self {
            base: server.base.clone(),
            server,
        }
    }

    /// `[sms]` settings sending through this gateway.
    pub fn settings(&self, provider: SmsProvider) -> SmsSettings {
        let secret = |s: &str| Some(SecretString::from(s.to_owned()));
        SmsSettings {
            provider,
            code_ttl_secs: 300,
            max_tries: 5,
            endpoint: self.base.clone(),
            region: "ap-guangzhou".to_owned(),
            secret_id: secret(SECRET_ID),
            secret_key: secret(SECRET_KEY),
            sdk_app_id: Some("1400000001".to_owned()),
            sign_name: Some("测试商户".to_owned()),
            template_id: Some("100001".to_owned()),
            url: Some(format!("{}/webhook", self.base)),
            secret: secret(WEBHOOK_SECRET),
        }
    }

    /// Every message sent so far, oldest first.
    pub async fn sent(&self) -> Vec<Value> {
        self.get("/sent").await
    }

    /// Every request refused (a bad signature), and why.
    pub async fn refused(&self) -> Vec<Value> {
        self.get("/refused").await
    }

    /// The last code sent to `phone` (11 digits), waiting up to 5 s for one to arrive.
    pub async fn code_for(&self, phone: &str) -> String {
        for _ in 0..50 {
            let sent = self.sent().await;
            let last = sent
                .iter()
                .rev()
                .find(|m| m["phone"].as_str().unwrap().ends_with(phone));
            if let Some(message) = last {
                return message["code"].as_str().unwrap().to_owned();
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("no code was sent to {phone}: {:?}", self.sent().await)
    }

    /// Make the next sends fail (or succeed again).
    pub async fn fail(&self, fail: bool) {
        self.control(serde_json::json!({"fail": fail})).await;
    }

    /// Answer the next sends `seconds` late (they are still sent).
    pub async fn delay(&self, seconds: f64) {
        self.control(serde_json::json!({"delay": seconds})).await;
    }

    async fn control(&self, settings: Value) {
        self.server.control(settings).await;
    }

    async fn get(&self, path: &str) -> Vec<Value> {
        self.server.get(path).await
    }
}
