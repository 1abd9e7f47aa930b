//! Prometheus metrics of one running app (its own registry, so tests can run many apps at once).
//!
//! Labels never carry a secret, a code or an OpenID: appid is one of the configured accounts or
//! `unknown`, event is a known event name or `other`, errcode is WeChat's number.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pushes: IntCounterVec,
    push_seconds: HistogramVec,
    commit_seconds: Histogram,
    batch_size: Histogram,
    jobs: IntGaugeVec,
    activations: IntCounterVec,
    token_refreshes: IntCounterVec,
    pages: IntCounterVec,
    dashboard: IntCounterVec,
    bindings: IntCounterVec,
    member_updates: IntCounterVec,
    card_messages: IntCounterVec,
    pushes_unparsed: IntCounterVec,
    sms: IntCounterVec,
    webhook_deliveries: IntCounterVec,
    webhook_lag: IntGaugeVec,
    webhook_oldest: IntGaugeVec,
    wal_pages: IntGauge,
    wal_restart_seconds: Histogram,
    wal_sync_seconds: Histogram,
}

const LATENCY_BUCKETS: [f64; 13] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// A histogram of durations in seconds, with the latency buckets.
fn latency_histogram(name: &str, help: &str) -> Result<Histogram, prometheus::Error> {
    Histogram::with_opts(HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()))
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
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["outcome"],
        )?;
        let commit_seconds = latency_histogram(
            "cardhook_commit_duration_seconds",
            "Time to store one group-commit batch, commit included",
        )?;
        let batch_size = Histogram::with_opts(
            HistogramOpts::new(
                "cardhook_commit_batch_size",
                "Pushes per group-commit transaction",
            )
            .buckets(vec![
                1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0,
            ]),
        )?;
        let jobs = IntGaugeVec::new(
            Opts::new(
                "cardhook_jobs",
                "Activation jobs by state (read at scrape time)",
            ),
            &["state"],
        )?;
        let activations = IntCounterVec::new(
            Opts::new(
                "cardhook_activations_total",
                "Activation job runs by outcome and WeChat errcode (0 on success)",
            ),
            &["outcome", "errcode"],
        )?;
        let token_refreshes = IntCounterVec::new(
            Opts::new(
                "cardhook_token_refreshes_total",
                "access_token and JS-SDK ticket fetches from WeChat",
            ),
            &["appid", "credential"],
        )?;
        let wal_pages = IntGauge::new(
            "cardhook_sqlite_wal_pages",
            "Pages in the SQLite WAL after the writer's last commit; the writer starts it over past 64 000",
        )?;
        let wal_restart_seconds = latency_histogram(
            "cardhook_sqlite_wal_restart_seconds",
            "Time the SQLite writer spent between batches starting the WAL over (copying what the checkpointer had not)",
        )?;
        // A disk's sync takes from ~0.1 ms (a cache with power-loss protection) to tens of ms.
        let wal_sync_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "cardhook_sqlite_wal_sync_seconds",
                "Each COMMIT of the SQLite writer: its WAL frames written and the WAL fsynced (synchronous = FULL); the batch is answered after it",
            )
            .buckets(vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5,
            ]),
        )?;
        let dashboard = IntCounterVec::new(
            Opts::new(
                "cardhook_dashboard_requests_total",
                "The dashboard's sign-ins, refusals and actions, by outcome",
            ),
            &["outcome"],
        )?;
        let pages = IntCounterVec::new(
            Opts::new(
                "cardhook_h5_requests_total",
                "Requests to the public H5 pages and JS-SDK routes, by route and outcome",
            ),
            &["route", "outcome"],
        )?;
        let bindings = IntCounterVec::new(
            Opts::new(
                "cardhook_member_bindings_total",
                "Member cards bound (or refused) to the merchant's members, by way and outcome",
            ),
            &["way", "outcome"],
        )?;
        let member_updates = IntCounterVec::new(
            Opts::new(
                "cardhook_member_updates_total",
                "Members' points and balance sent to WeChat (updateuser), by outcome",
            ),
            &["outcome"],
        )?;
        let card_messages = IntCounterVec::new(
            Opts::new(
                "cardhook_card_messages_total",
                "Cards sent in customer-service messages by the worker (follow QR codes), by outcome",
            ),
            &["outcome"],
        )?;
        let pushes_unparsed = IntCounterVec::new(
            Opts::new(
                "cardhook_pushes_unparsed_total",
                "Signed pushes stored with a field that could not be read, by event and XML field (`cardhook events unparsed` lists them)",
            ),
            &["event", "field"],
        )?;
        let sms = IntCounterVec::new(
            Opts::new(
                "cardhook_sms_codes_total",
                "SMS codes of the H5 page: sent, refused by a limit, failed to send, and codes checked (right, wrong, expired, burnt)",
            ),
            &["outcome"],
        )?;
        let webhook_deliveries = IntCounterVec::new(
            Opts::new(
                "cardhook_webhook_deliveries_total",
                "Webhook delivery attempts by endpoint and outcome (delivered, rejected, timeout, unreachable)",
            ),
            &["endpoint", "outcome"],
        )?;
        let webhook_lag = IntGaugeVec::new(
            Opts::new(
                "cardhook_webhook_lag_events",
                "Events after a webhook endpoint's cursor that it has still to get (counted up to 10000)",
            ),
            &["endpoint"],
        )?;
        let webhook_oldest = IntGaugeVec::new(
            Opts::new(
                "cardhook_webhook_oldest_undelivered_seconds",
                "How long the oldest event a webhook endpoint has still to get has waited (0: none)",
            ),
            &["endpoint"],
        )?;
        let build = IntGaugeVec::new(
            Opts::new(
                "cardhook_build_info",
                "Build information; the value is always 1",
            ),
            &["version"],
        )?;
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        registry.register(Box::new(pushes.clone()))?;
        registry.register(Box::new(push_seconds.clone()))?;
        registry.register(Box::new(commit_seconds.clone()))?;
        registry.register(Box::new(batch_size.clone()))?;
        registry.register(Box::new(jobs.clone()))?;
        registry.register(Box::new(activations.clone()))?;
        registry.register(Box::new(token_refreshes.clone()))?;
        registry.register(Box::new(pages.clone()))?;
        registry.register(Box::new(dashboard.clone()))?;
        registry.register(Box::new(bindings.clone()))?;
        registry.register(Box::new(member_updates.clone()))?;
        registry.register(Box::new(card_messages.clone()))?;
        registry.register(Box::new(pushes_unparsed.clone()))?;
        registry.register(Box::new(sms.clone()))?;
        registry.register(Box::new(webhook_deliveries.clone()))?;
        registry.register(Box::new(webhook_lag.clone()))?;
        registry.register(Box::new(webhook_oldest.clone()))?;
        registry.register(Box::new(wal_pages.clone()))?;
        registry.register(Box::new(wal_restart_seconds.clone()))?;
        registry.register(Box::new(wal_sync_seconds.clone()))?;
        registry.register(Box::new(build))?;
        Ok(Self {
            registry,
            pushes,
            push_seconds,
            commit_seconds,
            batch_size,
            jobs,
            activations,
            token_refreshes,
            pages,
            dashboard,
            bindings,
            member_updates,
            card_messages,
            pushes_unparsed,
            sms,
            webhook_deliveries,
            webhook_lag,
            webhook_oldest,
            wal_pages,
            wal_restart_seconds,
            wal_sync_seconds,
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

    /// A stored push's field that could not be read (`event`: a known event name or `other`;
    /// `field`: one of the XML names cardhook reads).
    pub fn observe_unparsed(&self, event: &str, field: &str) {
        self.pushes_unparsed
            .with_label_values(&[event, field])
            .inc();
    }

    /// An SMS code sent, refused, checked (a bounded set of outcomes; never a phone or a code).
    pub fn observe_sms(&self, outcome: &str) {
        self.sms.with_label_values(&[outcome]).inc();
    }

    /// A webhook delivery attempt; `endpoint` is a configured endpoint's name.
    pub fn observe_webhook(&self, endpoint: &str, outcome: &str) {
        self.webhook_deliveries
            .with_label_values(&[endpoint, outcome])
            .inc();
    }

    pub fn set_webhook_lag(&self, endpoint: &str, events: u64, oldest_seconds: i64) {
        self.webhook_lag
            .with_label_values(&[endpoint])
            .set(i64::try_from(events).unwrap_or(i64::MAX));
        self.webhook_oldest
            .with_label_values(&[endpoint])
            .set(oldest_seconds);
    }

    pub fn observe_commit(&self, batch: usize, seconds: f64) {
        self.commit_seconds.observe(seconds);
        self.batch_size.observe(batch as f64);
    }

    /// The SQLite WAL's length, and the time of a restart if the writer just made one.
    pub fn observe_wal(&self, pages: i64, restart_seconds: Option<f64>) {
        self.wal_pages.set(pages);
        if let Some(seconds) = restart_seconds {
            self.wal_restart_seconds.observe(seconds);
        }
    }

    pub fn observe_wal_sync(&self, seconds: f64) {
        self.wal_sync_seconds.observe(seconds);
    }

    pub fn observe_activation(&self, outcome: &str, errcode: &str) {
        self.activations
            .with_label_values(&[outcome, errcode])
            .inc();
    }

    /// A request to an H5 page or public JS-SDK route: `route` and `outcome` are fixed labels.
    pub fn observe_page(&self, route: &str, outcome: &str) {
        self.pages.with_label_values(&[route, outcome]).inc();
    }

    /// A dashboard sign-in, refusal or action: `outcome` is a fixed label.
    pub fn observe_dashboard(&self, outcome: &str) {
        self.dashboard.with_label_values(&[outcome]).inc();
    }

    /// How many dashboard requests had `outcome` (tests).
    pub fn dashboard(&self, outcome: &str) -> u64 {
        self.dashboard.with_label_values(&[outcome]).get()
    }

    /// A member binding: `way` is `h5` or `one_click`, `outcome` `bound`, `already` or a refusal.
    pub fn observe_binding(&self, way: &str, outcome: &str) {
        self.bindings.with_label_values(&[way, outcome]).inc();
    }

    /// An updateuser call of the worker: `ok` or `error`.
    pub fn observe_member_update(&self, outcome: &str) {
        self.member_updates.with_label_values(&[outcome]).inc();
    }

    /// Member updates so far with `outcome` (tests read it).
    pub fn member_updates(&self, outcome: &str) -> u64 {
        self.member_updates.with_label_values(&[outcome]).get()
    }

    /// A card message of the worker: `sent` or `error`.
    pub fn observe_card_message(&self, outcome: &str) {
        self.card_messages.with_label_values(&[outcome]).inc();
    }

    /// `credential`: access_token, wx_card or jsapi.
    pub fn observe_token_refresh(&self, appid: &str, credential: &str) {
        self.token_refreshes
            .with_label_values(&[appid, credential])
            .inc();
    }

    /// Set the jobs-by-state gauge (every state, so a drained state reads 0).
    pub fn set_jobs(&self, counts: &[(String, i64)]) {
        for state in ["pending", "running", "done", "dead"] {
            let n = counts
                .iter()
                .find(|(s, _)| s == state)
                .map_or(0, |(_, n)| *n);
            self.jobs.with_label_values(&[state]).set(n);
        }
    }

    /// The current value of one push counter (tests and the bench read it).
    pub fn pushes(&self, appid: &str, event: &str, outcome: &str) -> u64 {
        self.pushes
            .with_label_values(&[appid, event, outcome])
            .get()
    }

    /// H5 requests so far of `route` with `outcome` (tests read it).
    pub fn pages(&self, route: &str, outcome: &str) -> u64 {
        self.pages.with_label_values(&[route, outcome]).get()
    }

    /// SMS codes so far with `outcome` (tests read it).
    pub fn sms_codes(&self, outcome: &str) -> u64 {
        self.sms.with_label_values(&[outcome]).get()
    }

    /// Stored pushes so far whose `field` of an `event` could not be read (tests read it).
    pub fn unparsed(&self, event: &str, field: &str) -> u64 {
        self.pushes_unparsed
            .with_label_values(&[event, field])
            .get()
    }

    /// Member bindings so far made `way` with `outcome` (tests read it).
    pub fn bindings(&self, way: &str, outcome: &str) -> u64 {
        self.bindings.with_label_values(&[way, outcome]).get()
    }

    /// Group commits so far, and the pushes they held (tests read it).
    pub fn commits(&self) -> (u64, u64) {
        (
            self.batch_size.get_sample_count(),
            self.batch_size.get_sample_sum() as u64,
        )
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for the text format.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}
