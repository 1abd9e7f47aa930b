//! The admin API's members (DESIGN §4): `GET` and `PUT /api/v1/members/{member_no}`, and
//! `POST /api/v1/members/import` (a `text/csv` body; the same report as `cardhook members import`).

use actix_web::{web, HttpResponse};

use super::admin::{AdminAuth, AppIdParam};
use super::error::HttpError;
use super::AdminState;
use crate::members;
use crate::members::sync::{self, NewValues};
use crate::store::members as stored;

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
pub async fn update(
    _: AdminAuth,
    member_no: web::Path<String>,
    params: web::Query<AppIdParam>,
    body: web::Bytes,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    let appid = account(&state, params.appid.as_deref())?;
    // The error names the field at fault (`bonus: invalid type: string "ten", expected i64`).
    let values: NewValues =
        serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(&body))
            .map_err(|e| HttpError::BadParam {
                name: "body",
                reason: e.to_string(),
            })?;
    let member = sync::set_values(&state.db, &appid, &member_no, values, state.clock.now()).await?;
    state.wake_worker.notify_one();
    tracing::info!(appid, "member points and balance set");
    Ok(HttpResponse::Accepted().json(stored::MemberView::from(member)))
}
