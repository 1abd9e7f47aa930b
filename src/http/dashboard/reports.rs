//! The funnel and members pages, and the funnel's CSV: each reads through `store/` what its
//! period and filter ask for, and renders it.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::params::{day_start, today, Asked, PageParams};
use super::{frame, html, pages, see_other, signed_in, unavailable, Section};
use crate::http::error::HttpError;
use crate::http::AdminState;
use crate::report;
use crate::store::channel::ChannelNames;
use crate::store::channel_day::{self, GroupBy};
use crate::store::{members, StoreError};

/// A signed-in request for a page with a period: its session and what it asks; a redirect to
/// the sign-in, or a page saying which parameter is wrong, else.
fn asked(req: &HttpRequest, state: &AdminState) -> Result<(super::Session, Asked), Denied> {
    let session = signed_in(req, state).ok_or(Denied::SignedOut)?;
    let asked = PageParams::parse(req.query_string())
        .and_then(|p| p.read(today(state.clock.now(), state.dashboard.offset)))
        .map_err(|reason| Denied::Bad(bad_params(state, &reason)))?;
    Ok((session, asked))
}

/// Why a page with a period is not shown.
enum Denied {
    SignedOut,
    Bad(HttpError),
}

impl Denied {
    fn answer(self) -> Result<HttpResponse, HttpError> {
        match self {
            Self::SignedOut => Ok(see_other("/dashboard/login")),
            Self::Bad(error) => Err(error),
        }
    }
}

fn bad_params(state: &AdminState, reason: &str) -> HttpError {
    tracing::warn!(reason, "dashboard page refused its parameters");
    super::refusal(
        state,
        StatusCode::BAD_REQUEST,
        "bad_params",
        &format!("参数有误：{reason}"),
    )
}

fn accounts(state: &AdminState) -> Vec<String> {
    state.accounts.iter().map(|a| a.appid.to_string()).collect()
}

/// GET /dashboard/funnel
pub async fn funnel_page(
    req: HttpRequest,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    let (
        session,
        Asked {
            period,
            filter,
            query,
        },
    ) = match asked(&req, &state) {
        Ok(asked) => asked,
        Err(denied) => return denied.answer(),
    };
    let read = async {
        let rows = channel_day::rows(&state.db, &query).await?;
        let names = ChannelNames::load(&state.db, query.appid.as_deref()).await?;
        Ok::<_, StoreError>(super::funnel::funnel(&rows, &period, |k| {
            names.name(&k.appid, &k.card_id, &k.outer_id, &k.outer_str)
        }))
    };
    let funnel = read.await.map_err(|e| unavailable(&state, "funnel", &e))?;
    let frame = frame(&state, &session, Section::Funnel);
    let page = pages::funnel(&frame, &filter, &period, &accounts(&state), &funnel);
    Ok(html(StatusCode::OK, page))
}

/// GET /dashboard/funnel.csv: `cardhook stats --format csv` of the same period, account and card.
pub async fn funnel_csv(
    req: HttpRequest,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    let (_, Asked { period, query, .. }) = match asked(&req, &state) {
        Ok(asked) => asked,
        Err(denied) => return denied.answer(),
    };
    let stats = channel_day::stats(&state.db, &query)
        .await
        .map_err(|e| unavailable(&state, "funnel.csv", &e))?;
    let name = format!("cardhook-funnel-{}-{}.csv", period.from, period.to);
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ))
        .body(report::stats_csv(&stats, GroupBy::Channel) + "\n"))
}

/// GET /dashboard/members: members are an account's, not a card's (the card filter is not offered).
pub async fn members_page(
    req: HttpRequest,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    let (
        session,
        Asked {
            period,
            mut filter,
            mut query,
        },
    ) = match asked(&req, &state) {
        Ok(asked) => asked,
        Err(denied) => return denied.answer(),
    };
    (filter.card_id, query.card_id) = (None, None);
    let appids: Vec<String> = match &filter.appid {
        Some(appid) => vec![appid.clone()],
        None => accounts(&state),
    };
    let days = period.days();
    let start = day_start(period.from, state.dashboard.offset);
    // Two reads at a time, each on a connection of the pool (no more: it serves the writes too).
    let read = async {
        let mut overview = members::MembersOverview::default();
        let mut imported = vec![0; days.len()];
        for appid in &appids {
            let one = members::overview(&state.db, appid).await?;
            overview.members += one.members;
            overview.bound += one.bound;
            overview.in_sync += one.in_sync;
            overview.drifted += one.drifted;
        }
        let imports = async {
            for appid in &appids {
                let by_day = members::imported_by_day(&state.db, appid, start, days.len()).await?;
                for (sum, n) in imported.iter_mut().zip(by_day) {
                    *sum += n;
                }
            }
            Ok::<_, StoreError>(())
        };
        let ((), rows) = futures_util::try_join!(imports, channel_day::rows(&state.db, &query))?;
        Ok::<_, StoreError>((overview, imported, rows))
    };
    let (overview, imported, rows) = read.await.map_err(|e| unavailable(&state, "members", &e))?;
    let days = days
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
    let frame = frame(&state, &session, Section::Members);
    let page = pages::members(&frame, &filter, &period, &accounts(&state), &view);
    Ok(html(StatusCode::OK, page))
}
