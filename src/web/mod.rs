//! The public pages on the callback listener, under `/h5/{appid}/`: the H5 activation page that
//! binds a member card to the merchant's member (WeChat OAuth2 `snsapi_base` for the customer's
//! OpenID, then a phone number proven by an SMS code), the landing page of jump-style one-click
//! activation (`activated.rs`), and JS-SDK signatures for the merchant's own pages.
//!
//! No phone number, OpenID, card code or token ever goes into a URL cardhook builds or into a log
//! line; the customer's OpenID travels in a signed, `HttpOnly` cookie.

pub mod activate;
pub mod activated;
pub mod jssdk;
pub mod oauth;
pub mod pages;
pub mod rate;
pub mod session_codes;
pub mod signing;

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::web;
use secrecy::ExposeSecret;
use tokio::sync::Notify;

use crate::accounts::Accounts;
use crate::clock::Clock;
use crate::config::{Activation, CardSettings, Settings};
use crate::credentials::TokenProvider;
use crate::distribution::Distribution;
use crate::http::body::read_limited;
use crate::http::error::HttpError;
use crate::members::bind::{Bound, Refusal};
use crate::metrics::Metrics;
use crate::services::Services;
use crate::sms::SmsSender;
use crate::store::Db;
use rate::RateLimiter;
use session_codes::SessionCodes;
use signing::Signer;

/// The largest body a page's form or a JS-SDK request may have.
pub const BODY_LIMIT: usize = 8 * 1024;

/// What the public pages need.
#[derive(Clone)]
pub struct WebState {
    pub accounts: Accounts,
    /// The configured `[[cards]]`, by card_id.
    pub cards: Arc<HashMap<String, CardSettings>>,
    pub db: Db,
    pub tokens: TokenProvider,
    pub distribution: Distribution,
    /// None when `web.session_secret` is not set: the activation page is off.
    pub signer: Option<Signer>,
    /// `web.public_url`, without a trailing `/`.
    pub public_url: Option<String>,
    pub oauth_base: String,
    /// Cookies are `Secure` when customers reach cardhook over https.
    pub secure_cookies: bool,
    pub allowed_origins: Arc<Vec<String>>,
    pub clock: Clock,
    pub metrics: Metrics,
    /// JS-SDK signatures per client address a minute.
    pub limiter: RateLimiter,
    /// OAuth2 sign-ins per client address a minute (`web.sign_ins_per_minute`).
    pub sign_ins: RateLimiter,
    /// The codes each session read from WeChat.
    pub session_codes: SessionCodes,
    /// `[sms]`: the sender, how long a code lives, the tries it has. None: not configured.
    pub sms: Option<Arc<SmsCodes>>,
    /// A form's body must arrive within this (`server.body_timeout_secs`).
    pub body_timeout: std::time::Duration,
    /// Woken when a binding queued an activation.
    pub wake_worker: Arc<Notify>,
    /// `[[member_tags]]` are configured (a binding queues the member's tagging).
    pub tagging: bool,
    /// `stats.utc_offset` (a binding counts in the funnel on its day).
    pub stats_offset: chrono::FixedOffset,
}

/// The SMS codes of the H5 page: who sends them and the rules they follow.
pub struct SmsCodes {
    pub sender: SmsSender,
    pub ttl_secs: u64,
    pub max_tries: u32,
}

impl WebState {
    /// The pages of the accounts as `settings` configure them.
    pub fn new(settings: &Settings, services: &Services) -> Result<Self, reqwest::Error> {
        let sms = match &settings.sms {
            Some(sms) => Some(Arc::new(SmsCodes {
                sender: SmsSender::from_settings(sms)?,
                ttl_secs: sms.code_ttl_secs,
                max_tries: sms.max_tries,
            })),
            None => None,
        };
        let public_url = settings
            .web
            .public_url
            .as_deref()
            .map(|u| u.trim_end_matches('/').to_owned());
        Ok(Self {
            accounts: services.accounts.clone(),
            cards: Arc::new(
                settings
                    .cards
                    .iter()
                    .map(|c| (c.card_id.clone(), c.clone()))
                    .collect(),
            ),
            db: services.db.clone(),
            tokens: services.tokens.clone(),
            distribution: services.distribution.clone(),
            signer: settings
                .web
                .session_secret
                .as_ref()
                .map(|s| Signer::new(s.expose_secret())),
            secure_cookies: public_url
                .as_deref()
                .is_some_and(|u| u.starts_with("https://")),
            public_url,
            oauth_base: settings.wechat.oauth_base.trim_end_matches('/').to_owned(),
            allowed_origins: Arc::new(
                settings
                    .web
                    .allowed_origins
                    .iter()
                    .map(|o| o.trim_end_matches('/').to_owned())
                    .collect(),
            ),
            clock: services.clock.clone(),
            metrics: services.metrics.clone(),
            limiter: RateLimiter::per_minute(jssdk::PER_MINUTE),
            sign_ins: RateLimiter::per_minute(settings.web.sign_ins_per_minute),
            session_codes: SessionCodes::default(),
            sms,
            body_timeout: std::time::Duration::from_secs(settings.server.body_timeout_secs),
            wake_worker: services.wake_worker.clone(),
            tagging: !settings.member_tags.is_empty(),
            stats_offset: services.stats_offset,
        })
    }

