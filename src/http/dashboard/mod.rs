//! The operator's dashboard on the admin listener (`GET /dashboard`): a sign-in with the admin
//! token that sets a session cookie, then the funnel by channel, the members, and the health of
//! the queue, the webhooks and the database. Read-only but for a dead job's retry; every form
//! carries a CSRF token and a cross-site POST is refused. The handlers read and render; the
//! figures are `funnel`'s, the charts `svg`'s, the pages `pages`'s, the cookie `session`'s.

pub mod funnel;
pub mod pages;
pub mod session;
pub mod svg;

use actix_web::cookie::{time::Duration as CookieAge, Cookie, SameSite};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, FixedOffset, NaiveDate};
use sea_orm::ConnectionTrait;
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::AdminState;
use crate::client_address::TrustedProxies;
use crate::report;
use crate::store::channel::ChannelNames;
use crate::store::channel_day::{self, GroupBy, StatsQuery};
use crate::store::jobs::{self, JobState};
use crate::store::{events, members, StoreError};
use funnel::Period;
use pages::{Filter, Frame, Section};
use session::{Session, SessionStore, SignInThrottle, COOKIE, SESSION_SECS};

/// What the dashboard keeps: the session signer (none without `admin.token`), the bound on
/// wrong tokens, and whom to believe about a client's address.
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
        .route("/dashboard/funnel", web::get().to(funnel_page))
        .route("/dashboard/funnel.csv", web::get().to(funnel_csv))
        .route("/dashboard/members", web::get().to(members_page))
        .route("/dashboard/health", web::get().to(health_page))
        .route("/dashboard/jobs/{id}/retry", web::post().to(retry));
}

/// The headers of every page: not cached, not framed, scripts from the binary only. The referrer
/// policy lets the browser name the page's own origin on its forms' POSTs (`no-referrer` would
/// make it `Origin: null`, which [`same_origin`] refuses) and nothing to other sites.
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

/// A page that could not be read: logged, and said so (never the error's text, which may name
/// the database).
fn unavailable(page: &str, e: &StoreError) -> HttpResponse {
    tracing::error!(page, error.message = %e, "dashboard page unavailable");
    html(
        StatusCode::SERVICE_UNAVAILABLE,
        pages::login(Some("数据库暂时无法读取，请稍后刷新。")),
    )
}

/// The session the request's cookie carries, if it is good.
fn signed_in(req: &HttpRequest, state: &AdminState) -> Option<Session> {
    let sessions = state.dashboard.sessions.as_ref()?;
    let cookie = req.cookie(COOKIE)?;
    sessions.check(cookie.value(), state.clock.now())
}

/// Whether a POST comes from the dashboard's own pages: a browser says where a request comes
/// from (`Sec-Fetch-Site`, `Origin`); a request that says nothing is not a browser's.
fn same_origin(req: &HttpRequest) -> bool {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = header("sec-fetch-site") {
        if site != "same-origin" && site != "none" {
            return false;
        }
    }
    match header("origin") {
        None => true,
        Some(origin) => {
            let info = req.connection_info();
            origin == format!("{}://{}", info.scheme(), info.host())
        }
    }
}

fn refused(
    state: &AdminState,
    outcome: &'static str,
    status: StatusCode,
    message: &str,
) -> HttpResponse {
    state.metrics.observe_page("dashboard", outcome);
    tracing::warn!(
        outcome,
        status = status.as_u16(),
        "dashboard request refused"
    );
    html(status, pages::login(Some(message)))
}

/// GET /dashboard: the funnel (signed in) or the sign-in.
async fn home(req: HttpRequest, state: web::Data<AdminState>) -> HttpResponse {
    match signed_in(&req, &state) {
        Some(_) => see_other("/dashboard/funnel"),
        None => see_other("/dashboard/login"),
    }
}

async fn login_form(state: web::Data<AdminState>) -> HttpResponse {
    match state.dashboard.sessions {
        Some(_) => html(StatusCode::OK, pages::login(None)),
        None => html(
            StatusCode::UNAUTHORIZED,
            pages::login(Some("admin.token 未配置：控制台不可用。")),
        ),
    }
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    token: String,
}

