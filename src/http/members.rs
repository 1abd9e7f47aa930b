//! The admin API's members (DESIGN §4): `GET` and `PUT /api/v1/members/{member_no}`, and
//! `POST /api/v1/members/import` (a `text/csv` body; the same report as `cardhook members import`).

use actix_web::{web, HttpResponse};

use super::admin::{AdminAuth, AppIdParam};
use super::error::{ErrorBody, HttpError};
use super::json_body;
use super::responses::{AccountReads, Reads};
use super::AdminState;
use crate::members;
use crate::members::import::ImportReport;
use crate::members::sync::{self, NewValues};
use crate::store::members as stored;
use crate::store::members::MemberView;

/// The account a request is for: `?appid`, or the one configured.
fn account(state: &AdminState, named: Option<&str>) -> Result<String, HttpError> {
    match named {
        Some(appid) if state.accounts.get(appid).is_some() => Ok(appid.to_owned()),
        Some(_) => Err(HttpError::UnknownAccount),
        None => state
            .accounts
            .single()
            .map(|a| a.appid.as_str().to_owned())
            .ok_or(HttpError::BadParam {
                name: "appid",
                reason: "is required: several accounts are configured".to_owned(),
            }),
    }
}

/// GET /api/v1/members/{member_no}[?appid]
#[utoipa::path(get, path = "/api/v1/members/{member_no}", summary = "A member, and the card bound to it",
    params(("member_no" = String, Path), AppIdParam),
    responses((status = 200, description = "the member", body = MemberView),
        (status = 404, description = "no such member, or no account for appid", body = ErrorBody), Reads))]
pub async fn show(
    _: AdminAuth,
    member_no: web::Path<String>,
    params: web::Query<AppIdParam>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    let appid = account(&state, params.appid.as_deref())?;
    let member = stored::get(&state.db, &appid, &member_no)
        .await?
        .ok_or(HttpError::Missing("member"))?;
    Ok(HttpResponse::Ok().json(stored::MemberView::from(member)))
}

/// POST /api/v1/members/import[?appid] with a `text/csv` body: 200 with the report, also when lines
/// were rejected (they are listed); 400 when the file as a whole cannot be read.
#[utoipa::path(post, path = "/api/v1/members/import",
    summary = "Import members from a CSV (header: member_no, phone, and optionally name, bonus, balance, level)",
    params(AppIdParam), request_body(content = String, content_type = "text/csv"),
    responses((status = 200, description = "what happened to each line (rejected lines listed; the others imported in one transaction)", body = ImportReport),
        AccountReads))]
pub async fn import(
    _: AdminAuth,
    params: web::Query<AppIdParam>,
    csv: web::Bytes,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    let appid = account(&state, params.appid.as_deref())?;
    let report = members::import(
        &state.db,
        &appid,
        &csv,
        state.tagging,
        state.clock.now(),
        &|_, _| {},
    )
    .await?;
    if report.syncs_queued + report.tags_queued > 0 {
        state.wake_worker.notify_one();
    }
    Ok(HttpResponse::Ok().json(report))
}

/// PUT /api/v1/members/{member_no}[?appid] with `{"bonus"?, "balance"?, "record_bonus"?,
/// "record_balance"?}`: sets the member's absolute points and balance (in fen) and queues their sync
/// to WeChat; 202 with the member.
#[utoipa::path(put, path = "/api/v1/members/{member_no}",
    summary = "Set a member's points and balance; when its card is activated, queue their sync to WeChat",
    params(("member_no" = String, Path), AppIdParam), request_body = NewValues,
    responses((status = 202, description = "stored; the member as it now is (synced turns true once WeChat confirms)", body = MemberView),
        (status = 404, description = "no such member, or no account for appid", body = ErrorBody), Reads))]
pub async fn update(
    _: AdminAuth,
    member_no: web::Path<String>,
    params: web::Query<AppIdParam>,
    body: web::Bytes,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    let appid = account(&state, params.appid.as_deref())?;
    // Any Content-Type, as it always took. A field at fault is named (`bonus: invalid type: string
    // "ten", expected i64`).
    let text = std::str::from_utf8(&body).map_err(|e| HttpError::BadParam {
        name: "body",
        reason: format!("is not UTF-8: {e}"),
    })?;
    let values: NewValues = json_body::read(text)?;
    let member = sync::set_values(&state.db, &appid, &member_no, values, state.clock.now()).await?;
    state.wake_worker.notify_one();
    tracing::info!(appid, "member points and balance set");
    Ok(HttpResponse::Accepted().json(stored::MemberView::from(member)))
}
