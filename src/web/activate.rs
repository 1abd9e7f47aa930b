//! The H5 activation page (`activation = "h5"`): the card's `activate_url` in WeChat points at
//! `GET /h5/{appid}/activate?card_id&encrypt_code`.
//!
//! 1. No session: 302 to WeChat's authorize page (`snsapi_base`, reference 002) with a signed, short-
//!    lived `state`; the page to return to waits in a cookie the state is bound to.
//! 2. `GET /h5/{appid}/oauth?code&state`: the state checked, the code exchanged for the customer's
//!    OpenID, a signed session cookie set, and back to the page.
//! 3. With a session: the code decrypted (`/card/code/decrypt`) and checked to belong to the
//!    session's OpenID (`/card/code/get`), then a form asks for the phone number.
//! 4. `POST /h5/{appid}/activate`: the phone normalised, the member found, the card bound and its
//!    activation queued in one transaction (`members::bind`); the result shown. A second submit
//!    binds and activates nothing more.

use std::collections::HashMap;

use actix_web::cookie::{time::Duration as CookieAge, Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::pages::{self, Form};
use super::signing::{Refused, Signer, SESSION_SECS, STATE_SECS};
use super::WebState;
use crate::config::CardSettings;
use crate::credentials::TokenError;
use crate::http::error::HttpError;
use crate::members::bind::{self, Bound, Claim, Refusal};
use crate::members::phone;
use crate::store::members;
use crate::wechat_api::ApiCallError;

const SESSION_COOKIE: &str = "cardhook_session";
const RETURN_COOKIE: &str = "cardhook_return";

/// The query or form fields of the page, decoded.
fn fields(encoded: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(encoded)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// `encrypt_code` as WeChat sent it: base64, whose `+` a form decoder reads as a space.
fn encrypt_code(fields: &HashMap<String, String>) -> Option<String> {
    fields
        .get("encrypt_code")
        .map(|code| code.replace(' ', "+"))
        .filter(|code| !code.is_empty())
}

fn page(
    status: StatusCode,
    reason: &'static str,
    title: &'static str,
    message: &'static str,
) -> HttpError {
    HttpError::Page {
        status,
        reason,
        title,
        message,
        again: None,
    }
}

fn html(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(body)
}

/// The page's account and card, and the signer; pages saying why not.
fn context<'s>(
    state: &'s WebState,
    appid: &str,
    card_id: Option<&String>,
) -> Result<(&'s CardSettings, &'s Signer), HttpError> {
    let signer = state.signer.as_ref().filter(|_| state.public_url.is_some());
    let (Some(signer), Some(_)) = (signer, state.accounts.get(appid)) else {
        return Err(page(
            StatusCode::NOT_FOUND,
            "h5_not_configured",
            "页面不存在",
            "该公众号未开通会员卡激活页面。",
        ));
    };
    let card = card_id.and_then(|id| state.h5_card(id)).ok_or_else(|| {
        page(
            StatusCode::NOT_FOUND,
            "unknown_card",
            "无法开通",
            "这张会员卡不能在此页面开通，请从微信卡包中重新打开。",
        )
    })?;
    Ok((card, signer))
}

/// The OpenID of the request's session of `appid`, if it has a valid one.
fn session(req: &HttpRequest, signer: &Signer, appid: &str, now: i64) -> Option<String> {
    let cookie = req.cookie(SESSION_COOKIE)?;
    signer.check_session(cookie.value(), appid, now).ok()
}

fn cookie<'c>(state: &WebState, appid: &str, name: &'c str, value: String, age: i64) -> Cookie<'c> {
    Cookie::build(name, value)
        .path(format!("/h5/{appid}/"))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.secure_cookies)
        .max_age(CookieAge::seconds(age))
        .finish()
}

/// `GET /h5/{appid}/activate?card_id&encrypt_code`.
pub async fn show(
    req: HttpRequest,
    appid: web::Path<String>,
    state: web::Data<WebState>,
) -> Result<HttpResponse, HttpError> {
    let outcome = show_page(&req, &appid, &state).await;
    observe(&state, "activate", &outcome);
    outcome
}

