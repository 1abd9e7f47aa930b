//! The operator's dashboard on the admin listener (`GET /dashboard`): a sign-in with the admin
//! token that sets a session cookie, then the funnel by channel, the members (`reports.rs`), and
//! the health of the queue, the webhooks and the database (`health.rs`). Read-only but for a dead
//! job's retry; every form carries a CSRF token and a cross-site POST is refused. Here: the routes,
//! the sign-in and the checks every page makes; the figures are `funnel`'s, the charts `svg`'s, the
//! pages `pages`'s, the query `params`'s, the cookie `session`'s.

pub mod funnel;
pub mod health;
pub mod pages;
pub mod params;
pub mod reports;
pub mod session;
pub mod svg;

use actix_web::cookie::{time::Duration as CookieAge, Cookie, SameSite};
use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::FixedOffset;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::error::HttpError;
use super::AdminState;
use crate::client_address::TrustedProxies;
use crate::store::StoreError;
use pages::{Frame, Section};
use session::{Session, SessionStore, SignInThrottle, COOKIE, SESSION_SECS};

/// What the dashboard keeps: the session signer (none without `admin.token`), the bound on
/// wrong tokens, whom to believe about a client's address, and the offset days are counted in.
#[derive(Clone)]
pub struct Dashboard {
    sessions: Option<SessionStore>,
    throttle: SignInThrottle,
    proxies: TrustedProxies,
    offset: FixedOffset,
}

impl Dashboard {
    pub fn new(admin_token: Option<&str>, proxies: TrustedProxies, offset: FixedOffset) -> Self {
        Self {
            sessions: admin_token.map(SessionStore::new),
            throttle: SignInThrottle::default(),
            proxies,
            offset,
        }
    }
}

/// The dashboard's routes, on the admin listener.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/dashboard", web::get().to(home))
        .route("/dashboard/login", web::get().to(login_form))
        .route("/dashboard/login", web::post().to(login))
        .route("/dashboard/logout", web::post().to(logout))
        .route("/dashboard/app.js", web::get().to(script))
        .route("/dashboard/funnel", web::get().to(reports::funnel_page))
        .route("/dashboard/funnel.csv", web::get().to(reports::funnel_csv))
        .route("/dashboard/members", web::get().to(reports::members_page))
        .route("/dashboard/health", web::get().to(health::health_page))
        .route("/dashboard/jobs/{id}/retry", web::post().to(health::retry));
}

/// The headers of every page: not cached, not framed, scripts from the binary only. The referrer
/// policy lets the browser name the page's own origin on its forms' POSTs (`no-referrer` would
/// make it `Origin: null`) and nothing to other sites.
const HEADERS: [(&str, &str); 5] = [
    ("Cache-Control", "no-store"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("X-Content-Type-Options", "nosniff"),
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; img-src 'self'; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
];

fn html(status: StatusCode, body: String) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    for header in HEADERS {
        response.insert_header(header);
    }
    response.content_type("text/html; charset=utf-8").body(body)
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header(("Cache-Control", "no-store"))
        .finish()
}

/// A refusal or a failure as a page (rendered by `http/error.rs`, the one status mapping),
/// counted and logged with its outcome.
fn refusal(
    state: &AdminState,
    status: StatusCode,
    outcome: &'static str,
    message: &str,
) -> HttpError {
    state.metrics.observe_dashboard(outcome);
    tracing::warn!(
        outcome,
        status = status.as_u16(),
        "dashboard request refused"
    );
    HttpError::Page {
        status,
        reason: outcome,
        html: pages::notice(message),
    }
}

/// A page that could not be read: logged with its cause, shown without it.
fn unavailable(state: &AdminState, page: &'static str, e: &StoreError) -> HttpError {
    tracing::error!(page, error.message = %e, "dashboard page unavailable");
    refusal(
        state,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "数据库暂时无法读取，请稍后刷新。",
    )
}

/// The session the request's cookie carries, if it is good.
fn signed_in(req: &HttpRequest, state: &AdminState) -> Option<Session> {
    let sessions = state.dashboard.sessions.as_ref()?;
    let cookie = req.cookie(COOKIE)?;
    sessions.check(cookie.value(), state.clock.now())
}

/// The frame of a signed-in page: its section and the session's CSRF token.
fn frame(state: &AdminState, session: &Session, section: Section) -> Frame {
    let csrf = state
        .dashboard
        .sessions
        .as_ref()
        .map(|s| s.csrf(session))
        .unwrap_or_default();
    Frame { section, csrf }
}

/// Whether a POST comes from the dashboard's own pages. A browser says where a request comes from
/// in `Sec-Fetch-Site` (it knows, whatever proxy sits between); an older one only in `Origin`,
/// compared with the host the request was sent to. A request that names neither is not a
/// browser's (no cookie of a browser rides on it).
fn same_origin(req: &HttpRequest) -> bool {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = header("sec-fetch-site") {
        return site == "same-origin" || site == "none";
    }
    match header("origin") {
        None => true,
        Some(origin) => {
            let info = req.connection_info();
            let host = info.host();
            let host = host
                .strip_suffix(":80")
                .filter(|_| info.scheme() == "http")
                .or_else(|| {
                    host.strip_suffix(":443")
                        .filter(|_| info.scheme() == "https")
                })
                .unwrap_or(host);
            origin.eq_ignore_ascii_case(&format!("{}://{host}", info.scheme()))
        }
    }
}

