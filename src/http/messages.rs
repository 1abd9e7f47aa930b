//! The admin API of cards by message (issue 26): follow QR codes, a card to one customer, mass
//! sends and their list. Each handler hands its JSON to the same `Distribution` service as the CLI.

use actix_web::{web, HttpResponse};

use super::admin::{AdminAuth, AppIdParam};
use super::error::HttpError;
use super::json_body::JsonBody;
use super::responses::{AccountReads, WeChatCalls};
use super::AdminState;
use crate::distribution::messages::{FollowQrOrder, MassOrder, SendCardOrder};
use crate::distribution::qrcode::CreatedQrCode;
use crate::store::mass::MassSendView;

/// POST /api/v1/channels/follow-qrcode → 201 `{channel, ticket, url, show_qrcode_url, expire_seconds}`.
#[utoipa::path(post, path = "/api/v1/channels/follow-qrcode",
    summary = "A follow QR code (/cgi-bin/qrcode/create) whose scan or follow sends the card; registered as a channel",
    request_body = FollowQrOrder,
    responses((status = 201, description = "the QR code and its channel", body = CreatedQrCode), WeChatCalls))]
pub async fn follow_qrcode(
    _: AdminAuth,
    body: JsonBody<FollowQrOrder>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    let created = state
        .distribution
        .messages()
        .create_follow_qrcode(body.into_inner())
        .await?;
    Ok(HttpResponse::Created().json(created))
}

/// A card sent to one customer.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct CardSent {
    card_id: String,
    sent: bool,
}

/// POST /api/v1/send/card → 200 `{"card_id", "sent": true}`.
#[utoipa::path(post, path = "/api/v1/send/card",
    summary = "A card to one customer in a customer-service message (within 48 hours of their last interaction)",
    request_body = SendCardOrder,
    responses((status = 200, description = "sent", body = CardSent), WeChatCalls))]
pub async fn send_card(
    _: AdminAuth,
    body: JsonBody<SendCardOrder>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    let order = body.into_inner();
    let card_id = order.card_id.clone();
    state.distribution.messages().send_card(order).await?;
    Ok(HttpResponse::Ok().json(CardSent {
        card_id,
        sent: true,
    }))
}

/// POST /api/v1/mass → 201 the send as `mass list` shows it.
#[utoipa::path(post, path = "/api/v1/mass",
    summary = "A card to many in a mass message: a tag, OpenIDs, every follower, or a preview to one",
    request_body = MassOrder,
    responses((status = 201, description = "the send as `mass list` shows it", body = MassSendView), WeChatCalls))]
pub async fn mass(
    _: AdminAuth,
    body: JsonBody<MassOrder>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    let send = state
        .distribution
        .messages()
        .mass_card(body.into_inner(), &|_, _| {})
        .await?;
    Ok(HttpResponse::Created().json(send))
}

/// The mass sends.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct MassSends {
    sends: Vec<MassSendView>,
}

/// GET /api/v1/mass?appid → `{"sends": […]}`, newest first.
#[utoipa::path(get, path = "/api/v1/mass", summary = "The mass sends, newest first, with what WeChat reported",
    params(AppIdParam), responses((status = 200, description = "the sends", body = MassSends), AccountReads))]
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
    Ok(HttpResponse::Ok().json(MassSends { sends }))
}
