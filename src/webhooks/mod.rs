//! The domain events out to the merchant's systems as Standard Webhooks (issue 33; DESIGN §4
//! "Events out"): each `[[webhooks]]` endpoint gets the feed (`store::outbox`) from its cursor on,
//! signed (`standard_webhooks`), at least once, never skipping an event.
//!
//! Every instance runs a deliverer per endpoint (`deliver.rs`); the one holding the endpoint's lease
//! (`store::webhooks`) delivers, the others wait for it to lapse. Where each endpoint is, what it
//! waits on and why, is in its row: `webhooks list` and `GET /api/v1/webhooks` show it.

pub mod deliver;

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use secrecy::SecretString;
use serde::Serialize;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{Settings, WebhookSettings};
use crate::event_type::EventType;
use crate::services::Services;
use crate::store::outbox::{self, Filter};
use crate::store::{webhooks as state, StoreError};

/// A configured endpoint, its settings read.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub name: String,
    pub url: String,
    pub secret: SecretString,
    pub types: Vec<EventType>,
    pub appid: Option<String>,
    pub ordered: bool,
    pub timeout: Duration,
    pub retry_schedule_secs: Vec<u64>,
    pub lease_secs: u64,
}

impl Endpoint {
    /// From settings that passed `Settings::validate` (an unknown type there is refused; here it
    /// could only be dropped).
    pub fn from_settings(settings: &WebhookSettings) -> Self {
        Self {
            name: settings.name.clone(),
            url: settings.url.clone(),
            secret: settings.secret.clone(),
            types: settings
                .types
                .iter()
                .filter_map(|t| EventType::parse(t))
                .collect(),
            appid: settings.appid.clone(),
            ordered: settings.ordered,
            timeout: Duration::from_secs(settings.timeout_secs),
            retry_schedule_secs: settings.retry_schedule_secs.clone(),
            lease_secs: settings.lease_secs,
        }
    }

    pub fn all(settings: &[WebhookSettings]) -> Vec<Self> {
        settings.iter().map(Self::from_settings).collect()
    }

    /// The URL as logs and listings show it: without its query string or fragment (a token the
    /// merchant put there stays out of them).
    pub fn url_shown(&self) -> String {
        match url::Url::parse(&self.url) {
            Ok(mut url) => {
                url.set_query(None);
                url.set_fragment(None);
                let _ = url.set_password(None);
                let _ = url.set_username("");
                url.to_string()
            }
            Err(_) => "(not a URL)".to_owned(),
        }
    }

    /// The events this endpoint gets after `after`.
    pub fn filter(&self, after: i64, limit: u64) -> Filter {
        Filter {
            after,
            limit,
            types: self.types.clone(),
            appid: self.appid.clone(),
            until: None,
        }
    }
}

/// The deliverers of this instance, one per endpoint.
pub struct Webhooks {
    endpoints: Vec<Arc<Endpoint>>,
    services: Services,
    http: reqwest::Client,
    /// This instance's name in the endpoints' leases.
    holder: String,
}

impl Webhooks {
    pub fn new(settings: &Settings, services: &Services) -> Result<Self, std::io::Error> {
        let http = deliver::http_client().map_err(std::io::Error::other)?;
        // The process id first: an operator (and a test) sees which instance holds an endpoint.
        let holder = format!(
            "{}:{:08x}",
            std::process::id(),
            rand::thread_rng().gen::<u32>()
        );
        Ok(Self {
            endpoints: Endpoint::all(&settings.webhooks)
                .into_iter()
                .map(Arc::new)
                .collect(),
            services: services.clone(),
            http,
            holder,
        })
    }

    /// Start every deliverer; each stops, saving where it got to, when `stop` is cancelled.
    pub fn spawn(&self, stop: CancellationToken) -> Vec<JoinHandle<()>> {
        self.endpoints
            .iter()
            .map(|endpoint| {
                let deliverer = deliver::Deliverer {
                    endpoint: endpoint.clone(),
                    db: self.services.db.clone(),
                    http: self.http.clone(),
                    metrics: self.services.metrics.clone(),
                    clock: self.services.clock.clone(),
                    holder: self.holder.clone(),
                    wake: self.services.wake_webhooks.clone(),
                };
                tokio::spawn(deliverer.run(stop.clone()))
            })
            .collect()
    }
}

/// Give each configured endpoint that has none its row, at the end of the feed: a new endpoint gets
/// what is recorded from now on. `serve` calls it before it listens, so that the first pushes it
/// takes are the endpoint's (`replay` goes back further).
pub async fn start_new_endpoints(
    db: &impl sea_orm::ConnectionTrait,
    settings: &[WebhookSettings],
    now: i64,
) -> Result<(), StoreError> {
    for endpoint in settings {
        row_or_start(db, &endpoint.name, now).await?;
    }
    Ok(())
}

/// The endpoint's row; one that has none starts at the end of the feed.
pub async fn row_or_start(
    db: &impl sea_orm::ConnectionTrait,
    name: &str,
    now: i64,
) -> Result<entity::webhook_delivery::Model, StoreError> {
    match state::get(db, name).await? {
        Some(row) => Ok(row),
        None => state::ensure(db, name, outbox::last_seq(db).await?, now).await,
    }
}

