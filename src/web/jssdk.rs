//! JS-SDK signatures for the merchant's own pages, on the public listener: `POST /h5/{appid}/jssdk/config`
//! (`{"url"}` → `wx.config`'s parameters) and `POST /h5/{appid}/jssdk/card-ext` (`{"card_id",
//! "outer_str"?}` → `wx.addCard`'s `cardExt`), the same JSON as the admin routes. Answered only to
//! pages under `web.allowed_origins` (the request's `Origin`, and the signed page URL's), only for
//! cards in `[[cards]]`, never with a code or OpenID the caller chose, and at most
//! [`PER_MINUTE`] times a minute per client address.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};
use serde::Deserialize;

use super::{observe, WebState};
use crate::distribution::jssdk::{CardExtOrder, ConfigOrder};
use crate::http::error::HttpError;

/// Requests a client address may make a minute.
pub const PER_MINUTE: u32 = 60;

/// The request's `Origin`, when it is one of `web.allowed_origins`.
fn allowed_origin(req: &HttpRequest, state: &WebState) -> Result<String, HttpError> {
    if state.allowed_origins.is_empty() {
        return Err(HttpError::Forbidden(
            "no page may ask for JS-SDK signatures: web.allowed_origins is empty",
        ));
    }
    let origin = req
        .headers()
        .get("Origin")
        .and_then(|o| o.to_str().ok())
        .ok_or(HttpError::Forbidden("the request has no Origin header"))?;
    if !state
        .allowed_origins
        .iter()
        .any(|allowed| allowed == origin)
    {
        return Err(HttpError::Forbidden(
            "the page's origin is not in web.allowed_origins",
        ));
    }
    Ok(origin.to_owned())
}

/// The checks every signature request passes: the account, the origin, the rate.
fn admit(req: &HttpRequest, appid: &str, state: &WebState) -> Result<String, HttpError> {
    if state.accounts.get(appid).is_none() {
        return Err(HttpError::UnknownAccount);
    }
    let origin = allowed_origin(req, state)?;
    let address = crate::client_address::ClientAddress::of(req);
    if !state.limiter.allow(address, state.clock.now()) {
        return Err(HttpError::TooManyRequests);
    }
    Ok(origin)
}

fn with_cors(mut response: HttpResponseBuilder, origin: &str) -> HttpResponseBuilder {
    response
        .insert_header(("Access-Control-Allow-Origin", origin.to_owned()))
        .insert_header(("Vary", "Origin"));
    response
}

fn body<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, HttpError> {
    serde_json::from_slice(bytes).map_err(|e| HttpError::BadParam {
        name: "body",
        reason: e.to_string(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageUrl {
    url: String,
}

/// `POST /h5/{appid}/jssdk/config`.
pub async fn config(
    req: HttpRequest,
    appid: web::Path<String>,
    payload: web::Payload,
    state: web::Data<WebState>,
) -> Result<HttpResponse, HttpError> {
    let answered = async {
        let origin = admit(&req, &appid, &state)?;
        let bytes = state.read_body(&req, payload).await?;
        let PageUrl { url } = body(&bytes)?;
        // The page signed is a page of the asking origin.
        let own_page = url == origin || url.starts_with(&format!("{origin}/"));
        if !own_page {
            return Err(HttpError::Forbidden(
                "url is not a page of the requesting origin",
            ));
        }
        let order = ConfigOrder {
            appid: Some(appid.to_string()),
            url,
        };
        let params = state.distribution.jssdk().config(order).await?;
        Ok(with_cors(HttpResponse::Ok(), &origin).json(params))
    }
    .await;
    observe(&state, "jssdk_config", &answered);
    answered
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CardExtRequest {
    card_id: String,
    outer_str: Option<String>,
}

/// `POST /h5/{appid}/jssdk/card-ext`.
pub async fn card_ext(
    req: HttpRequest,
    appid: web::Path<String>,
    payload: web::Payload,
    state: web::Data<WebState>,
) -> Result<HttpResponse, HttpError> {
    let answered = async {
        let origin = admit(&req, &appid, &state)?;
        let bytes = state.read_body(&req, payload).await?;
        let request: CardExtRequest = body(&bytes)?;
        if !state.cards.contains_key(&request.card_id) {
            return Err(HttpError::Forbidden("card_id is not a card in [[cards]]"));
        }
        let order = CardExtOrder {
            appid: Some(appid.to_string()),
            card_id: request.card_id,
            outer_str: request.outer_str,
            ..CardExtOrder::default()
        };
        let signed = state.distribution.jssdk().card_ext(order).await?;
        Ok(with_cors(HttpResponse::Ok(), &origin).json(signed))
    }
    .await;
    observe(&state, "jssdk_card_ext", &answered);
    answered
}

/// `OPTIONS` before a cross-origin `POST` with a JSON body.
pub async fn preflight(
    req: HttpRequest,
    state: web::Data<WebState>,
) -> Result<HttpResponse, HttpError> {
    let origin = allowed_origin(&req, &state)?;
    Ok(
        with_cors(HttpResponse::build(StatusCode::NO_CONTENT), &origin)
            .insert_header(("Access-Control-Allow-Methods", "POST"))
            .insert_header(("Access-Control-Allow-Headers", "Content-Type"))
            .insert_header(("Access-Control-Max-Age", "600"))
            .finish(),
    )
}