/// POST /dashboard/login: the admin token in the form's body (never in a URL) sets the cookie.
async fn login(
    req: HttpRequest,
    form: web::Form<LoginForm>,
    state: web::Data<AdminState>,
) -> HttpResponse {
    if !same_origin(&req) {
        return refused(
            &state,
            "cross_site",
            StatusCode::FORBIDDEN,
            "拒绝跨站请求。",
        );
    }
    let Some(sessions) = &state.dashboard.sessions else {
        return refused(
            &state,
            "no_token",
            StatusCode::UNAUTHORIZED,
            "admin.token 未配置：控制台不可用。",
        );
    };
    let now = state.clock.now();
    let client = state.dashboard.proxies.of(&req);
    if !state.dashboard.throttle.allows(client, now) {
        return refused(
            &state,
            "throttled",
            StatusCode::TOO_MANY_REQUESTS,
            "错误次数过多，请 5 分钟后再试。",
        );
    }
    let expected = state.admin_token.as_ref().map(|t| t.expose_secret());
    if !expected.is_some_and(|expected| super::admin::same_token(&form.token, expected)) {
        state.dashboard.throttle.wrong(client, now);
        return refused(
            &state,
            "wrong_token",
            StatusCode::UNAUTHORIZED,
            "令牌不正确。",
        );
    }
    state.metrics.observe_page("dashboard", "signed_in");
    tracing::info!(client = %client, "dashboard sign-in");
    let cookie = Cookie::build(COOKIE, sessions.issue(rand::random(), now))
        .path("/dashboard")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(req.connection_info().scheme() == "https")
        .max_age(CookieAge::seconds(SESSION_SECS))
        .finish();
    let mut response = see_other("/dashboard/funnel");
    if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

#[derive(Debug, Deserialize)]
struct CsrfForm {
    csrf: String,
}

/// Why a POST was refused.
#[derive(Debug, Clone, Copy)]
enum PostRefusal {
    CrossSite,
    SignedOut,
    BadCsrf,
}

impl PostRefusal {
    fn page(self, state: &AdminState) -> HttpResponse {
        match self {
            Self::CrossSite => {
                refused(state, "cross_site", StatusCode::FORBIDDEN, "拒绝跨站请求。")
            }
            Self::SignedOut => refused(state, "signed_out", StatusCode::UNAUTHORIZED, "请先登录。"),
            Self::BadCsrf => refused(
                state,
                "bad_csrf",
                StatusCode::FORBIDDEN,
                "表单已失效，请刷新页面后重试。",
            ),
        }
    }
}

/// The session of a POST from the dashboard's own page with its CSRF token.
fn checked_post(req: &HttpRequest, state: &AdminState, csrf: &str) -> Result<Session, PostRefusal> {
    if !same_origin(req) {
        return Err(PostRefusal::CrossSite);
    }
    let session = signed_in(req, state).ok_or(PostRefusal::SignedOut)?;
    let good = state
        .dashboard
        .sessions
        .as_ref()
        .is_some_and(|s| s.csrf_ok(&session, csrf));
    if !good {
        return Err(PostRefusal::BadCsrf);
    }
    Ok(session)
}

/// POST /dashboard/logout: the cookie is cleared.
async fn logout(
    req: HttpRequest,
    form: web::Form<CsrfForm>,
    state: web::Data<AdminState>,
) -> HttpResponse {
    if let Err(refusal) = checked_post(&req, &state, &form.csrf) {
        return refusal.page(&state);
    }
    let mut cookie = Cookie::build(COOKIE, "")
        .path("/dashboard")
        .http_only(true)
        .finish();
    cookie.make_removal();
    let mut response = see_other("/dashboard/login");
    if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(pages::SCRIPT)
}

/// A page's period and filter, as its query names them.
#[derive(Debug, Default, Deserialize)]
struct PageParams {
    period: Option<String>,
    from: Option<String>,
    to: Option<String>,
    appid: Option<String>,
    card_id: Option<String>,
}

/// The longest card_id a filter takes (WeChat's are 28 characters).
const CARD_ID_MAX: usize = 64;

impl PageParams {
    fn read(&self, today: NaiveDate) -> Result<(Period, Filter), String> {
        let given = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let (period, days) = match (given(&self.from), given(&self.to)) {
            (Some(from), Some(to)) => (Period::between(&from, &to)?, None),
            (None, None) => {
                let days = match given(&self.period).as_deref() {
                    None | Some("7") => 7,
                    Some("30") => 30,
                    Some("90") => 90,
                    Some(_) => return Err("period must be 7, 30 or 90".to_owned()),
                };
                (Period::last(days, today), Some(days))
            }
            _ => return Err("from and to go together".to_owned()),
        };
        let card_id = given(&self.card_id);
        if card_id.as_ref().is_some_and(|c| c.len() > CARD_ID_MAX) {
            return Err(format!("card_id is at most {CARD_ID_MAX} characters"));
        }
        let filter = Filter {
            appid: given(&self.appid),
            card_id,
            days,
        };
        Ok((period, filter))
    }

    fn query(&self, today: NaiveDate) -> Result<(Period, Filter, StatsQuery), String> {
        let (period, filter) = self.read(today)?;
        let query = StatsQuery {
            appid: filter.appid.clone(),
            card_id: filter.card_id.clone(),
            from: Some(period.from),
            to: Some(period.to),
            by: GroupBy::Channel,
        };
        Ok((period, filter, query))
    }
}

fn today(state: &AdminState) -> NaiveDate {
    DateTime::from_timestamp(state.clock.now(), 0)
        .unwrap_or_default()
        .with_timezone(&state.dashboard.offset)
        .date_naive()
}

fn bad_params(state: &AdminState, reason: &str) -> HttpResponse {
    state.metrics.observe_page("dashboard", "bad_params");
    tracing::warn!(reason, "dashboard page refused its parameters");
    html(
        StatusCode::BAD_REQUEST,
        pages::login(Some(&format!("参数有误：{reason}"))),
    )
}

fn accounts(state: &AdminState) -> Vec<String> {
    state.accounts.iter().map(|a| a.appid.to_string()).collect()
}

fn frame<'a>(
    state: &AdminState,
    session: &Session,
    section: Section,
    csrf: &'a mut String,
) -> Frame<'a> {
    if let Some(sessions) = &state.dashboard.sessions {
        *csrf = sessions.csrf(session);
    }
    Frame { section, csrf }
}

