//! One endpoint's deliverer: while this instance holds the endpoint's lease, POST each event after
//! the cursor, signed, and move the cursor past it once the endpoint answered 2xx.
//!
//! Ordered (the default): one event at a time; a failed one is tried again on the endpoint's
//! schedule and the next waits. Not ordered: a window of events goes out at once; the cursor moves
//! past the answered ones up to the first failure, which is retried on the schedule with the
//! window after it (those may arrive twice: at least once, never skipped). Past the schedule the
//! endpoint is marked failing and stops where it is.
//!
//! Progress is saved every `SAVE_EVERY` deliveries, after each page and at each failure,
//! conditional on the lease and on the row's version (`store::webhooks`): a crash repeats at most
//! the deliveries since the last save. A post starts only while the lease outlasts its timeout
//! (`lease_secs` is at least twice `timeout_secs`, `config`), so two instances never post to one
//! endpoint at once. Each round reads the feed up to its last seq (a high-water mark): an endpoint
//! whose filter takes none of the events up to there moves its cursor past them.

use std::sync::Arc;
use std::time::Duration;

use rand::SeedableRng;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::Endpoint;
use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::retry_schedule::next_run;
use crate::standard_webhooks;
use crate::store::outbox::{self, FeedEvent};
use crate::store::webhooks::{self as state, Progress};
use crate::store::{Db, StoreError};

/// How often an idle or waiting deliverer looks again (a new event also wakes it at once).
const POLL: Duration = Duration::from_secs(1);
/// Events an ordered endpoint takes from the feed at a time.
const ORDERED_PAGE: u64 = 100;
/// Events a not-ordered endpoint has in flight at once.
const WINDOW: u64 = 16;
/// An ordered endpoint's progress is saved at least every this many deliveries.
const SAVE_EVERY: usize = 10;
/// The most of an answer's body read (and dropped), so that its connection can be used again.
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// How far a retry's wait is spread (± this share), so that endpoints do not retry in step.
const JITTER: f64 = 0.1;

/// What a delivery attempt came to; a metric label and, for a failure, the reason kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Delivered,
    /// The endpoint answered something else than 2xx (redirects are not followed).
    Rejected(u16),
    TimedOut,
    Unreachable,
}

impl Attempt {
    pub fn label(&self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Rejected(_) => "rejected",
            Self::TimedOut => "timeout",
            Self::Unreachable => "unreachable",
        }
    }

    /// Why it failed, for the endpoint's row and the log: never the URL or the secret.
    fn reason(&self, timeout: Duration) -> String {
        match self {
            Self::Delivered => String::new(),
            Self::Rejected(status) => format!("answered HTTP {status}"),
            Self::TimedOut => format!("no answer within {} s", timeout.as_secs()),
            Self::Unreachable => "could not connect or send".to_owned(),
        }
    }
}

/// The deliverer of one endpoint in this instance.
pub struct Deliverer {
    pub endpoint: Arc<Endpoint>,
    pub db: Db,
    pub http: reqwest::Client,
    pub metrics: Metrics,
    pub clock: Clock,
    /// This instance's name in leases.
    pub holder: String,
    /// Woken when new events were committed.
    pub wake: Arc<Notify>,
}

/// One round's view of its endpoint: the row's version it read, the progress since, and until
/// when it holds the lease.
struct Run {
    version: i64,
    progress: Progress,
    lease_until: i64,
    /// Deliveries since the last save.
    unsaved: usize,
}

