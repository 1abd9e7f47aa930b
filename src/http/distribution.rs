//! The admin API of the operator's distribution work (issue 8): channels, QR codes, landing pages,
//! code deposit and check, the test whitelist, the mpnews HTML and the JS-SDK signatures. Each
//! handler hands its JSON to the same `Distribution` service as the CLI.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::admin::{AdminAuth, AppIdParam};
use super::error::{ErrorBody, HttpError};
use super::json_body::JsonBody;
use super::responses::{AccountReads, Reads, WeChatCalls};
use super::AdminState;
use crate::distribution::channels::{CreatedLandingPage, LandingPageOrder, NameChannel};
use crate::distribution::codes::{parse_codes, CheckReport, DepositReport};
use crate::distribution::jssdk::{
    CardExtOrder, CardSignOrder, ChooseCardParams, ConfigOrder, ConfigParams, SignedCardExt,
};
use crate::distribution::messages::Whitelist;
use crate::distribution::qrcode::{render_png, CreatedQrCode, QrCodeOrder};
use crate::distribution::DistributionError;
use crate::store::channel::Channel;
use crate::store::StoreError;

/// The registered channels.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Channels {
    channels: Vec<Channel>,
}

/// GET /api/v1/channels?appid
#[utoipa::path(get, path = "/api/v1/channels",
    summary = "The registered channels, oldest first (mirrors `cardhook channels list`)",
    params(AppIdParam), responses((status = 200, description = "channels", body = Channels), AccountReads))]
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
    Ok(HttpResponse::Ok().json(Channels { channels }))
}

/// POST /api/v1/channels — name an outer_str / outer_id used elsewhere.
#[utoipa::path(post, path = "/api/v1/channels",
    summary = "Name a channel used outside cardhook (mirrors `cardhook channels name`); a registered one is renamed",
    request_body = NameChannel,
    responses((status = 201, description = "the channel", body = Channel), WeChatCalls))]
pub async fn name(
    _: AdminAuth,
    body: JsonBody<NameChannel>,
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
#[utoipa::path(post, path = "/api/v1/channels/qrcode",
    summary = "Create a card QR code with WeChat (/card/qrcode/create) and register its channel",
    request_body = QrCodeOrder,
    responses((status = 201, description = "the QR code and its channel", body = CreatedQrCode), WeChatCalls))]
pub async fn qrcode(
    _: AdminAuth,
    body: JsonBody<QrCodeOrder>,
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
#[utoipa::path(get, path = "/api/v1/channels/{id}/qrcode.png",
    summary = "The channel's QR code as a printable PNG, rendered from WeChat's url",
    params(("id" = i64, Path)),
    responses((status = 200, description = "PNG", body = Vec<u8>, content_type = "image/png"),
        (status = 404, description = "no such channel, or it has no QR code", body = ErrorBody), Reads))]
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
#[utoipa::path(post, path = "/api/v1/channels/landingpage",
    summary = "Create a landing page (/card/landingpage/create) and register it as a channel",
    request_body = LandingPageOrder,
    responses((status = 201, description = "the page and its channel", body = CreatedLandingPage), WeChatCalls))]
pub async fn landing_page(
    _: AdminAuth,
    body: JsonBody<LandingPageOrder>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    let created = state
        .distribution
        .channels()
        .create_landing_page(body.into_inner())
        .await?;
    Ok(HttpResponse::Created().json(created))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CodesBody {
    appid: Option<String>,
    #[schema(min_items = 1)]
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
#[utoipa::path(post, path = "/api/v1/cards/{card_id}/codes/deposit",
    summary = "Deposit custom codes, 100 per call, resuming an interrupted deposit; then verify",
    params(("card_id" = String, Path)), request_body = CodesBody,
    responses((status = 200, description = "what was deposited and what WeChat lacks", body = DepositReport),
        WeChatCalls))]
pub async fn deposit(
    _: AdminAuth,
    card_id: web::Path<String>,
    body: JsonBody<CodesBody>,
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
#[utoipa::path(post, path = "/api/v1/cards/{card_id}/codes/check",
    summary = "Which codes WeChat does not have (mirrors `cardhook codes check`)",
    params(("card_id" = String, Path)), request_body = CodesBody,
    responses((status = 200, description = "the check", body = CheckReport), WeChatCalls))]
pub async fn check(
    _: AdminAuth,
    card_id: web::Path<String>,
    body: JsonBody<CodesBody>,
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

/// A card's HTML for an mpnews message.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct MpnewsHtml {
    card_id: String,
    content: String,
}

/// GET /api/v1/cards/{card_id}/mpnews-html?appid
#[utoipa::path(get, path = "/api/v1/cards/{card_id}/mpnews-html",
    summary = "The HTML that puts the card into a mpnews message (mirrors `cardhook mpnews-html`)",
    params(("card_id" = String, Path), AppIdParam),
    responses((status = 200, description = "the HTML", body = MpnewsHtml), WeChatCalls))]
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
    Ok(HttpResponse::Ok().json(MpnewsHtml {
        card_id: card_id.into_inner(),
        content,
    }))
}

/// The test whitelist as set.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct WhitelistSet {
    openid: Vec<String>,
    username: Vec<String>,
}

/// PUT /api/v1/testwhitelist — replaces the whole list.
#[utoipa::path(put, path = "/api/v1/testwhitelist",
    summary = "Replace the whole test whitelist: 1 to 10 OpenIDs and usernames together (mirrors `cardhook whitelist set`)",
    request_body = Whitelist,
    responses((status = 200, description = "the list now set", body = WhitelistSet), WeChatCalls))]
pub async fn whitelist(
    _: AdminAuth,
    body: JsonBody<Whitelist>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    let list = body.into_inner();
    let answer = WhitelistSet {
        openid: list.openid.clone(),
        username: list.username.clone(),
    };
    state.distribution.messages().set_whitelist(list).await?;
    Ok(HttpResponse::Ok().json(answer))
}

/// POST /api/v1/jssdk/card-ext → `{card_id, card_ext}` for `wx.addCard`.
#[utoipa::path(post, path = "/api/v1/jssdk/card-ext",
    summary = "cardExt for wx.addCard, signed with the cached card api_ticket (reference §8.5)",
    request_body = CardExtOrder,
    responses((status = 200, description = "card_id and the cardExt string", body = SignedCardExt), WeChatCalls))]
pub async fn card_ext(
    _: AdminAuth,
    body: JsonBody<CardExtOrder>,
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
#[utoipa::path(post, path = "/api/v1/jssdk/card-sign",
    summary = "The parameters of wx.chooseCard with cardSign, signed with the cached card api_ticket",
    request_body = CardSignOrder,
    responses((status = 200, description = "the wx.chooseCard parameters", body = ChooseCardParams), WeChatCalls))]
pub async fn card_sign(
    _: AdminAuth,
    body: JsonBody<CardSignOrder>,
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
#[utoipa::path(post, path = "/api/v1/jssdk/config",
    summary = "The parameters of wx.config, signed with the cached jsapi_ticket; the url's #fragment is not signed",
    request_body = ConfigOrder,
    responses((status = 200, description = "the wx.config parameters", body = ConfigParams), WeChatCalls))]
pub async fn config(
    _: AdminAuth,
    body: JsonBody<ConfigOrder>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    Ok(HttpResponse::Ok().json(state.distribution.jssdk().config(body.into_inner()).await?))
}
