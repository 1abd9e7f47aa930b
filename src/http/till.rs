//! The admin API at the till (issue 34): check a code, consume it once per idempotency key. Each
//! handler hands its JSON to the same `Distribution::till` as the CLI.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::admin::AdminAuth;
use super::error::HttpError;
use super::AdminState;
use crate::distribution::till::ConsumeOrder;

/// POST /api/v1/codes/consume's body (DESIGN §4; `appid` and `encrypted` optional).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumeBody {
    code: String,
    #[serde(default)]
    card_id: Option<String>,
    idempotency_key: String,
    #[serde(default)]
    appid: Option<String>,
    #[serde(default)]
    encrypted: bool,
}

/// POST /api/v1/codes/consume — 200 with the consumed code (also for a retry with the same key);
/// 409 consumed already (or a consume with the key in progress), 410 deleted/expired/unavailable,
/// 404 unknown code; WeChat's errcode in the body.
pub async fn consume(
    _: AdminAuth,
    body: web::Json<ConsumeBody>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    let body = body.into_inner();
    let order = ConsumeOrder {
        appid: body.appid,
        code: body.code,
        card_id: body.card_id,
        encrypted: body.encrypted,
        idempotency_key: body.idempotency_key,
    };
    let consumed = state.distribution.till().consume(&order).await?;
    Ok(HttpResponse::Ok().json(consumed))
}

#[derive(Debug, Deserialize)]
pub struct CheckParams {
    #[serde(default)]
    card_id: Option<String>,
    #[serde(default)]
    appid: Option<String>,
}

/// GET /api/v1/codes/{code}?card_id&appid — the code as WeChat and the ledger know it.
pub async fn check(
    _: AdminAuth,
    code: web::Path<String>,
    params: web::Query<CheckParams>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    let check = state
        .distribution
        .till()
        .check(
            params.appid.as_deref(),
            &code.into_inner(),
            params.card_id.as_deref(),
        )
        .await?;
    Ok(HttpResponse::Ok().json(check))
}
