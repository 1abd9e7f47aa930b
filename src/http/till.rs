//! The admin API at the till (issue 34): check a code, consume it once per idempotency key. Each
//! handler hands its JSON to the same `Distribution::till` as the CLI.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::admin::AdminAuth;
use super::error::{ErrorBody, HttpError};
use super::json_body::JsonBody;
use super::responses::TillCalls;
use super::AdminState;
use crate::distribution::till::{CodeCheck, ConsumeAnswer, ConsumeOrder};

/// POST /api/v1/codes/consume's body (DESIGN §4; `appid` and `encrypted` optional).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsumeBody {
    #[schema(min_length = 1)]
    code: String,
    /// Needed for custom-code cards.
    #[serde(default)]
    card_id: Option<String>,
    #[schema(pattern = "^[A-Za-z0-9_.:-]{1,64}$")]
    idempotency_key: String,
    /// Needed when several accounts have an app_secret.
    #[serde(default)]
    appid: Option<String>,
    /// `code` is an encrypt_code, decrypted first.
    #[serde(default)]
    encrypted: bool,
}

/// POST /api/v1/codes/consume — 200 with the consumed code (also for a retry with the same key);
/// 409 consumed already, 410 deleted/expired/unavailable, 404 unknown code (WeChat's errcode in the
/// body); 503 while a consume with the same key is in progress.
#[utoipa::path(post, path = "/api/v1/codes/consume", summary = "Consume a code at the till, once per idempotency key",
    description = "A retry with the same key answers what the first request did, on any instance; the code is consumed and counted once.",
    request_body = ConsumeBody,
    responses((status = 200, description = "consumed (now, or by the first request with this key)", body = ConsumeAnswer),
        (status = 400, description = "bad body: code missing, idempotency_key not 1–64 of letters, digits and -_.:, the key used for another code, or the account not named", body = ErrorBody),
        (status = 404, description = "no such code (errcode 40056 or 40116), or no such account", body = ErrorBody),
        (status = 409, description = "consumed already (errcode 40099)", body = ErrorBody),
        (status = 503, description = "storage or credentials unavailable, or a consume with this key in progress (in_progress): retry after Retry-After", body = ErrorBody),
        TillCalls))]
pub async fn consume(
    _: AdminAuth,
    body: JsonBody<ConsumeBody>,
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

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CheckParams {
    #[serde(default)]
    card_id: Option<String>,
    #[serde(default)]
    appid: Option<String>,
}

/// GET /api/v1/codes/{code}?card_id&appid — the code as WeChat and the ledger know it.
#[utoipa::path(get, path = "/api/v1/codes/{code}",
    summary = "A code at the till: its card, holder, status, whether it can be consumed, its member",
    params(("code" = String, Path), CheckParams),
    responses((status = 200, description = "the code (a consumed code: status CONSUMED, can_consume false)", body = CodeCheck),
        (status = 400, description = "the account not named", body = ErrorBody),
        (status = 404, description = "no such code, or no such account", body = ErrorBody),
        (status = 503, description = "storage or credentials unavailable; retry", body = ErrorBody),
        TillCalls))]
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