/// Why a page with a period is not shown.
enum Denied {
    SignedOut,
    BadParams(String),
}

impl Denied {
    fn answer(self, state: &AdminState) -> HttpResponse {
        match self {
            Self::SignedOut => see_other("/dashboard/login"),
            Self::BadParams(reason) => bad_params(state, &reason),
        }
    }
}

/// A signed-in request for a page with a period: its session, period, filter and query.
fn page_request(
    req: &HttpRequest,
    state: &AdminState,
    params: &PageParams,
) -> Result<(Session, Period, Filter, StatsQuery), Denied> {
    let session = signed_in(req, state).ok_or(Denied::SignedOut)?;
    let (period, filter, query) = params.query(today(state)).map_err(Denied::BadParams)?;
    Ok((session, period, filter, query))
}

/// GET /dashboard/funnel
async fn funnel_page(
    req: HttpRequest,
    params: web::Query<PageParams>,
    state: web::Data<AdminState>,
) -> HttpResponse {
    let (session, period, filter, query) = match page_request(&req, &state, &params) {
        Ok(asked) => asked,
        Err(denied) => return denied.answer(&state),
    };
    let read = async {
        let rows = channel_day::rows(&state.db, &query).await?;
        let names = ChannelNames::load(&state.db, query.appid.as_deref()).await?;
        Ok::<_, StoreError>(funnel::funnel(&rows, &period, |k| {
            names.name(&k.appid, &k.card_id, &k.outer_id, &k.outer_str)
        }))
    };
    match read.await {
        Ok(f) => {
            let mut csrf = String::new();
            let frame = frame(&state, &session, Section::Funnel, &mut csrf);
            html(
                StatusCode::OK,
                pages::funnel(&frame, &filter, &period, &accounts(&state), &f),
            )
        }
        Err(e) => unavailable("funnel", &e),
    }
}

