//! The admin API (DESIGN §4): channel statistics, bindings and the activation queue, behind a
//! bearer token. JSON everywhere, CSV for statistics.

use actix_web::dev::Payload;
use actix_web::http::header::{ACCEPT, AUTHORIZATION};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use secrecy::ExposeSecret;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::error::{ErrorBody, HttpError};
use super::responses::{AccountReads, Reads};
use super::AdminState;
use crate::report;
use crate::store::bindings::{self, BindingView, PageCursor};
use crate::store::channel_day::{self, GroupBy, StatsQuery, StatsReport};
use crate::store::jobs::{self, JobState};

/// Proof that the request carries `Authorization: Bearer <admin.token>` (compared in constant time).
pub struct AdminAuth;

impl FromRequest for AdminAuth {
    type Error = HttpError;
    type Future = std::future::Ready<Result<Self, HttpError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(authorize(req))
    }
}

fn authorize(req: &HttpRequest) -> Result<AdminAuth, HttpError> {
    let state = req
        .app_data::<web::Data<AdminState>>()
        .ok_or(HttpError::Unauthorized("admin API is not configured"))?;
    let Some(expected) = &state.admin_token else {
        return Err(HttpError::Unauthorized(
            "admin.token is not configured: the admin API refuses every request",
        ));
    };
    let given = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
        .ok_or(HttpError::Unauthorized(
            "missing `Authorization: Bearer <admin.token>`",
        ))?;
    if same_token(given, expected.expose_secret()) {
        Ok(AdminAuth)
    } else {
        Err(HttpError::Unauthorized("wrong admin token"))
    }
}

/// Whether `given` is the admin token, compared in constant time.
pub fn same_token(given: &str, expected: &str) -> bool {
    given.len() == expected.len() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

/// The token of an `Authorization: Bearer <token>` value; the scheme is case-insensitive (RFC 7235).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim_start_matches(' '))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsParams {
    appid: Option<String>,
    card_id: Option<String>,
    /// The first day (the accounts' local day), on or before `to`.
    #[param(format = Date)]
    from: Option<String>,
    #[param(format = Date)]
    to: Option<String>,
    #[param(pattern = "^(channel|day)$")]
    by: Option<String>,
    /// `csv`, or `Accept: text/csv`, for CSV.
    #[param(pattern = "^(json|csv)$")]
    format: Option<String>,
}

fn parse_day(name: &'static str, value: Option<&str>) -> Result<Option<NaiveDate>, HttpError> {
    value
        .map(|v| {
            NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| HttpError::BadParam {
                name,
                reason: format!("must be a date YYYY-MM-DD, got {v:?}"),
            })
        })
        .transpose()
}

impl StatsParams {
    fn query(&self) -> Result<StatsQuery, HttpError> {
        let from = parse_day("from", self.from.as_deref())?;
        let to = parse_day("to", self.to.as_deref())?;
        if let (Some(f), Some(t)) = (from, to) {
            if f > t {
                return Err(HttpError::BadParam {
                    name: "from",
                    reason: format!("{f} is after `to` {t}"),
                });
            }
        }
        let by = match self.by.as_deref() {
            None | Some("channel") => GroupBy::Channel,
            Some("day") => GroupBy::Day,
            Some(other) => {
                return Err(HttpError::BadParam {
                    name: "by",
                    reason: format!("must be `channel` or `day`, got {other:?}"),
                })
            }
        };
        Ok(StatsQuery {
            appid: self.appid.clone(),
            card_id: self.card_id.clone(),
            from,
            to,
            by,
        })
    }

    fn wants_csv(&self, req: &HttpRequest) -> Result<bool, HttpError> {
        match self.format.as_deref() {
            Some("csv") => Ok(true),
            Some("json") => Ok(false),
            Some(other) => Err(HttpError::BadParam {
                name: "format",
                reason: format!("must be `json` or `csv`, got {other:?}"),
            }),
            None => Ok(req
                .headers()
                .get(ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("text/csv"))),
        }
    }
}

/// GET /api/v1/stats/channels — the same query as `cardhook stats`.
#[utoipa::path(get, path = "/api/v1/stats/channels", summary = "Channel funnel: the numbers of `cardhook stats`",
    params(StatsParams),
    responses(
        (status = 200, description = "rows and totals", content(
            (StatsReport = "application/json"), (String = "text/csv"))),
        AccountReads))]
pub async fn stats(
    _: AdminAuth,
    req: HttpRequest,
    params: web::Query<StatsParams>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    let query = params.query()?;
    let csv = params.wants_csv(&req)?;
    let report = channel_day::stats(&state.db, &query).await?;
    Ok(if csv {
        HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .body(report::stats_csv(&report, query.by) + "\n")
    } else {
        HttpResponse::Ok().json(report)
    })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AppIdParam {
    /// The account; optional when one account is configured (or one has an app_secret).
    pub appid: Option<String>,
}

/// GET /api/v1/cards/{card_id}/codes/{code}
#[utoipa::path(get, path = "/api/v1/cards/{card_id}/codes/{code}", summary = "Who holds a code",
    params(("card_id" = String, Path), ("code" = String, Path), AppIdParam),
    responses((status = 200, description = "the binding", body = BindingView),
        (status = 404, description = "no binding", body = ErrorBody), Reads))]