impl Deliverer {
    /// Deliver until `stop`; then save where it got to and give the lease back.
    pub async fn run(self, stop: CancellationToken) {
        loop {
            let wait = match self.round().await {
                Ok(wait) => wait,
                Err(e) => {
                    tracing::warn!(endpoint = %self.endpoint.name, error.message = %e, "webhook deliverer could not read or save its state; trying again");
                    POLL
                }
            };
            if wait.is_zero() && !stop.is_cancelled() {
                continue;
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
        if let Err(e) = state::release(&self.db, &self.endpoint.name, &self.holder).await {
            tracing::warn!(endpoint = %self.endpoint.name, error.message = %e, "could not give the webhook lease back; it lapses by itself");
        }
    }

    /// One round: hold the lease, then deliver what waits. How long to wait before the next.
    async fn round(&self) -> Result<Duration, StoreError> {
        let endpoint = &self.endpoint;
        let now = self.clock.now();
        let lease = i64::try_from(endpoint.lease_secs).unwrap_or(60);
        // `serve` started it before listening; a row is made here only for an app built otherwise.
        let row = super::row_or_start(&self.db, &endpoint.name, now).await?;
        let mine = row.lease_holder.as_deref() == Some(self.holder.as_str())
            && row.lease_until.is_some_and(|until| until - now > lease / 2);
        let row = if mine {
            row
        } else {
            match state::lease(&self.db, &endpoint.name, &self.holder, now, now + lease).await? {
                Some(row) => row,
                // Another instance delivers; look again when its lease may have lapsed.
                None => return Ok(POLL),
            }
        };
        // The row says where the endpoint is (this instance saved it, or `retry`/`replay` moved it).
        let mut run = Run {
            version: row.version,
            progress: Progress::of(&row),
            lease_until: row.lease_until.unwrap_or(now),
            unsaved: 0,
        };
        let progress = &run.progress;
        if progress.failing && progress.next_attempt_at.is_none() {
            self.report_lag(progress.cursor, now).await?;
            return Ok(POLL);
        }
        if let Some(at) = progress.next_attempt_at.filter(|at| *at > now) {
            return Ok(POLL.min(Duration::from_secs((at - now).unsigned_abs())));
        }
        let high = outbox::last_seq(&self.db).await?;
        let limit = if endpoint.ordered {
            ORDERED_PAGE
        } else {
            WINDOW
        };
        let mut filter = endpoint.filter(progress.cursor, limit);
        filter.until = Some(high);
        let page = outbox::page(&self.db, &filter).await?;
        if page.is_empty() {
            // Nothing up to the high-water mark is for this endpoint: its cursor passes it.
            if high > run.progress.cursor {
                run.progress.cursor = high;
                self.save(&run).await?;
            }
            self.report_lag(run.progress.cursor, now).await?;
            return Ok(POLL);
        }
        let whole = if endpoint.ordered {
            self.one_by_one(&page, &mut run).await?
        } else {
            self.at_once(&page, &mut run).await
        };
        if whole && (page.len() as u64) < limit {
            // The page was all this endpoint had up to the high-water mark.
            run.progress.cursor = run.progress.cursor.max(high);
        }
        if !self.save(&run).await? {
            return Ok(Duration::ZERO);
        }
        self.report_lag(run.progress.cursor, self.clock.now())
            .await?;
        // More may wait, or a retry is due: the next round finds out.
        Ok(Duration::ZERO)
    }

    /// Save `run`'s progress; false when the lease lapsed or the row changed meanwhile (the next
    /// round reads it again).
    async fn save(&self, run: &Run) -> Result<bool, StoreError> {
        let now = self.clock.now();
        state::save(
            &self.db,
            &self.endpoint.name,
            &self.holder,
            run.version,
            &run.progress,
            now,
        )
        .await
    }

    /// Whether a post may start now: its answer is due before the lease runs out.
    fn may_post(&self, run: &Run) -> bool {
        let timeout = i64::try_from(self.endpoint.timeout.as_secs()).unwrap_or(i64::MAX);
        self.clock.now().saturating_add(timeout) < run.lease_until
    }

    /// Ordered: each event in turn until one fails or the lease is too short for another post.
    /// Whether every event of the page went.
    async fn one_by_one(&self, page: &[FeedEvent], run: &mut Run) -> Result<bool, StoreError> {
        for event in page {
            if !self.may_post(run) {
                return Ok(false);
            }
            let attempt = self.post(event).await;
            self.note(event, &attempt, &mut run.progress);
            if attempt != Attempt::Delivered {
                return Ok(false);
            }
            run.unsaved += 1;
            if run.unsaved >= SAVE_EVERY {
                if !self.save(run).await? {
                    return Ok(false);
                }
                run.unsaved = 0;
            }
        }
        Ok(true)
    }

    /// Not ordered: the window at once; the cursor passes the answered events up to the first
    /// failure. Whether every event of the window went.
    async fn at_once(&self, page: &[FeedEvent], run: &mut Run) -> bool {
        if !self.may_post(run) {
            return false;
        }
        let attempts = futures_util::future::join_all(page.iter().map(|e| self.post(e))).await;
        for (event, attempt) in page.iter().zip(&attempts) {
            self.note(event, attempt, &mut run.progress);
            if *attempt != Attempt::Delivered {
                return false;
            }
        }
        true
    }

    /// What an attempt does to the endpoint's progress, and its log line.
    fn note(&self, event: &FeedEvent, attempt: &Attempt, progress: &mut Progress) {
        let endpoint = &self.endpoint;
        let now = self.clock.now();
        progress.last_attempt_at = Some(now);
        if *attempt == Attempt::Delivered {
            if progress.attempts > 0 || progress.failing {
                tracing::info!(endpoint = %endpoint.name, seq = event.seq, tries = progress.attempts + 1, "webhook delivered after retries");
            }
            progress.cursor = event.seq;
            progress.attempts = 0;
            progress.next_attempt_at = None;
            progress.failing = false;
            progress.last_error = None;
            return;
        }
        let reason = attempt.reason(endpoint.timeout);
        progress.attempts += 1;
        let mut rng = rand::rngs::StdRng::from_entropy();
        let next = next_run(
            now,
            progress.attempts,
            &endpoint.retry_schedule_secs,
            JITTER,
            &mut rng,
        );
        progress.next_attempt_at = next;
        progress.failing = next.is_none();
        tracing::warn!(
            endpoint = %endpoint.name,
            url = %endpoint.url_shown(),
            seq = event.seq,
            event_id = %event.id,
            tries = progress.attempts,
            next_attempt_at = next,
            failing = progress.failing,
            reason = %reason,
            "webhook delivery failed"
        );
        progress.last_error = Some(reason);
    }

    /// POST one event, signed as the Standard Webhooks specification says, and count the outcome.
    async fn post(&self, event: &FeedEvent) -> Attempt {
        let attempt = self.try_post(event).await;
        self.metrics
            .observe_webhook(&self.endpoint.name, attempt.label());
        attempt
    }

    async fn try_post(&self, event: &FeedEvent) -> Attempt {
        let endpoint = &self.endpoint;
        let Ok(body) = serde_json::to_vec(event) else {
            return Attempt::Unreachable;
        };
        let Ok(headers) =
            standard_webhooks::sign(&endpoint.secret, &event.id, self.clock.now(), &body)
        else {
            // Checked when the config loaded.
            return Attempt::Unreachable;
        };
        let mut request = self
            .http
            .post(&endpoint.url)
            .timeout(endpoint.timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        for (name, value) in headers {
            request = request.header(name, value);
        }
        match request.body(body).send().await {
            Ok(mut answer) => {
                let status = answer.status();
                // Read what little the answer says (within the timeout), so that its connection is
                // used again; a larger body is cut off.
                let mut read = 0;
                while let Ok(Some(chunk)) = answer.chunk().await {
                    read += chunk.len();
                    if read > MAX_ANSWER_BYTES {
                        break;
                    }
                }
                if status.is_success() {
                    Attempt::Delivered
                } else {
                    Attempt::Rejected(status.as_u16())
                }
            }
            Err(e) if e.is_timeout() => Attempt::TimedOut,
            Err(_) => Attempt::Unreachable,
        }
    }

    /// The endpoint's lag metrics: events after its cursor, and how long the oldest has waited.
    async fn report_lag(&self, cursor: i64, now: i64) -> Result<(), StoreError> {
        let filter = self.endpoint.filter(cursor, 1);
        let lag = outbox::count_after(&self.db, &filter, super::LAG_CAP).await?;
        let oldest = outbox::first_recorded_at(&self.db, &filter)
            .await?
            .map_or(0, |recorded_at| (now - recorded_at).max(0));
        self.metrics
            .set_webhook_lag(&self.endpoint.name, lag, oldest);
        Ok(())
    }
}

/// The HTTP client of the deliverers: no redirects followed, cardhook's user agent.
pub fn http_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!(
            "cardhook/",
            env!("CARGO_PKG_VERSION"),
            " (webhooks)"
        ))
        .build()
}
