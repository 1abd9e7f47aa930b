//! Prometheus metrics of one running app (its own registry, so tests can run many apps at once).
//!
//! Labels never carry a secret, a code or an OpenID: appid is one of the configured accounts or
//! `unknown`, event is a known event name or `other`.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pushes: IntCounterVec,
    push_seconds: HistogramVec,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let pushes = IntCounterVec::new(
            Opts::new(
                "cardhook_pushes_total",
                "Callback requests by account, event and outcome (stored, duplicate, verified, or the rejection reason)",
            ),
            &["appid", "event", "outcome"],
        )?;
        let push_seconds = HistogramVec::new(
            HistogramOpts::new(
                "cardhook_push_duration_seconds",
                "Time from request to answer, durable commit included",
            )
            .buckets(vec![
                0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["outcome"],
        )?;
        registry.register(Box::new(pushes.clone()))?;
        registry.register(Box::new(push_seconds.clone()))?;
        Ok(Self {
            registry,
            pushes,
            push_seconds,
        })
    }

    pub fn observe_push(&self, appid: &str, event: &str, outcome: &str, seconds: f64) {
        self.pushes
            .with_label_values(&[appid, event, outcome])
            .inc();
        let class = if matches!(outcome, "stored" | "duplicate" | "verified") {
            "ok"
        } else {
            "rejected"
        };
        self.push_seconds
            .with_label_values(&[class])
            .observe(seconds);
    }

    /// The current value of one push counter (tests and the bench read it).
    pub fn pushes(&self, appid: &str, event: &str, outcome: &str) -> u64 {
        self.pushes
            .with_label_values(&[appid, event, outcome])
            .get()
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for the text format.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}