/// GET /dashboard/funnel.csv: `cardhook stats --format csv` of the same period, account and card.
async fn funnel_csv(
    req: HttpRequest,
    params: web::Query<PageParams>,
    state: web::Data<AdminState>,
) -> HttpResponse {
    let (_, period, _, query) = match page_request(&req, &state, &params) {
        Ok(asked) => asked,
        Err(denied) => return denied.answer(&state),
    };
    match channel_day::stats(&state.db, &query).await {
        Ok(stats) => HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header(("Cache-Control", "no-store"))
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"cardhook-funnel-{}-{}.csv\"",
                    period.from, period.to
                ),
            ))
            .body(report::stats_csv(&stats, GroupBy::Channel) + "\n"),
        Err(e) => unavailable("funnel.csv", &e),
    }
}

/// The `[start, end)` of each day of `period` in `offset`, unix seconds.
fn day_spans(period: &Period, offset: FixedOffset) -> Vec<(i64, i64)> {
    let start = |day: NaiveDate| {
        day.and_hms_opt(0, 0, 0)
            .and_then(|t| t.and_local_timezone(offset).single())
            .map_or(0, |t| t.timestamp())
    };
    period
        .from
        .iter_days()
        .take_while(|d| *d <= period.to)
        .map(|d| (start(d), start(d.succ_opt().unwrap_or(d))))
        .collect()
}

/// GET /dashboard/members
async fn members_page(
    req: HttpRequest,
    params: web::Query<PageParams>,
    state: web::Data<AdminState>,
) -> HttpResponse {
    let (session, period, filter, query) = match page_request(&req, &state, &params) {
        Ok(asked) => asked,
        Err(denied) => return denied.answer(&state),
    };
    let read = async {
        let overview = members::overview(&state.db, query.appid.as_deref()).await?;
        let spans = day_spans(&period, state.dashboard.offset);
        let imported = members::imported_in(&state.db, query.appid.as_deref(), &spans).await?;
        let rows = channel_day::rows(&state.db, &query).await?;
        Ok::<_, StoreError>((overview, imported, rows))
    };
    let (overview, imported, rows) = match read.await {
        Ok(read) => read,
        Err(e) => return unavailable("members", &e),
    };
    let days = period
        .days()
        .into_iter()
        .zip(imported)
        .map(|(day, imported)| {
            let bound = rows.iter().filter(|r| r.day == day).map(|r| r.bound).sum();
            (day, imported, bound)
        })
        .collect();
    let view = pages::MembersView {
        members: overview.members,
        bound: overview.bound,
        in_sync: overview.in_sync,
        drifted: overview.drifted,
        days,
    };
    let mut csrf = String::new();
    let frame = frame(&state, &session, Section::Members, &mut csrf);
    html(
        StatusCode::OK,
        pages::members(&frame, &filter, &period, &accounts(&state), &view),
    )
}

#[derive(Debug, Default, Deserialize)]
struct HealthParams {
    retried: Option<i64>,
    not_dead: Option<i64>,
    missing: Option<i64>,
}

/// Dead jobs the health page lists.
const DEAD_SHOWN: u64 = 50;
/// Pushes the health page lists.
const PUSHES_SHOWN: u64 = 20;

