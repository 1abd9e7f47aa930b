//! The public pages on the callback listener, under `/h5/{appid}/`: the H5 activation page that
//! binds a member card to the merchant's member (WeChat OAuth2 `snsapi_base` for the customer's
//! OpenID, then a phone number), and JS-SDK signatures for the merchant's own pages.
//!
//! No phone number, OpenID, card code or token ever goes into a URL cardhook builds or into a log
//! line; the customer's OpenID travels in a signed, `HttpOnly` cookie.

pub mod activate;
pub mod jssdk;
pub mod pages;
pub mod signing;

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::web;
use sea_orm::DatabaseConnection;
use secrecy::ExposeSecret;
use tokio::sync::Notify;

use crate::accounts::Accounts;
use crate::clock::Clock;
use crate::config::{Activation, CardSettings, Settings};
use crate::credentials::TokenProvider;
use crate::distribution::Distribution;
use crate::metrics::Metrics;
use jssdk::RateLimiter;
use signing::Signer;

/// What the public pages need.
#[derive(Clone)]
pub struct WebState {
    pub accounts: Accounts,
    /// The configured `[[cards]]`, by card_id.
    pub cards: Arc<HashMap<String, CardSettings>>,
    pub db: DatabaseConnection,
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
    pub limiter: RateLimiter,
    /// Woken when a binding queued an activation.
    pub wake_worker: Arc<Notify>,
}

impl WebState {
    /// The pages of `accounts` as `settings` configure them, on `distribution`'s database and
    /// credentials.
    pub fn new(
        settings: &Settings,
        accounts: Accounts,
        distribution: Distribution,
        metrics: Metrics,
        wake_worker: Arc<Notify>,
    ) -> Self {
        let (db, tokens, clock) = distribution.parts();
        let (db, tokens, clock) = (db.clone(), tokens.clone(), clock.clone());
        let public_url = settings
            .web
            .public_url
            .as_deref()
            .map(|u| u.trim_end_matches('/').to_owned());
        Self {
            accounts,
            cards: Arc::new(
                settings
                    .cards
                    .iter()
                    .map(|c| (c.card_id.clone(), c.clone()))
                    .collect(),
            ),
            db,
            tokens,
            distribution,
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
            clock,
            metrics,
            limiter: RateLimiter::default(),
            wake_worker,
        }
    }

    /// The card `card_id` when it is configured for the H5 page.
    pub fn h5_card(&self, card_id: &str) -> Option<&CardSettings> {
        self.cards
            .get(card_id)
            .filter(|c| c.activation == Activation::H5)
    }
}

/// The routes under `/h5/{appid}/`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/h5/{appid}/activate", web::get().to(activate::show))
        .route("/h5/{appid}/activate", web::post().to(activate::submit))
        .route("/h5/{appid}/oauth", web::get().to(activate::oauth))
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
