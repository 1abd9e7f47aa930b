//! The admin API of cards by message (issue 26): follow QR codes, a card to one customer, mass
//! sends and their list. Each handler hands its JSON to the same `Distribution` service as the CLI.

use actix_web::{web, HttpResponse};

use super::admin::{AdminAuth, AppIdParam};
use super::error::HttpError;
use super::AdminState;
use crate::distribution::messages::{FollowQrOrder, MassOrder, SendCardOrder};

/// POST /api/v1/channels/follow-qrcode → 201 `{channel, ticket, url, show_qrcode_url, expire_seconds}`.
pub async fn follow_qrcode(
    _: AdminAuth,
    body: web::Json<FollowQrOrder>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    let created = state
        .distribution
        .messages()
        .create_follow_qrcode(body.into_inner())
        .await?;
    Ok(HttpResponse::Created().json(created))
}

/// POST /api/v1/send/card → 200 `{"card_id", "sent": true}`.
pub async fn send_card(
    _: AdminAuth,
    body: web::Json<SendCardOrder>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    let order = body.into_inner();
    let card_id = order.card_id.clone();
    state.distribution.messages().send_card(order).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "card_id": card_id, "sent": true })))
}

/// POST /api/v1/mass → 201 the send as `mass list` shows it.
pub async fn mass(
    _: AdminAuth,
    body: web::Json<MassOrder>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    let send = state
        .distribution
        .messages()
        .mass_card(body.into_inner(), &|_, _| {})
        .await?;
    Ok(HttpResponse::Created().json(send))
}

/// GET /api/v1/mass?appid → `{"sends": […]}`, newest first.
pub async fn mass_list(
    _: AdminAuth,
    params: web::Query<AppIdParam>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    let sends = state
        .distribution
        .messages()
        .mass_sends(params.appid.as_deref())
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "sends": sends })))
}