    /// A form's or a JSON request's body: at most [`BODY_LIMIT`] bytes, within the body deadline
    /// (a slow sender is cut with 408, a large body refused with 413 before it is read).
    pub async fn read_body(
        &self,
        req: &actix_web::HttpRequest,
        payload: web::Payload,
    ) -> Result<web::Bytes, HttpError> {
        read_limited(req, payload, BODY_LIMIT, self.body_timeout).await
    }

    /// The card `card_id` when it is configured for the H5 page.
    pub fn h5_card(&self, card_id: &str) -> Option<&CardSettings> {
        self.cards
            .get(card_id)
            .filter(|c| c.activation == Activation::H5)
    }
}

/// The query or form fields of a page, decoded.
fn fields(encoded: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(encoded)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A page telling the customer why not (no way to start again from it).
fn page(
    status: actix_web::http::StatusCode,
    reason: &'static str,
    title: &'static str,
    message: &'static str,
) -> HttpError {
    notice(status, reason, title, message, None)
}

/// A page telling the customer what happened, with a link to start again (`again`) when that helps.
fn notice(
    status: actix_web::http::StatusCode,
    reason: &'static str,
    title: &'static str,
    message: &'static str,
    again: Option<&str>,
) -> HttpError {
    HttpError::Page {
        status,
        reason,
        html: pages::notice(title, message, again),
    }
}

/// A binding made `way` (`h5`, `jump`) counted and logged; a new one wakes the worker (its
/// activation is queued). The page of the member bound, or the refusal for the caller's own page.
fn bound_page(
    state: &WebState,
    way: &'static str,
    appid: &str,
    card_id: &str,
    outcome: Result<Bound, Refusal>,
) -> Result<actix_web::HttpResponse, Refusal> {
    let label = match &outcome {
        Ok(Bound::New(_)) => "bound",
        Ok(Bound::Already(_)) => "already",
        Err(refusal) => refusal.label(),
    };
    state.metrics.observe_binding(way, label);
    tracing::info!(appid, card_id, outcome = label, "member binding");
    let bound = outcome?;
    if matches!(bound, Bound::New(_)) {
        state.wake_worker.notify_one();
    }
    Ok(html(pages::bound(
        &bound.member().member_no,
        matches!(bound, Bound::Already(_)),
    )))
}

fn html(body: String) -> actix_web::HttpResponse {
    page_response(actix_web::http::StatusCode::OK, body)
}

/// A page with `status`, and the headers every page carries (`pages::HEADERS`).
fn page_response(status: actix_web::http::StatusCode, body: String) -> actix_web::HttpResponse {
    let mut response = actix_web::HttpResponse::build(status);
    for header in crate::http::error::PAGE_HEADERS {
        response.insert_header(header);
    }
    response.content_type("text/html; charset=utf-8").body(body)
}

/// Count a page request by route and outcome.
fn observe(state: &WebState, route: &str, outcome: &Result<actix_web::HttpResponse, HttpError>) {
    let label = match outcome {
        Ok(response) if response.status().is_redirection() => "redirect",
        Ok(response) if response.status().is_success() => "ok",
        Ok(_) => "refused",
        Err(e) => e.reason(),
    };
    state.metrics.observe_page(route, label);
}

/// The routes under `/h5/{appid}/`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/h5/{appid}/activate", web::get().to(activate::show))
        .route("/h5/{appid}/activated", web::get().to(activated::show))
        .route("/h5/{appid}/activate", web::post().to(activate::submit))
        .route("/h5/{appid}/sms", web::post().to(activate::send_code))
        .route("/h5/{appid}/oauth", web::get().to(oauth::oauth))
        .route("/h5/{appid}/jssdk/config", web::post().to(jssdk::config))
        .route(
            "/h5/{appid}/jssdk/card-ext",
            web::post().to(jssdk::card_ext),
        )
        .route(
            "/h5/{appid}/jssdk/config",
            web::method(actix_web::http::Method::OPTIONS).to(jssdk::preflight),
        )
        .route(
            "/h5/{appid}/jssdk/card-ext",
            web::method(actix_web::http::Method::OPTIONS).to(jssdk::preflight),
        );
}
