//! The fake SMS provider (`tests/sms_gateway.py`) as a child process: Tencent Cloud SMS on `/`
//! (TC3 signatures checked with Tencent's own Python SDK) and a Standard Webhooks gateway on
//! `/webhook` (checked with the `standardwebhooks` package). It records the codes it sends.

use std::process::Stdio;

use cardhook::config::{SmsProvider, SmsSettings};
use secrecy::SecretString;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const SECRET_ID: &str = "AKIDtestSmsSecretId";
pub const SECRET_KEY: &str = "test-sms-secret-key-0123456789";
/// A Standard Webhooks secret: `whsec_` and base64 of 24 bytes.
pub const WEBHOOK_SECRET: &str = "whsec_dGVzdC13ZWJob29rLXNlY3JldC0yNC1ieXRlcw==";

pub struct SmsGateway {
    child: Child,
    pub base: String,
    http: reqwest::Client,
}

impl SmsGateway {
    /// Start the gateway (python3 with `standardwebhooks` and `tencentcloud-sdk-python-common`,
    /// which `tools/test` installs).
    pub async fn start() -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sms_gateway.py");
        let mut child = Command::new("python3")
            .arg(script)
            .env("TENCENT_SECRET_ID", SECRET_ID)
            .env("TENCENT_SECRET_KEY", SECRET_KEY)
            .env("WEBHOOK_SECRET", WEBHOOK_SECRET)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs tests/sms_gateway.py");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let port = lines.next_line().await.unwrap().unwrap_or_else(|| {
            panic!("tests/sms_gateway.py did not start: it needs `pip install standardwebhooks tencentcloud-sdk-python-common` (tools/test installs them)")
        });
        Self {
            child,
            base: format!("http://127.0.0.1:{}", port.trim()),
            http: reqwest::Client::new(),
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
        self.http
            .post(format!("{}/control", self.base))
            .json(&settings)
            .send()
            .await
            .unwrap();
    }

    async fn get(&self, path: &str) -> Vec<Value> {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

impl Drop for SmsGateway {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}
