//! The merchant's webhook receiver (`tests/webhook_sink.py`) as a child process: it verifies each
//! delivery with the `standardwebhooks` Python package and records what arrived, in order.

use std::time::Duration;

use serde_json::Value;

use super::python_server::PythonServer;

/// The endpoint's secret: `whsec_` and base64 of 24 bytes.
pub const SECRET: &str = "whsec_c2luay1zZWNyZXQtZm9yLWNhcmRob29rLXRlc3Q=";

pub struct WebhookSink {
    server: PythonServer,
    pub base: String,
}

/// One delivery attempt the sink saw (signature verified), with the status it answered.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct Attempt {
    pub id: String,
    pub seq: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub appid: String,
    pub status: u16,
    /// When the request arrived and was answered (the sink's monotonic clock, seconds).
    pub start: f64,
    pub end: f64,
}

impl WebhookSink {
    pub async fn start() -> Self {
        let server = PythonServer::start(
            "webhook_sink.py",
            &[("WEBHOOK_SECRET", SECRET)],
            "standardwebhooks",
        )
        .await;
        Self {
            base: server.base.clone(),
            server,
        }
    }

    /// The settings of an ordered endpoint `name` pointing here that retries after `schedule`.
    pub fn settings(&self, name: &str, schedule: &[u64]) -> cardhook::config::WebhookSettings {
        cardhook::config::WebhookSettings {
            name: name.to_owned(),
            url: format!("{}/hook?token=t0ps3cret", self.base),
            secret: SECRET.to_owned().into(),
            types: Vec::new(),
            appid: None,
            ordered: true,
            timeout_secs: 5,
            retry_schedule_secs: schedule.to_vec(),
            lease_secs: 11,
        }
    }

    /// The `[[webhooks]]` TOML of an endpoint `name` pointing here, plus `extra` keys.
    pub fn toml(&self, name: &str, extra: &str) -> String {
        format!(
            "[[webhooks]]\nname = \"{name}\"\nurl = \"{}/hook?token=t0ps3cret\"\nsecret = \"{SECRET}\"\n{extra}\n",
            self.base
        )
    }

    pub async fn attempts(&self) -> Vec<Attempt> {
        self.server.get("/attempts").await
    }

    /// The attempts answered 2xx: the deliveries.
    pub async fn delivered(&self) -> Vec<Attempt> {
        self.attempts()
            .await
            .into_iter()
            .filter(|a| a.status == 200)
            .collect()
    }

    pub async fn refused(&self) -> Vec<String> {
        self.server.get("/refused").await
    }

    /// `{"plan": [...], "down": bool, "delay": seconds}`.
    pub async fn control(&self, control: Value) {
        self.server.control(control).await;
    }

    /// Wait (up to `within`) until `n` distinct events were delivered; the deliveries so far.
    pub async fn wait_delivered(&self, n: usize, within: Duration) -> Vec<Attempt> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let delivered = self.delivered().await;
            let distinct: std::collections::HashSet<&str> =
                delivered.iter().map(|a| a.id.as_str()).collect();
            if distinct.len() >= n || tokio::time::Instant::now() > deadline {
                return delivered;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