fn local_time(ts: i64, offset: FixedOffset) -> String {
    DateTime::from_timestamp(ts, 0)
        .map(|t| {
            t.with_timezone(&offset)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
}

fn waited(seconds: i64) -> String {
    match seconds.max(0) {
        s if s < 120 => format!("{s} 秒"),
        s if s < 7200 => format!("{} 分钟", s / 60),
        s if s < 172_800 => format!("{} 小时", s / 3600),
        s => format!("{} 天", s / 86_400),
    }
}

fn bytes(n: u64) -> String {
    match n {
        n if n < 1 << 10 => format!("{n} B"),
        n if n < 1 << 20 => format!("{:.1} KiB", n as f64 / 1024.0),
        n if n < 1 << 30 => format!("{:.1} MiB", n as f64 / 1048576.0),
        n => format!("{:.2} GiB", n as f64 / 1073741824.0),
    }
}

/// The database's size: the SQLite file and its WAL, or PostgreSQL's own figure.
async fn database_lines(state: &AdminState) -> Result<Vec<(String, String)>, StoreError> {
    if let Some(file) = &state.database_file {
        let size = |path: &std::path::Path| std::fs::metadata(path).map_or(0, |m| m.len());
        let mut wal = file.path().as_os_str().to_owned();
        wal.push("-wal");
        return Ok(vec![
            ("数据库".to_owned(), "SQLite".to_owned()),
            ("数据库文件".to_owned(), bytes(size(file.path()))),
            ("WAL".to_owned(), bytes(size(std::path::Path::new(&wal)))),
        ]);
    }
    let conn = state.db.connection();
    let statement = sea_orm::Statement::from_string(
        conn.get_database_backend(),
        "SELECT CAST(pg_database_size(current_database()) AS BIGINT) AS size",
    );
    let size = match conn.query_one_raw(statement).await? {
        Some(row) => row.try_get::<i64>("", "size")?,
        None => 0,
    };
    Ok(vec![
        ("数据库".to_owned(), "PostgreSQL".to_owned()),
        (
            "数据库大小".to_owned(),
            bytes(u64::try_from(size).unwrap_or(0)),
        ),
    ])
}

/// GET /dashboard/health
async fn health_page(
    req: HttpRequest,
    params: web::Query<HealthParams>,
    state: web::Data<AdminState>,
) -> HttpResponse {
    let Some(session) = signed_in(&req, &state) else {
        return see_other("/dashboard/login");
    };
    let now = state.clock.now();
    let offset = state.dashboard.offset;
    let read = async {
        let queue = jobs::health(&state.db, DEAD_SHOWN).await?;
        let webhooks = crate::webhooks::views(&state.db, &state.webhooks).await?;
        let database = database_lines(&state).await?;
        let pushes = events::latest(&state.db, PUSHES_SHOWN).await?;
        Ok::<_, StoreError>((queue, webhooks, database, pushes))
    };
    let (queue, webhooks, database, pushes) = match read.await {
        Ok(read) => read,
        Err(e) => return unavailable("health", &e),
    };
    let mut lines: Vec<pages::QueueLine> = Vec::new();
    for (kind, job_state, n) in queue.by_kind {
        if lines.last().is_none_or(|l| l.0 != kind) {
            lines.push((kind, 0, 0, 0));
        }
        if let Some(line) = lines.last_mut() {
            match job_state.as_str() {
                "pending" => line.1 = n,
                "running" => line.2 = n,
                _ => line.3 = n,
            }
        }
    }
    let notice = match (params.retried, params.not_dead, params.missing) {
        (Some(id), _, _) => Some((true, format!("任务 {id} 已重新排队。"))),
        (_, Some(id), _) => Some((false, format!("任务 {id} 不是失败状态，未重试。"))),
        (_, _, Some(id)) => Some((false, format!("没有任务 {id}。"))),
        _ => None,
    };
    let view = pages::HealthView {
        queue: lines,
        oldest_wait: queue.oldest_due.map(|due| waited(now - due)),
        dead: queue
            .dead
            .into_iter()
            .map(|j| pages::DeadJob {
                id: j.id,
                kind: j.kind,
                attempts: j.attempts,
                last_error: j.last_error.unwrap_or_default(),
                updated: local_time(j.updated_at, offset),
            })
            .collect(),
        webhooks: webhooks
            .into_iter()
            .map(|w| pages::WebhookLine {
                name: w.name,
                state: serde_json::to_value(w.state)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                lag: w.lag,
                last_error: w.last_error,
            })
            .collect(),
        database,
        pushes: pushes
            .into_iter()
            .map(|p| pages::PushLine {
                received: local_time(p.received_at, offset),
                appid: p.appid,
                event: p.event.unwrap_or(p.msg_type),
                card_id: p.card_id.unwrap_or_default(),
                unparsed: p.unparsed.is_some(),
            })
            .collect(),
        notice,
    };
    let mut csrf = String::new();
    let frame = frame(&state, &session, Section::Health, &mut csrf);
    html(StatusCode::OK, pages::health(&frame, &view))
}

/// POST /dashboard/jobs/{id}/retry: a dead job queued again (the page asked for confirmation).
async fn retry(
    req: HttpRequest,
    id: web::Path<i64>,
    form: web::Form<CsrfForm>,
    state: web::Data<AdminState>,
) -> HttpResponse {
    if let Err(refusal) = checked_post(&req, &state, &form.csrf) {
        return refusal.page(&state);
    }
    let id = id.into_inner();
    let job = match jobs::get(&state.db, id).await {
        Ok(job) => job,
        Err(StoreError::NotFound) => return see_other(&format!("/dashboard/health?missing={id}")),
        Err(e) => return unavailable("retry", &e),
    };
    if job.state != JobState::Dead.as_str() {
        return see_other(&format!("/dashboard/health?not_dead={id}"));
    }
    if let Err(e) = jobs::revive(&state.db, Some(id), state.clock.now()).await {
        return unavailable("retry", &e);
    }
    state.wake_worker.notify_one();
    state.metrics.observe_page("dashboard", "job_retried");
    tracing::info!(job = id, kind = %job.kind, "dead job retried from the dashboard");
    see_other(&format!("/dashboard/health?retried={id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_reads_its_period_and_filter_or_says_what_is_wrong() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
        let params = |period: Option<&str>, from: Option<&str>, to: Option<&str>| PageParams {
            period: period.map(str::to_owned),
            from: from.map(str::to_owned),
            to: to.map(str::to_owned),
            appid: Some(" ".to_owned()),
            card_id: None,
        };
        let (p, f) = params(None, None, None).read(today).unwrap();
        assert_eq!(
            (p.from.to_string(), f.days, f.appid),
            ("2026-12-01".to_owned(), Some(7), None)
        );
        let (p, f) = params(Some("30"), None, None).read(today).unwrap();
        assert_eq!(
            (p.from.to_string(), f.days),
            ("2026-11-08".to_owned(), Some(30))
        );
        let (p, f) = params(Some("7"), Some("2026-01-01"), Some("2026-01-31"))
            .read(today)
            .unwrap();
        assert_eq!((p.days().len(), f.days), (31, None));
        assert!(params(Some("8"), None, None).read(today).is_err());
        assert!(params(None, Some("2026-01-01"), None).read(today).is_err());
        let long = PageParams {
            card_id: Some("p".repeat(65)),
            ..PageParams::default()
        };
        assert!(long.read(today).is_err());
    }

    #[test]
    fn days_are_cut_at_local_midnight() {
        let offset = FixedOffset::east_opt(8 * 3600).unwrap();
        let period = Period::between("2026-12-01", "2026-12-02").unwrap();
        // 2026-12-01 00:00 +08:00 is 2026-11-30 16:00 UTC.
        assert_eq!(
            day_spans(&period, offset),
            [
                (1_796_054_400, 1_796_140_800),
                (1_796_140_800, 1_796_227_200)
            ]
        );
        assert_eq!(
            (waited(59), waited(3600), waited(90_000), waited(200_000)),
            (
                "59 秒".into(),
                "60 分钟".into(),
                "25 小时".into(),
                "2 天".into()
            )
        );
    }
}
