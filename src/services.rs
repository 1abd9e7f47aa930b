//! The parts every listener and the worker share, built once by `app::App::build`: each listener's
//! state (`http::AppState`, `http::AdminState`, `web::WebState`) and the worker take what they need
//! from here.

use std::sync::Arc;

use tokio::sync::Notify;

use crate::accounts::Accounts;
use crate::clock::Clock;
use crate::credentials::TokenProvider;
use crate::distribution::Distribution;
use crate::metrics::Metrics;
use crate::storage_health::StorageHealth;
use crate::store::Db;

/// What serve's parts share; cheap to clone.
#[derive(Clone)]
pub struct Services {
    pub accounts: Accounts,
    /// The database; on SQLite its writes take turns on the one writer.
    pub db: Db,
    /// access_tokens and tickets, shared by every caller of the WeChat API.
    pub tokens: TokenProvider,
    /// The operator's calls (catalogue, channels, codes, messages) on `db` and `tokens`.
    pub distribution: Distribution,
    pub metrics: Metrics,
    pub clock: Clock,
    /// Woken when something queued a job.
    pub wake_worker: Arc<Notify>,
    /// Woken (every waiter) when the ingest writer committed new pushes: the webhook deliverers.
    pub wake_webhooks: Arc<Notify>,
    /// The ingest writer's last commit (readiness fails while it failed).
    pub storage_health: StorageHealth,
    /// `stats.utc_offset`: the day a counter or a chart counts in.
    pub stats_offset: chrono::FixedOffset,
}
