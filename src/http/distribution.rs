//! The admin API of the operator's distribution work (issue 8): channels, QR codes, landing pages,
//! code deposit and check, the test whitelist, the mpnews HTML and the JS-SDK signatures. Each
//! handler hands its JSON to the same `Distribution` service as the CLI.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::admin::{AdminAuth, AppIdParam};
use super::error::HttpError;
use super::AdminState;
use crate::distribution::channels::{LandingPageOrder, NameChannel};
use crate::distribution::codes::parse_codes;
use crate::distribution::jssdk::{CardExtOrder, CardSignOrder, ConfigOrder};
use crate::distribution::messages::Whitelist;
use crate::distribution::qrcode::{render_png, QrCodeOrder};
use crate::distribution::DistributionError;
use crate::store::StoreError;

/// GET /api/v1/channels?appid
pub async fn list(
    _: AdminAuth,
    params: web::Query<AppIdParam>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    let channels = state
        .distribution
        .channels()
        .list(params.appid.as_deref())
        .await?;
    // Serialized as it is (not through `json!`, whose numbers are f64): an outer_id beyond 64 bits keeps its digits.
    #[derive(serde::Serialize)]
    struct Channels {
        channels: Vec<crate::store::channel::Channel>,
    }
    Ok(HttpResponse::Ok().json(Channels { channels }))
}

/// POST /api/v1/channels — name an outer_str / outer_id used elsewhere.
pub async fn name(
    _: AdminAuth,
    body: web::Json<NameChannel>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    let channel = state
        .distribution
        .channels()
        .name(body.into_inner())
        .await?;
    Ok(HttpResponse::Created().json(channel))
}

/// POST /api/v1/channels/qrcode
pub async fn qrcode(
    _: AdminAuth,
    body: web::Json<QrCodeOrder>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    let created = state
        .distribution
        .channels()
        .create_qrcode(body.into_inner())
        .await?;
    Ok(HttpResponse::Created().json(created))
}

/// GET /api/v1/channels/{id}/qrcode.png — the channel's QR code, rendered for print.
pub async fn qrcode_png(
    _: AdminAuth,
    id: web::Path<i64>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    let channel = match state.distribution.channels().get(id.into_inner()).await {
        Err(DistributionError::Store(StoreError::NotFound)) => {
            return Err(HttpError::Missing("channel"))
        }
        other => other?,
    };
    let url = channel
        .qr_url
        .ok_or(HttpError::Missing("QR code of this channel"))?;
    Ok(HttpResponse::Ok()
        .content_type("image/png")
        .body(render_png(&url)?))
}

/// POST /api/v1/channels/landingpage
pub async fn landing_page(
    _: AdminAuth,
    body: web::Json<LandingPageOrder>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    let created = state
        .distribution
        .channels()
        .create_landing_page(body.into_inner())
        .await?;
    Ok(HttpResponse::Created().json(created))
}

#[derive(Debug, Deserialize)]
pub struct CodesBody {
    appid: Option<String>,
    codes: Vec<String>,
}

impl CodesBody {
    /// The codes: one per item, trimmed, repeats dropped.
    fn codes(&self) -> Result<Vec<String>, HttpError> {
        let not_one_code = |code: &String| {
            let code = code.trim();
            code.is_empty() || code.contains(char::is_whitespace)
        };
        if let Some(n) = self.codes.iter().position(not_one_code) {
            return Err(HttpError::BadParam {
                name: "codes",
                reason: format!("item {n} is not one code: it is blank or has blanks inside"),
            });
        }
        Ok(parse_codes(&self.codes.join("\n"))?.0)
    }
}

/// POST /api/v1/cards/{card_id}/codes/deposit — the deposit report.
pub async fn deposit(
    _: AdminAuth,
    card_id: web::Path<String>,
    body: web::Json<CodesBody>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    let codes = body.codes()?;
    let report = state
        .distribution
        .codes()
        .deposit(body.appid.as_deref(), &card_id, &codes, &|_, _| {})
        .await?;
    Ok(HttpResponse::Ok().json(report))
}

/// POST /api/v1/cards/{card_id}/codes/check — which codes WeChat lacks.
pub async fn check(
    _: AdminAuth,
    card_id: web::Path<String>,
    body: web::Json<CodesBody>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    let codes = body.codes()?;
    let report = state
        .distribution
        .codes()
        .check(body.appid.as_deref(), &card_id, &codes)
        .await?;
    Ok(HttpResponse::Ok().json(report))
}

/// GET /api/v1/cards/{card_id}/mpnews-html?appid
pub async fn mpnews_html(
    _: AdminAuth,
    card_id: web::Path<String>,
    params: web::Query<AppIdParam>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    let content = state
        .distribution
        .messages()
        .mpnews_html(params.appid.as_deref(), &card_id)
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "card_id": *card_id, "content": content })))
}

/// PUT /api/v1/testwhitelist — replaces the whole list.
pub async fn whitelist(
    _: AdminAuth,
    body: web::Json<Whitelist>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    let list = body.into_inner();
    let answer = serde_json::json!({ "openid": list.openid, "username": list.username });
    state.distribution.messages().set_whitelist(list).await?;
    Ok(HttpResponse::Ok().json(answer))
}

/// POST /api/v1/jssdk/card-ext → `{card_id, card_ext}` for `wx.addCard`.
pub async fn card_ext(
    _: AdminAuth,
    body: web::Json<CardExtOrder>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    Ok(HttpResponse::Ok().json(
        state
            .distribution
            .jssdk()
            .card_ext(body.into_inner())
            .await?,
    ))
}

/// POST /api/v1/jssdk/card-sign → the parameters of `wx.chooseCard`.
pub async fn card_sign(
    _: AdminAuth,
    body: web::Json<CardSignOrder>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    Ok(HttpResponse::Ok().json(
        state
            .distribution
            .jssdk()
            .card_sign(body.into_inner())
            .await?,
    ))
}

/// POST /api/v1/jssdk/config → the parameters of `wx.config`.
pub async fn config(
    _: AdminAuth,
    body: web::Json<ConfigOrder>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    Ok(HttpResponse::Ok().json(state.distribution.jssdk().config(body.into_inner()).await?))
}
