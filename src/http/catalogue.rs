//! The admin API of the card catalogue (issue 25): `GET /api/v1/cards`, `GET /api/v1/cards/{card_id}`
//! (refreshed from WeChat) and `POST /api/v1/cards` (a `/card/create` body whose images are URLs).

use actix_web::{web, HttpResponse};

use super::admin::{AdminAuth, AppIdParam};
use super::error::HttpError;
use super::AdminState;

/// GET /api/v1/cards?appid → `{"cards": […]}`, newest first.
pub async fn list(
    _: AdminAuth,
    params: web::Query<AppIdParam>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    let cards = state
        .distribution
        .catalogue()
        .cards(params.appid.as_deref())
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "cards": cards })))
}

/// GET /api/v1/cards/{card_id}?appid — the card as WeChat has it now (`/card/get`).
pub async fn show(
    _: AdminAuth,
    card_id: web::Path<String>,
    params: web::Query<AppIdParam>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    let card = state
        .distribution
        .catalogue()
        .card(params.appid.as_deref(), &card_id)
        .await?;
    Ok(HttpResponse::Ok().json(card))
}

/// POST /api/v1/cards?appid with `{"card": {…}}` → 201 `{"card_id"}`.
pub async fn create(
    _: AdminAuth,
    params: web::Query<AppIdParam>,
    body: web::Json<serde_json::Value>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    let created = state
        .distribution
        .catalogue()
        .create_card(params.appid.as_deref(), body.into_inner(), None)
        .await?;
    Ok(HttpResponse::Created().json(created))
}