pub async fn binding(
    _: AdminAuth,
    path: web::Path<(String, String)>,
    params: web::Query<AppIdParam>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    let (card_id, code) = path.into_inner();
    let rows = bindings::by_code(&state.db, params.appid.as_deref(), &card_id, &code).await?;
    let mut rows = bindings::with_members(&state.db, rows).await?;
    match rows.len() {
        0 => Err(HttpError::Missing("binding")),
        1 => Ok(HttpResponse::Ok().json(rows.remove(0))),
        _ => Err(HttpError::BadParam {
            name: "appid",
            reason: "is required: several accounts hold this card code".to_owned(),
        }),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    appid: Option<String>,
    /// 1 to 500, default 50.
    #[param(minimum = 1, maximum = 500, default = 50)]
    limit: Option<u64>,
    /// The `next_cursor` of the page before.
    cursor: Option<String>,
}

/// One page of a user's codes, and the cursor of the next (null on the last).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct CodesPage {
    codes: Vec<BindingView>,
    #[schema(required = true)]
    next_cursor: Option<String>,
}

/// GET /api/v1/users/{openid}/codes — newest first, `limit` (1..=500, default 50) and `cursor`.
#[utoipa::path(get, path = "/api/v1/users/{openid}/codes", summary = "A user's codes, newest first, paginated",
    params(("openid" = String, Path), PageParams),
    responses((status = 200, description = "one page", body = CodesPage), AccountReads))]
pub async fn user_codes(
    _: AdminAuth,
    openid: web::Path<String>,
    params: web::Query<PageParams>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    let limit = params.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(HttpError::BadParam {
            name: "limit",
            reason: "must be between 1 and 500".to_owned(),
        });
    }
    let cursor = params
        .cursor
        .as_deref()
        .map(|c| {
            PageCursor::decode(c).ok_or(HttpError::BadParam {
                name: "cursor",
                reason: "is not a cursor this API returned".to_owned(),
            })
        })
        .transpose()?;
    let (codes, next) = bindings::by_openid_page(
        &state.db,
        params.appid.as_deref(),
        &openid,
        limit,
        cursor.as_ref(),
    )
    .await?;
    let codes = bindings::with_members(&state.db, codes).await?;
    // Serialized as it is (not through `json!`, whose numbers are f64): an outer_id beyond 64 bits keeps its digits.
    Ok(HttpResponse::Ok().json(CodesPage {
        codes,
        next_cursor: next.map(|c| c.encode()),
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobParams {
    #[param(pattern = "^(pending|running|done|dead)$")]
    state: Option<String>,
    /// At most 1000 are returned, whatever a larger limit asks (default 100).
    #[param(default = 100, maximum = 18_446_744_073_709_551_615_u64)]
    limit: Option<u64>,
}

/// Jobs, newest first.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Jobs {
    jobs: Vec<entity::job::Model>,
}

/// GET /api/v1/jobs?state=
#[utoipa::path(get, path = "/api/v1/jobs", summary = "Activation jobs, newest first (mirrors `cardhook jobs list`)",
    params(JobParams), responses((status = 200, description = "jobs", body = Jobs), Reads))]
pub async fn job_list(
    _: AdminAuth,
    params: web::Query<JobParams>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    let job_state = params
        .state
        .as_deref()
        .map(|text| {
            // The same names as `cardhook jobs list --state`.
            <JobState as clap::ValueEnum>::from_str(text, false).map_err(|_| HttpError::BadParam {
                name: "state",
                reason: format!("must be pending, running, done or dead, got {text:?}"),
            })
        })
        .transpose()?;
    let rows = jobs::list(&state.db, job_state, params.limit.unwrap_or(100).min(1000)).await?;
    Ok(HttpResponse::Ok().json(Jobs { jobs: rows }))
}

/// POST /api/v1/jobs/{id}/retry — requeue a dead job.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/retry", summary = "Requeue a dead job (mirrors `cardhook jobs retry`)",
    params(("id" = i64, Path)),
    responses((status = 200, description = "the requeued job", body = entity::job::Model),
        (status = 404, description = "no such job", body = ErrorBody),
        (status = 409, description = "the job is not dead", body = ErrorBody), Reads))]
pub async fn job_retry(
    _: AdminAuth,
    id: web::Path<i64>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    let id = id.into_inner();
    let job = match jobs::get(&state.db, id).await {
        Ok(job) => job,
        Err(crate::store::StoreError::NotFound) => return Err(HttpError::Missing("job")),
        Err(e) => return Err(e.into()),
    };
    if job.state != JobState::Dead.as_str() {
        return Err(HttpError::Conflict("only dead jobs can be retried"));
    }
    jobs::revive(&state.db, Some(id), state.clock.now()).await?;
    let job = jobs::get(&state.db, id).await?;
    state.wake_worker.notify_one();
    Ok(HttpResponse::Ok().json(job))
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for value in ["Bearer t0k", "bearer t0k", "BEARER t0k", "Bearer  t0k"] {
            assert_eq!(bearer_token(value), Some("t0k"), "{value}");
        }
        for value in ["Basic t0k", "Bearert0k", "t0k", ""] {
            assert_eq!(bearer_token(value), None, "{value}");
        }
    }
}