async fn show_page(
    req: &HttpRequest,
    appid: &str,
    state: &WebState,
) -> Result<HttpResponse, HttpError> {
    let query = fields(req.query_string().as_bytes());
    let (card, signer) = context(state, appid, query.get("card_id"))?;
    let encrypt_code = encrypt_code(&query).ok_or_else(|| {
        page(
            StatusCode::BAD_REQUEST,
            "missing_encrypt_code",
            "无法开通",
            "链接缺少卡券信息，请从微信卡包中重新打开会员卡。",
        )
    })?;
    let now = state.clock.now();
    let Some(openid) = session(req, signer, appid, now) else {
        return Ok(authorize(state, signer, appid, req, now));
    };
    let code = owned_code(state, appid, card, &encrypt_code, &openid, now).await?;
    if let Some(member) = members::by_code(&state.db, appid, &card.card_id, &code).await? {
        return Ok(html(pages::bound(&member.member_no, true)));
    }
    let csrf = signer.csrf(appid, &openid, now);
    Ok(html(pages::form(&Form {
        action: &format!("/h5/{appid}/activate"),
        card_id: &card.card_id,
        encrypt_code: &encrypt_code,
        csrf: &csrf,
        message: None,
    })))
}

/// 302 to WeChat's authorize page: the parameters in exactly the documented order (WeChat checks
/// it), `#wechat_redirect` at the end (reference 002).
fn authorize(
    state: &WebState,
    signer: &Signer,
    appid: &str,
    req: &HttpRequest,
    now: i64,
) -> HttpResponse {
    let return_to = format!("{}?{}", req.path(), req.query_string());
    let oauth_state = signer.state(appid, &return_to, now, rand::random());
    let redirect_uri = format!(
        "{}/h5/{appid}/oauth",
        state.public_url.as_deref().unwrap_or_default()
    );
    let redirect_uri: String =
        url::form_urlencoded::byte_serialize(redirect_uri.as_bytes()).collect();
    let location = format!(
        "{}/connect/oauth2/authorize?appid={appid}&redirect_uri={redirect_uri}&response_type=code&scope=snsapi_base&state={oauth_state}#wechat_redirect",
        state.oauth_base
    );
    HttpResponse::Found()
        .insert_header(("Location", location))
        .insert_header(("Cache-Control", "no-store"))
        .cookie(cookie(
            state,
            appid,
            RETURN_COOKIE,
            URL_SAFE_NO_PAD.encode(return_to),
            STATE_SECS,
        ))
        .finish()
}

/// `GET /h5/{appid}/oauth?code&state`: back from WeChat's authorize page.
pub async fn oauth(
    req: HttpRequest,
    appid: web::Path<String>,
    state: web::Data<WebState>,
) -> Result<HttpResponse, HttpError> {
    let outcome = oauth_return(&req, &appid, &state).await;
    observe(&state, "oauth", &outcome);
    outcome
}

