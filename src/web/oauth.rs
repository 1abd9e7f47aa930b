//! The H5 page's sign-in: WeChat OAuth2 `snsapi_base` (reference 002) for the customer's OpenID,
//! kept in a signed session cookie.
//!
//! 1. No session: 302 to WeChat's authorize page with a signed `state`, bound to a random nonce
//!    in a short-lived `HttpOnly` cookie set with the redirect (so a state from another browser
//!    is refused: no login CSRF), to the page to return to, and to an id that makes it single use.
//! 2. `GET /h5/{appid}/oauth?code&state`: the state checked (this browser's, not expired, never
//!    used before — on every instance: `store::oauth`), at most `web.sign_ins_per_minute` sign-ins
//!    per client address, the code exchanged for the OpenID, a session cookie set, back to the page.

use actix_web::cookie::{time::Duration as CookieAge, Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::Rng;

use super::signing::{Refused, Signer, SESSION_SECS, STATE_SECS};
use super::{fields, notice, observe, page, WebState};
use crate::client_address::ClientAddress;
use crate::credentials::TokenError;
use crate::http::error::HttpError;
use crate::store::oauth;
use crate::wechat_api::ApiCallError;

const SESSION_COOKIE: &str = "cardhook_session";
/// The sign-in in progress: this browser's nonce, and the page to return to.
const SIGN_IN_COOKIE: &str = "cardhook_return";

/// A signed-in customer: the OpenID, and the session it belongs to.
#[derive(Debug, Clone)]
pub struct Session {
    pub openid: String,
    pub id: String,
    /// When the session ends (the codes it read are kept that long).
    pub expires: i64,
}

/// The session of `appid` the request carries, if valid.
pub fn session(req: &HttpRequest, signer: &Signer, appid: &str, now: i64) -> Option<Session> {
    let cookie = req.cookie(SESSION_COOKIE)?;
    let (openid, id, expires) = signer.check_session(cookie.value(), appid, now).ok()?;
    Some(Session {
        openid,
        id,
        expires,
    })
}

fn cookie<'c>(state: &WebState, appid: &str, name: &'c str, value: String, age: i64) -> Cookie<'c> {
    Cookie::build(name, value)
        .path(format!("/h5/{appid}/"))
        .http_only(true)
        // Lax: the cookies must come back on the top-level GET from WeChat's authorize page.
        .same_site(SameSite::Lax)
        .secure(state.secure_cookies)
        .max_age(CookieAge::seconds(age))
        .finish()
}

fn random_hex() -> String {
    format!("{:032x}", rand::thread_rng().gen::<u128>())
}

/// 302 to WeChat's authorize page: the parameters in exactly the documented order (WeChat checks
/// it), `#wechat_redirect` at the end (reference 002).
pub fn authorize(
    state: &WebState,
    signer: &Signer,
    appid: &str,
    req: &HttpRequest,
    now: i64,
) -> HttpResponse {
    let return_to = format!("{}?{}", req.path(), req.query_string());
    let browser = random_hex();
    let oauth_state = signer.state(appid, &return_to, &browser, now, rand::random());
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
    let sign_in = format!("{browser}.{}", URL_SAFE_NO_PAD.encode(return_to));
    HttpResponse::Found()
        .insert_header(("Location", location))
        .insert_header(("Cache-Control", "no-store"))
        .cookie(cookie(state, appid, SIGN_IN_COOKIE, sign_in, STATE_SECS))
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

/// The sign-in cookie of `appid`: the browser's nonce and the page to return to.
fn sign_in_cookie(req: &HttpRequest, appid: &str) -> Option<(String, String)> {
    let cookie = req.cookie(SIGN_IN_COOKIE)?;
    let (browser, encoded) = cookie.value().split_once('.')?;
    let return_to = String::from_utf8(URL_SAFE_NO_PAD.decode(encoded).ok()?).ok()?;
    return_to
        .starts_with(&format!("/h5/{appid}/activate?"))
        .then(|| (browser.to_owned(), return_to))
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
    let sign_in = sign_in_cookie(req, appid);
    let again = sign_in.as_ref().map(|(_, back)| back.clone());
    let refused =
        |status, reason, message| notice(status, reason, "无法开通", message, again.as_deref());
    let now = state.clock.now();
    let checked = match (&sign_in, query.get("state")) {
        (Some((browser, back)), Some(oauth_state)) => {
            signer.check_state(oauth_state, appid, back, browser, now)
        }
        _ => Err(Refused::Malformed),
    };
    let (state_id, expires) = checked.map_err(|refused_as| match refused_as {
        Refused::Expired => refused(
            StatusCode::BAD_REQUEST,
            "state_expired",
            "授权已过期，请重新打开会员卡。",
        ),
        Refused::Malformed | Refused::Forged => refused(
            StatusCode::BAD_REQUEST,
            "state_invalid",
            "授权信息无效，请从微信卡包中重新打开会员卡。",
        ),
    })?;
    let client = ClientAddress::of(req);
    if !state.sign_ins.allow(client, now) {
        return Err(refused(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_sign_ins",
            "操作过于频繁，请稍后重新打开会员卡。",
        ));
    }
    if !oauth::use_state(&state.db, &state_id, appid, expires, now).await? {
        return Err(refused(
            StatusCode::BAD_REQUEST,
            "state_reused",
            "授权链接已使用过，请重新打开会员卡。",
        ));
    }
    let Some(code) = query.get("code").filter(|c| !c.is_empty()) else {
        // The customer did not allow it (reference 002: then only `state` comes back).
        return Err(refused(
            StatusCode::FORBIDDEN,
            "oauth_refused",
            "需要您的授权才能开通会员卡。",
        ));
    };
    let openid = state.tokens.oauth_openid(appid, code).await.map_err(|e| {
        tracing::warn!(appid, error.message = %e, "OAuth2 code exchange failed");
        match &e {
            // 40029 invalid code, 40163 code already used: start the authorization again.
            TokenError::Api(ApiCallError::Api {
                errcode: 40029 | 40163,
                ..
            }) => refused(
                StatusCode::BAD_REQUEST,
                "oauth_code_invalid",
                "授权已失效，请点击重新打开。",
            ),
            _ => refused(
                StatusCode::BAD_GATEWAY,
                "wechat_unavailable",
                "微信暂时无法完成授权，请稍后重新打开。",
            ),
        }
    })?;
    let back = again.unwrap_or_else(|| format!("/h5/{appid}/activate"));
    let mut gone = cookie(state, appid, SIGN_IN_COOKIE, String::new(), 0);
    gone.make_removal();
    let session = signer.session(appid, &openid, &random_hex(), now);
    Ok(HttpResponse::Found()
        .insert_header(("Location", back))
        .insert_header(("Cache-Control", "no-store"))
        .cookie(cookie(state, appid, SESSION_COOKIE, session, SESSION_SECS))
        .cookie(gone)
        .finish())
}
