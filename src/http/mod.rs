//! actix-web: the route table of the callback listener and the state its handlers share.

pub mod admin;
pub mod body;
pub mod catalogue;
pub mod dashboard;
pub mod distribution;
pub mod error;
pub mod feed;
pub mod health;
pub mod json_body;
pub mod members;
pub mod messages;
pub mod openapi;
pub mod responses;
pub mod till;
pub mod wechat;

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{web, HttpRequest, ResponseError};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Notify;

use crate::accounts::{Account, Accounts};
use crate::clock::Clock;
use crate::config::Settings;
use crate::distribution::Distribution;
use crate::ingest::Ingest;
use crate::metrics::Metrics;
use crate::services::Services;
use crate::storage_health::StorageHealth;
use crate::store::DatabaseFile;
use crate::store::Db;
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
    /// The callback listener's state: the accounts, the queue to the writers, and the limits.
    pub fn new(settings: &Settings, services: &Services, ingest: Ingest) -> Self {
        Self {
            accounts: services.accounts.clone(),
            ingest,
            metrics: services.metrics.clone(),
            clock: services.clock.clone(),
            max_body_bytes: settings.server.max_body_bytes,
            body_timeout: Duration::from_secs(settings.server.body_timeout_secs),
            timestamp_tolerance_secs: settings.server.timestamp_tolerance_secs,
        }
    }

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
        let remote = crate::client_address::ClientAddress::of(req).to_string();
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

/// What every admin handler needs.
#[derive(Clone)]
pub struct AdminState {
    pub accounts: Accounts,
    pub db: Db,
    pub metrics: Metrics,
    pub clock: Clock,
    pub admin_token: Option<SecretString>,
    /// The SQLite file, when the database is one (readiness looks at it).
    pub database_file: Option<DatabaseFile>,
    pub wake_worker: Arc<Notify>,
    /// The ingest writer's last commit (readiness fails while it failed).
    pub storage_health: StorageHealth,
    /// Channels, QR codes, code deposits and JS-SDK signatures.
    pub distribution: Distribution,
    /// The configured webhook endpoints.
    pub webhooks: Arc<Vec<crate::webhooks::Endpoint>>,
    /// `[[member_tags]]` are configured (an import queues the tagging of members whose level moved).
    pub tagging: bool,
    /// The dashboard's sessions and sign-in bound.
    pub dashboard: dashboard::Dashboard,
}

impl AdminState {
    /// The admin listener's state; `database_file` when the database is a SQLite file.
    pub fn new(
        settings: &Settings,
        services: &Services,
        database_file: Option<DatabaseFile>,
    ) -> Result<Self, crate::config::ConfigError> {
        Ok(Self {
            accounts: services.accounts.clone(),
            db: services.db.clone(),
            metrics: services.metrics.clone(),
            clock: services.clock.clone(),
            admin_token: settings.admin.token.clone(),
            database_file,
            wake_worker: services.wake_worker.clone(),
            storage_health: services.storage_health.clone(),
            distribution: services.distribution.clone(),
            webhooks: Arc::new(crate::webhooks::Endpoint::all(&settings.webhooks)),
            tagging: !settings.member_tags.is_empty(),
            dashboard: dashboard::Dashboard::new(
                settings.admin.token.as_ref().map(|t| t.expose_secret()),
                settings.trusted_proxies()?,
                services.stats_offset,
            ),
        })
    }
}