async fn oauth_return(
    req: &HttpRequest,
    appid: &str,
    state: &WebState,
) -> Result<HttpResponse, HttpError> {
    let signer = state
        .signer
        .as_ref()
        .filter(|_| state.accounts.get(appid).is_some())
        .ok_or_else(|| {
            page(
                StatusCode::NOT_FOUND,
                "h5_not_configured",
                "页面不存在",
                "该公众号未开通会员卡激活页面。",
            )
        })?;
    let query = fields(req.query_string().as_bytes());
    let return_to = req
        .cookie(RETURN_COOKIE)
        .and_then(|c| URL_SAFE_NO_PAD.decode(c.value()).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|path| path.starts_with(&format!("/h5/{appid}/activate?")));
    let now = state.clock.now();
    let checked = match (&return_to, query.get("state")) {
        (Some(back), Some(oauth_state)) => signer.check_state(oauth_state, appid, back, now),
        _ => Err(Refused::Malformed),
    };
    if let Err(refused) = checked {
        let (reason, message) = match refused {
            Refused::Expired => ("state_expired", "授权已过期，请重新打开会员卡。"),
            Refused::Malformed | Refused::Forged => (
                "state_invalid",
                "授权信息无效，请从微信卡包中重新打开会员卡。",
            ),
        };
        return Err(HttpError::Page {
            status: StatusCode::BAD_REQUEST,
            reason,
            title: "无法开通",
            message,
            again: return_to,
        });
    }
    let again = return_to.clone();
    let Some(code) = query.get("code").filter(|c| !c.is_empty()) else {
        // The customer did not allow it (reference 002: then only `state` comes back).
        return Err(HttpError::Page {
            status: StatusCode::FORBIDDEN,
            reason: "oauth_refused",
            title: "需要授权",
            message: "需要您的授权才能开通会员卡。",
            again,
        });
    };
    let openid = state.tokens.oauth_openid(appid, code).await.map_err(|e| {
        tracing::warn!(appid, error.message = %e, "OAuth2 code exchange failed");
        let (status, reason, message) = match &e {
            // 40029 invalid code, 40163 code already used: start the authorization again.
            TokenError::Api(ApiCallError::Api {
                errcode: 40029 | 40163,
                ..
            }) => (
                StatusCode::BAD_REQUEST,
                "oauth_code_invalid",
                "授权已失效，请点击重新打开。",
            ),
            _ => (
                StatusCode::BAD_GATEWAY,
                "wechat_unavailable",
                "微信暂时无法完成授权，请稍后重新打开。",
            ),
        };
        HttpError::Page {
            status,
            reason,
            title: "授权未完成",
            message,
            again: again.clone(),
        }
    })?;
    let back = return_to.unwrap_or_else(|| format!("/h5/{appid}/activate"));
    let mut gone = cookie(state, appid, RETURN_COOKIE, String::new(), 0);
    gone.make_removal();
    Ok(HttpResponse::Found()
        .insert_header(("Location", back))
        .insert_header(("Cache-Control", "no-store"))
        .cookie(cookie(
            state,
            appid,
            SESSION_COOKIE,
            signer.session(appid, &openid, now),
            SESSION_SECS,
        ))
        .cookie(gone)
        .finish())
}

/// `POST /h5/{appid}/activate`: form fields `card_id`, `encrypt_code`, `phone`, `csrf`.
pub async fn submit(
    req: HttpRequest,
    appid: web::Path<String>,
    body: web::Bytes,
    state: web::Data<WebState>,
) -> Result<HttpResponse, HttpError> {
    let outcome = submit_form(&req, &appid, &body, &state).await;
    observe(&state, "submit", &outcome);
    outcome
}