/// Where an endpoint stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EndpointState {
    /// Not started yet: no instance ran it.
    New,
    /// Delivering, or waiting for the next event.
    Ok,
    /// An event failed and is tried again at `next_attempt_at`.
    BackingOff,
    /// Its retries ran out: its cursor stops until `webhooks retry` or `replay`.
    Failing,
}

/// An endpoint as `webhooks list` and `GET /api/v1/webhooks` show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EndpointView {
    pub name: String,
    pub url: String,
    pub types: Vec<&'static str>,
    #[schema(required = true)]
    pub appid: Option<String>,
    pub ordered: bool,
    pub state: EndpointState,
    /// The last seq it was given (or that its filter stepped over).
    #[schema(required = true)]
    pub cursor: Option<i64>,
    /// Events after its cursor it has still to get (counted up to 10 000).
    pub lag: u64,
    pub attempts: i64,
    #[schema(required = true)]
    pub next_attempt_at: Option<i64>,
    #[schema(required = true)]
    pub last_error: Option<String>,
    #[schema(required = true)]
    pub last_attempt_at: Option<i64>,
}

/// The most events a lag figure counts.
pub const LAG_CAP: u64 = 10_000;

/// Every configured endpoint's state.
pub async fn views(
    db: &impl sea_orm::ConnectionTrait,
    endpoints: &[Endpoint],
) -> Result<Vec<EndpointView>, StoreError> {
    let mut views = Vec::with_capacity(endpoints.len());
    for endpoint in endpoints {
        let row = state::get(db, &endpoint.name).await?;
        let lag = match &row {
            Some(row) => outbox::count_after(db, &endpoint.filter(row.cursor, 0), LAG_CAP).await?,
            None => 0,
        };
        let state = match &row {
            None => EndpointState::New,
            Some(r) if r.failing && r.next_attempt_at.is_none() => EndpointState::Failing,
            Some(r) if r.failing || r.attempts > 0 => EndpointState::BackingOff,
            Some(_) => EndpointState::Ok,
        };
        views.push(EndpointView {
            name: endpoint.name.clone(),
            url: endpoint.url_shown(),
            types: endpoint.types.iter().map(|t| t.as_str()).collect(),
            appid: endpoint.appid.clone(),
            ordered: endpoint.ordered,
            state,
            cursor: row.as_ref().map(|r| r.cursor),
            lag,
            attempts: row.as_ref().map_or(0, |r| r.attempts),
            next_attempt_at: row.as_ref().and_then(|r| r.next_attempt_at),
            last_error: row.as_ref().and_then(|r| r.last_error.clone()),
            last_attempt_at: row.as_ref().and_then(|r| r.last_attempt_at),
        });
    }
    Ok(views)
}

/// Why an operator's request about an endpoint was refused.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("no webhook endpoint is named {0:?} in the config")]
    Unknown(String),
    #[error("endpoint {0:?} has not run yet: start serve first (or replay it from a seq)")]
    NotStarted(String),
    #[error("`after` must be 0 or a seq of the feed (at most {0})")]
    BadSeq(i64),
    #[error("`after` must not be past the endpoint's cursor ({0}): a replay delivers again, it never skips")]
    WouldSkip(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The endpoint named `name`.
pub fn find<'a>(endpoints: &'a [Endpoint], name: &str) -> Result<&'a Endpoint, WebhookError> {
    endpoints
        .iter()
        .find(|e| e.name == name)
        .ok_or_else(|| WebhookError::Unknown(name.to_owned()))
}

/// `webhooks retry NAME`: the waiting event is tried now. False when no event waits (the endpoint
/// is neither backing off nor failing: nothing to do).
pub async fn retry(
    db: &impl sea_orm::ConnectionTrait,
    endpoints: &[Endpoint],
    name: &str,
    now: i64,
) -> Result<bool, WebhookError> {
    let endpoint = find(endpoints, name)?;
    if state::get(db, &endpoint.name).await?.is_none() {
        return Err(WebhookError::NotStarted(name.to_owned()));
    }
    Ok(state::retry_now(db, &endpoint.name, now).await?)
}

/// `webhooks replay NAME --after SEQ`: every event after `after` is delivered again.
pub async fn replay(
    db: &impl sea_orm::ConnectionTrait,
    endpoints: &[Endpoint],
    name: &str,
    after: i64,
    now: i64,
) -> Result<(), WebhookError> {
    let endpoint = find(endpoints, name)?;
    let last = outbox::last_seq(db).await?;
    if !(0..=last).contains(&after) {
        return Err(WebhookError::BadSeq(last));
    }
    if let Some(row) = state::get(db, &endpoint.name).await? {
        if after > row.cursor {
            return Err(WebhookError::WouldSkip(row.cursor));
        }
    }
    state::replay(db, &endpoint.name, after, now).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_what_may_be_secret() {
        let endpoint = Endpoint {
            name: "crm".into(),
            url: "https://user:pw@crm.example/hooks/in?token=abc#x".into(),
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned().into(),
            types: vec![],
            appid: None,
            ordered: true,
            timeout: Duration::from_secs(1),
            retry_schedule_secs: vec![1],
            lease_secs: 30,
        };
        assert_eq!(endpoint.url_shown(), "https://crm.example/hooks/in");
    }
}