/// The admin routes (DESIGN §4): every one but `/healthz` needs the bearer token.
pub fn admin_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(health::metrics))
        .route("/api/v1/openapi.json", web::get().to(openapi::serve))
        .route("/api/v1/stats/channels", web::get().to(admin::stats))
        .route(
            "/api/v1/cards/{card_id}/codes/{code}",
            web::get().to(admin::binding),
        )
        .route(
            "/api/v1/users/{openid}/codes",
            web::get().to(admin::user_codes),
        )
        .route("/api/v1/members/import", web::post().to(members::import))
        .route("/api/v1/members/{member_no}", web::get().to(members::show))
        .route(
            "/api/v1/members/{member_no}",
            web::put().to(members::update),
        )
        .route("/api/v1/cards", web::get().to(catalogue::list))
        .route("/api/v1/cards", web::post().to(catalogue::create))
        .route("/api/v1/cards/{card_id}", web::get().to(catalogue::show))
        .route(
            "/api/v1/channels/follow-qrcode",
            web::post().to(messages::follow_qrcode),
        )
        .route("/api/v1/send/card", web::post().to(messages::send_card))
        .route("/api/v1/mass", web::post().to(messages::mass))
        .route("/api/v1/mass", web::get().to(messages::mass_list))
        .route("/api/v1/events", web::get().to(feed::list))
        .route("/api/v1/webhooks", web::get().to(feed::webhooks))
        .route("/api/v1/webhooks/{name}/retry", web::post().to(feed::retry))
        .route(
            "/api/v1/webhooks/{name}/replay",
            web::post().to(feed::replay),
        )
        .route("/api/v1/codes/consume", web::post().to(till::consume))
        .route("/api/v1/codes/{code}", web::get().to(till::check))
        .route("/api/v1/jobs", web::get().to(admin::job_list))
        .route("/api/v1/jobs/{id}/retry", web::post().to(admin::job_retry))
        .route("/api/v1/channels", web::get().to(distribution::list))
        .route("/api/v1/channels", web::post().to(distribution::name))
        .route(
            "/api/v1/channels/qrcode",
            web::post().to(distribution::qrcode),
        )
        .route(
            "/api/v1/channels/landingpage",
            web::post().to(distribution::landing_page),
        )
        .route(
            "/api/v1/channels/{id}/qrcode.png",
            web::get().to(distribution::qrcode_png),
        )
        .route(
            "/api/v1/cards/{card_id}/codes/deposit",
            web::post().to(distribution::deposit),
        )
        .route(
            "/api/v1/cards/{card_id}/codes/check",
            web::post().to(distribution::check),
        )
        .route(
            "/api/v1/cards/{card_id}/mpnews-html",
            web::get().to(distribution::mpnews_html),
        )
        .route(
            "/api/v1/testwhitelist",
            web::put().to(distribution::whitelist),
        )
        .route(
            "/api/v1/jssdk/card-ext",
            web::post().to(distribution::card_ext),
        )
        .route(
            "/api/v1/jssdk/card-sign",
            web::post().to(distribution::card_sign),
        )
        .route("/api/v1/jssdk/config", web::post().to(distribution::config))
        .configure(dashboard::routes)
        .configure(method_not_allowed)
        .app_data(web::QueryConfig::default().error_handler(|e, _| {
            HttpError::BadParam {
                name: "query",
                reason: e.to_string(),
            }
            .into()
        }))
        // A member file: 100 000 members are ~5 MiB.
        .app_data(web::PayloadConfig::new(32 << 20))
        // Code lists for a deposit can be long: 4 MiB is ~200 000 codes.
        .app_data(
            web::JsonConfig::default()
                .limit(4 << 20)
                .error_handler(|e, _| {
                    HttpError::BadParam {
                        name: "body",
                        reason: e.to_string(),
                    }
                    .into()
                }),
        )
        .app_data(web::PathConfig::default().error_handler(|e, _| {
            HttpError::BadParam {
                name: "path",
                reason: e.to_string(),
            }
            .into()
        }))
        .default_service(web::to(|| async { Err::<String, _>(HttpError::NotFound) }));
}

