//! actix-web: the route table of the callback listener and the state its handlers share.

pub mod body;
pub mod error;
pub mod wechat;

use std::time::{Duration, Instant};

use actix_web::{web, HttpRequest, ResponseError};

use crate::accounts::Accounts;
use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::store::ingest::Ingest;
use error::HttpError;

/// What every callback handler needs.
#[derive(Clone)]
pub struct AppState {
    pub accounts: Accounts,
    pub ingest: Ingest,
    pub metrics: Metrics,
    pub clock: Clock,
    pub max_body_bytes: usize,
    pub body_timeout: Duration,
    pub timestamp_tolerance_secs: u64,
}

impl AppState {
    /// A metric label for an AppID: configured ones as they are, anything else `unknown`
    /// (a scanner must not be able to create label values).
    pub fn appid_label(&self, appid: Option<&str>) -> &str {
        match appid.and_then(|a| self.accounts.get(a)) {
            Some(account) => account.appid.as_str(),
            None => "unknown",
        }
    }

    /// Log and count a rejected request, then hand the error back for the response.
    pub fn reject(
        &self,
        req: &HttpRequest,
        appid_label: &str,
        event: &str,
        error: HttpError,
        started: Instant,
    ) -> HttpError {
        let status = error.status_code().as_u16();
        let remote = req.peer_addr().map(|a| a.to_string()).unwrap_or_default();
        if status >= 500 {
            tracing::error!(appid = appid_label, reason = error.reason(), status, remote, error.cause_chain = ?error, "push not stored");
        } else {
            tracing::warn!(appid = appid_label, reason = error.reason(), status, remote, error.message = %error, "request rejected");
        }
        self.metrics.observe_push(
            appid_label,
            event,
            error.reason(),
            started.elapsed().as_secs_f64(),
        );
        error
    }
}

/// The callback routes: `/wechat/{appid}`, and `/wechat` when exactly one account is configured.
pub fn callback_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/wechat/{appid}", web::get().to(wechat::verify_for))
        .route("/wechat/{appid}", web::post().to(wechat::receive_for))
        .route("/wechat", web::get().to(wechat::verify_single))
        .route("/wechat", web::post().to(wechat::receive_single))
        .default_service(web::to(|| async { Err::<String, _>(HttpError::NotFound) }));
}