async fn submit_form(
    req: &HttpRequest,
    appid: &str,
    body: &[u8],
    state: &WebState,
) -> Result<HttpResponse, HttpError> {
    let form = fields(body);
    let (card, signer) = context(state, appid, form.get("card_id"))?;
    let encrypt_code = encrypt_code(&form).ok_or_else(|| {
        page(
            StatusCode::BAD_REQUEST,
            "missing_encrypt_code",
            "无法开通",
            "表单缺少卡券信息，请从微信卡包中重新打开会员卡。",
        )
    })?;
    let now = state.clock.now();
    let again = format!(
        "/h5/{appid}/activate?{}",
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("card_id", &card.card_id)
            .append_pair("encrypt_code", &encrypt_code)
            .finish()
    );
    let session_expired = |reason| HttpError::Page {
        status: StatusCode::FORBIDDEN,
        reason,
        title: "请重新打开",
        message: "页面已过期，请重新打开后再提交。",
        again: Some(again.clone()),
    };
    let openid = session(req, signer, appid, now).ok_or_else(|| session_expired("no_session"))?;
    let csrf_ok = form
        .get("csrf")
        .is_some_and(|token| signer.check_csrf(token, appid, &openid, now));
    if !csrf_ok {
        return Err(session_expired("bad_csrf"));
    }
    let form_again = |message: &str| {
        let csrf = signer.csrf(appid, &openid, now);
        pages::form(&Form {
            action: &format!("/h5/{appid}/activate"),
            card_id: &card.card_id,
            encrypt_code: &encrypt_code,
            csrf: &csrf,
            message: Some(message),
        })
    };
    let phone = match phone::normalise(form.get("phone").map(String::as_str).unwrap_or_default()) {
        Ok(phone) => phone,
        Err(_) => {
            state.metrics.observe_page("submit", "bad_phone");
            return Ok(HttpResponse::UnprocessableEntity()
                .content_type("text/html; charset=utf-8")
                .body(form_again("请输入正确的 11 位手机号。")));
        }
    };
    let code = owned_code(state, appid, card, &encrypt_code, &openid, now).await?;
    let claim = Claim {
        appid,
        card,
        code: &code,
        openid: &openid,
        phone: &phone,
    };
    let outcome = bind::bind(&state.db, &claim, now).await?;
    let label = match &outcome {
        Ok(Bound::New(_)) => "bound",
        Ok(Bound::Already(_)) => "already",
        Err(refusal) => refusal.label(),
    };
    state.metrics.observe_binding("h5", label);
    tracing::info!(appid, card_id = %card.card_id, outcome = label, "member binding");
    match outcome {
        Ok(bound) => {
            if matches!(bound, Bound::New(_)) {
                // The activation is queued.
                state.wake_worker.notify_one();
            }
            Ok(html(pages::bound(
                &bound.member().member_no,
                matches!(bound, Bound::Already(_)),
            )))
        }
        Err(refusal) => Err(page(
            StatusCode::CONFLICT,
            refusal.label(),
            "无法开通",
            match refusal {
                Refusal::UnknownMember => "没有找到这个手机号对应的会员，请确认手机号或联系门店。",
                Refusal::MemberHasAnotherCard => "这个手机号对应的会员已经绑定了另一张会员卡。",
                Refusal::CodeHasAnotherMember => "这张会员卡已经绑定了其他会员。",
            },
        )),
    }
}

/// The plaintext code behind `encrypt_code`, when the card holding it belongs to `openid`.
async fn owned_code(
    state: &WebState,
    appid: &str,
    card: &CardSettings,
    encrypt_code: &str,
    openid: &str,
    now: i64,
) -> Result<String, HttpError> {
    let api = state.tokens.api();
    let wechat_failed = |e: TokenError| {
        tracing::warn!(appid, error.message = %e, "a card code could not be read from WeChat");
        match e {
            TokenError::Api(ApiCallError::Api { .. }) => page(
                StatusCode::BAD_REQUEST,
                "code_unreadable",
                "无法开通",
                "无法识别这张会员卡，请从微信卡包中重新打开。",
            ),
            _ => page(
                StatusCode::BAD_GATEWAY,
                "wechat_unavailable",
                "请稍后再试",
                "微信暂时无法处理，请稍后重新打开。",
            ),
        }
    };
    let code = state
        .tokens
        .with_token(appid, now, |token| async move {
            api.decrypt_code(&token, encrypt_code).await
        })
        .await
        .map_err(wechat_failed)?;
    let code_ref = code.as_str();
    let holder = state
        .tokens
        .with_token(appid, now, |token| async move {
            api.code_holder(&token, &card.card_id, code_ref).await
        })
        .await
        .map_err(wechat_failed)?;
    if holder.openid != openid {
        return Err(page(
            StatusCode::FORBIDDEN,
            "not_the_holder",
            "无法开通",
            "这张会员卡不属于当前微信用户。",
        ));
    }
    Ok(code)
}

fn observe(state: &WebState, route: &str, outcome: &Result<HttpResponse, HttpError>) {
    let label = match outcome {
        Ok(response) if response.status().is_redirection() => "redirect",
        Ok(_) => "ok",
        Err(e) => e.reason(),
    };
    state.metrics.observe_page(route, label);
}