/// Each path of the admin API with the methods it takes, a fixed path before a pattern that would
/// also match it (`/codes/consume` before `/codes/{code}`).
const ADMIN_PATHS: [(&str, &str); 33] = [
    ("/healthz", "GET"),
    ("/readyz", "GET"),
    ("/metrics", "GET"),
    ("/api/v1/openapi.json", "GET"),
    ("/api/v1/stats/channels", "GET"),
    ("/api/v1/cards/{card_id}/codes/deposit", "POST"),
    ("/api/v1/cards/{card_id}/codes/check", "POST"),
    ("/api/v1/cards/{card_id}/codes/{code}", "GET"),
    ("/api/v1/users/{openid}/codes", "GET"),
    ("/api/v1/members/import", "POST"),
    ("/api/v1/members/{member_no}", "GET, PUT"),
    ("/api/v1/cards", "GET, POST"),
    ("/api/v1/cards/{card_id}", "GET"),
    ("/api/v1/channels/follow-qrcode", "POST"),
    ("/api/v1/send/card", "POST"),
    ("/api/v1/mass", "GET, POST"),
    ("/api/v1/events", "GET"),
    ("/api/v1/webhooks", "GET"),
    ("/api/v1/webhooks/{name}/retry", "POST"),
    ("/api/v1/webhooks/{name}/replay", "POST"),
    ("/api/v1/codes/consume", "POST"),
    ("/api/v1/codes/{code}", "GET"),
    ("/api/v1/jobs", "GET"),
    ("/api/v1/jobs/{id}/retry", "POST"),
    ("/api/v1/channels", "GET, POST"),
    ("/api/v1/channels/qrcode", "POST"),
    ("/api/v1/channels/landingpage", "POST"),
    ("/api/v1/channels/{id}/qrcode.png", "GET"),
    ("/api/v1/cards/{card_id}/mpnews-html", "GET"),
    ("/api/v1/testwhitelist", "PUT"),
    ("/api/v1/jssdk/card-ext", "POST"),
    ("/api/v1/jssdk/card-sign", "POST"),
    ("/api/v1/jssdk/config", "POST"),
];

/// After every route: any other method on a path of the admin API is 405 with `Allow` (actix
/// would fall through to the listener's 404).
fn method_not_allowed(cfg: &mut web::ServiceConfig) {
    for (path, allow) in ADMIN_PATHS {
        cfg.service(
            web::resource(path)
                .to(move || async move { Err::<String, _>(HttpError::MethodNotAllowed { allow }) }),
        );
    }
}

/// The callback routes: `/wechat/{appid}`, and `/wechat` when exactly one account is configured.
///
/// Each configured account's path is a static route carrying its account: actix matches a
/// `{appid}` pattern with a regex, which cost ~4% of the CPU of a push (docs/PERFORMANCE.md). The
/// pattern stays for every other AppID, to answer it 404 `unknown_appid`.
pub fn callback_routes(accounts: &Accounts) -> impl Fn(&mut web::ServiceConfig) + '_ {
    move |cfg| {
        let routed = |path: String, account: &Arc<Account>| {
            web::resource(path)
                .app_data(web::Data::from(account.clone()))
                .route(web::get().to(wechat::verify_routed))
                .route(web::post().to(wechat::receive_routed))
        };
        for account in accounts
            .iter()
            .filter(|a| is_plain_segment(a.appid.as_str()))
        {
            cfg.service(routed(format!("/wechat/{}", account.appid), account));
        }
        match accounts.single() {
            Some(account) => cfg.service(routed("/wechat".to_owned(), account)),
            None => cfg
                .route("/wechat", web::get().to(wechat::verify_single))
                .route("/wechat", web::post().to(wechat::receive_single)),
        };
        cfg.route("/wechat/{appid}", web::get().to(wechat::verify_for))
            .route("/wechat/{appid}", web::post().to(wechat::receive_for))
            .default_service(web::to(|| async { Err::<String, _>(HttpError::NotFound) }));
    }
}

/// An AppID that is a path segment as it stands (in a route, actix would read `{` as a pattern).
fn is_plain_segment(appid: &str) -> bool {
    appid
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}