/// Why a POST was refused.
#[derive(Debug, Clone, Copy)]
enum PostRefusal {
    CrossSite,
    SignedOut,
    BadCsrf,
}

impl PostRefusal {
    fn error(self, state: &AdminState) -> HttpError {
        match self {
            Self::CrossSite => {
                refusal(state, StatusCode::FORBIDDEN, "cross_site", "拒绝跨站请求。")
            }
            Self::SignedOut => refusal(state, StatusCode::UNAUTHORIZED, "signed_out", "请先登录。"),
            Self::BadCsrf => refusal(
                state,
                StatusCode::FORBIDDEN,
                "bad_csrf",
                "表单已失效，请刷新页面后重试。",
            ),
        }
    }
}

/// The session of a POST from the dashboard's own page with its CSRF token.
fn checked_post(req: &HttpRequest, state: &AdminState, csrf: &str) -> Result<Session, HttpError> {
    let check = || {
        if !same_origin(req) {
            return Err(PostRefusal::CrossSite);
        }
        let session = signed_in(req, state).ok_or(PostRefusal::SignedOut)?;
        let good = state
            .dashboard
            .sessions
            .as_ref()
            .is_some_and(|s| s.csrf_ok(&session, csrf));
        if good {
            Ok(session)
        } else {
            Err(PostRefusal::BadCsrf)
        }
    };
    check().map_err(|refused| refused.error(state))
}

/// GET /dashboard: the funnel (signed in) or the sign-in.
async fn home(req: HttpRequest, state: web::Data<AdminState>) -> HttpResponse {
    match signed_in(&req, &state) {
        Some(_) => see_other("/dashboard/funnel"),
        None => see_other("/dashboard/login"),
    }
}

const NO_TOKEN: &str = "admin.token 未配置：控制台不可用。";

async fn login_form(state: web::Data<AdminState>) -> HttpResponse {
    match state.dashboard.sessions {
        Some(_) => html(StatusCode::OK, pages::login(None)),
        None => html(StatusCode::UNAUTHORIZED, pages::login(Some(NO_TOKEN))),
    }
}

#[derive(Deserialize)]
struct LoginForm {
    token: SecretString,
}

/// The sign-in form again with why it was refused (counted and logged with the client's address).
fn login_refused(
    state: &AdminState,
    client: std::net::IpAddr,
    status: StatusCode,
    outcome: &'static str,
    message: &str,
) -> HttpResponse {
    state.metrics.observe_dashboard(outcome);
    tracing::warn!(outcome, client = %client, "dashboard sign-in refused");
    html(status, pages::login(Some(message)))
}

/// POST /dashboard/login: the admin token in the form's body (never in a URL) sets the cookie.
async fn login(
    req: HttpRequest,
    form: web::Form<LoginForm>,
    state: web::Data<AdminState>,
) -> HttpResponse {
    let client = state.dashboard.proxies.of(&req);
    if !same_origin(&req) {
        return login_refused(
            &state,
            client,
            StatusCode::FORBIDDEN,
            "cross_site",
            "拒绝跨站请求。",
        );
    }
    let (Some(sessions), Some(expected)) = (&state.dashboard.sessions, &state.admin_token) else {
        return login_refused(
            &state,
            client,
            StatusCode::UNAUTHORIZED,
            "no_token",
            NO_TOKEN,
        );
    };
    let now = state.clock.now();
    if !state.dashboard.throttle.allows(client, now) {
        let message = "错误次数过多，请 5 分钟后再试。";
        return login_refused(
            &state,
            client,
            StatusCode::TOO_MANY_REQUESTS,
            "throttled",
            message,
        );
    }
    if !super::admin::same_token(form.token.expose_secret(), expected.expose_secret()) {
        state.dashboard.throttle.wrong(client, now);
        return login_refused(
            &state,
            client,
            StatusCode::UNAUTHORIZED,
            "wrong_token",
            "令牌不正确。",
        );
    }
    state.metrics.observe_dashboard("signed_in");
    tracing::info!(client = %client, "dashboard sign-in");
    let cookie = Cookie::build(COOKIE, sessions.issue(rand::random(), now))
        .path("/dashboard")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(req.connection_info().scheme() == "https")
        .max_age(CookieAge::seconds(SESSION_SECS))
        .finish();
    with_cookie(see_other("/dashboard/funnel"), &cookie)
}

fn with_cookie(mut response: HttpResponse, cookie: &Cookie<'_>) -> HttpResponse {
    if let Err(e) = response.add_cookie(cookie) {
        tracing::error!(error.message = %e, "the dashboard's cookie could not be set");
    }
    response
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

/// POST /dashboard/logout: the browser's cookie is cleared. The session's signature stays good
/// until it expires (sessions are not stored); a new `admin.token` ends every session.
async fn logout(
    req: HttpRequest,
    form: web::Form<CsrfForm>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    checked_post(&req, &state, &form.csrf)?;
    let mut cookie = Cookie::build(COOKIE, "")
        .path("/dashboard")
        .http_only(true)
        .finish();
    cookie.make_removal();
    Ok(with_cookie(see_other("/dashboard/login"), &cookie))
}

async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(pages::SCRIPT)
}
