//! The admin API of the card catalogue (issue 25): `GET /api/v1/cards`, `GET /api/v1/cards/{card_id}`
//! (refreshed from WeChat) and `POST /api/v1/cards` (a `/card/create` body whose images are URLs).

use actix_web::{web, HttpResponse};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;

use super::admin::{AdminAuth, AppIdParam};
use super::error::HttpError;
use super::json_body::JsonBody;
use super::responses::{AccountReads, WeChatCalls};
use super::AdminState;
use crate::distribution::catalogue::CreatedCard;
use crate::store::cards::CardView;

/// The catalogue.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Cards {
    cards: Vec<CardView>,
}

/// GET /api/v1/cards?appid → `{"cards": […]}`, newest first.
#[utoipa::path(get, path = "/api/v1/cards", summary = "The card catalogue, newest first",
    params(AppIdParam), responses((status = 200, description = "the cards", body = Cards), AccountReads))]
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
    Ok(HttpResponse::Ok().json(Cards { cards }))
}

/// GET /api/v1/cards/{card_id}?appid — the card as WeChat has it now (`/card/get`).
#[utoipa::path(get, path = "/api/v1/cards/{card_id}",
    summary = "One card, refreshed from WeChat's /card/get and stored",
    params(("card_id" = String, Path), AppIdParam),
    responses((status = 200, description = "the card as WeChat has it now", body = CardView), WeChatCalls))]
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

/// WeChat's `/card/create` body, `{"card": {"card_type": …, "<type>": {"base_info": …}}}`, its images URLs: what
/// cardhook needs of it is checked in `distribution::catalogue`, the rest is WeChat's format.
pub struct CardBody;

impl utoipa::PartialSchema for CardBody {
    fn schema() -> RefOr<Schema> {
        let card_type = ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "MEMBER_CARD, GROUPON, CASH, DISCOUNT, GIFT or GENERAL_COUPON",
            ));
        let card = ObjectBuilder::new()
            .required("card_type")
            .property("card_type", card_type)
            .description(Some("the /card/create `card` object"));
        ObjectBuilder::new()
            .required("card")
            .property("card", card)
            .into()
    }
}

impl utoipa::ToSchema for CardBody {}

/// POST /api/v1/cards?appid with `{"card": {…}}` → 201 `{"card_id"}`.
#[utoipa::path(post, path = "/api/v1/cards",
    summary = "Create a card: the body of /card/create ({\"card\": {\"card_type\": …}}) with every image a URL cardhook uploads",
    params(AppIdParam), request_body = CardBody,
    responses((status = 201, description = "created and stored", body = CreatedCard), WeChatCalls))]
pub async fn create(
    _: AdminAuth,
    params: web::Query<AppIdParam>,
    body: JsonBody<serde_json::Value>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    let created = state
        .distribution
        .catalogue()
        .create_card(params.appid.as_deref(), body.into_inner(), None)
        .await?;
    Ok(HttpResponse::Created().json(created))
}
