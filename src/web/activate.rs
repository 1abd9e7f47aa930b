//! The H5 activation page (`activation = "h5"`): the card's `activate_url` in WeChat points at
//! `GET /h5/{appid}/activate?card_id&encrypt_code`.
//!
//! 1. Without a session, the customer signs in first (`oauth`).
//! 2. With a session: the code behind `encrypt_code` read from WeChat (`/card/code/decrypt`) and
//!    checked to belong to the session's OpenID (`/card/code/get`) — once per session and code
//!    (`session_codes`) — then a form asks for the phone number.
//! 3. `POST /h5/{appid}/sms`: a 6-digit code sent to that phone (`[sms]`), within the limits of
//!    `store::sms`. The answer is the same whatever the phone: the send tells nobody whether a
//!    phone is a member's.
//! 4. `POST /h5/{appid}/activate` with the phone and the code: the code checked, the member
//!    found, the card bound and its activation queued in one transaction (`members::bind`). Every
//!    refusal reads the same; the log and the metrics keep the reason (never the phone).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use rand::Rng;

use super::oauth::{self, Session};
use super::pages::{self, Form};
use super::session_codes::Lookup;
use super::signing::Signer;
use super::{bound_page, fields, html, notice, observe, page, page_response, SmsCodes, WebState};
use crate::client_address::ClientAddress;
use crate::config::CardSettings;
use crate::credentials::TokenError;
use crate::http::error::HttpError;
use crate::members::bind::{self, Claim, Proof};
use crate::members::phone;
use crate::sms::Message;
use crate::store::{members, sms};
use crate::wechat_api::ApiCallError;

/// The one answer to every refused binding: an unknown phone, a member bound elsewhere, a wrong,
/// expired or burnt code all read the same.
const REFUSED: &str =
    "手机号或验证码不正确，或该手机号无法开通这张会员卡。请核对后重新获取验证码，或联系门店。";

/// `encrypt_code` as WeChat sent it: base64, whose `+` a form decoder reads as a space.
fn encrypt_code(fields: &std::collections::HashMap<String, String>) -> Option<String> {
    fields
        .get("encrypt_code")
        .map(|code| code.replace(' ', "+"))
        .filter(|code| !code.is_empty())
}

/// The page's card and signer; pages saying why not.
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
    let Some(session) = oauth::session(req, signer, appid, now) else {
        return Ok(oauth::authorize(state, signer, appid, req, now));
    };
    let code = owned_code(state, appid, card, &encrypt_code, &session, now).await?;
    if let Some(member) = members::by_code(&state.db, appid, &card.card_id, &code).await? {
        return Ok(html(pages::bound(&member.member_no, true)));
    }
    let csrf = signer.csrf(appid, &session.openid, now);
    Ok(html(pages::form(&Form {
        base: &format!("/h5/{appid}"),
        card_id: &card.card_id,
        encrypt_code: &encrypt_code,
        csrf: &csrf,
        code_sent_to: None,
        message: None,
    })))
}

/// A posted form of the page, checked: its card, its code's owner (the session), its CSRF token.
struct Posted<'s> {
    sms: &'s SmsCodes,
    card: &'s CardSettings,
    signer: &'s Signer,
    session: Session,
    fields: std::collections::HashMap<String, String>,
    encrypt_code: String,
    now: i64,
}

impl Posted<'_> {
    /// The plaintext code of the form's card, which the session's OpenID holds (`owned_code`).
    async fn code(&self, state: &WebState, appid: &str) -> Result<String, HttpError> {
        owned_code(
            state,
            appid,
            self.card,
            &self.encrypt_code,
            &self.session,
            self.now,
        )
        .await
    }

    /// The typed phone, normalised (None: not a mainland mobile number).
    fn phone(&self) -> Option<String> {
        let typed = self
            .fields
            .get("phone")
            .map(String::as_str)
            .unwrap_or_default();
        phone::normalise(typed).ok()
    }

    /// The first step again, saying what a phone number looks like.
    fn bad_phone(&self, appid: &str) -> HttpResponse {
        self.form_again(
            appid,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            "请输入正确的 11 位手机号。",
        )
    }

    /// The form again, with `message`, at step `code_sent_to`, with a fresh CSRF token.
    fn form_again(
        &self,
        appid: &str,
        status: StatusCode,
        code_sent_to: Option<&str>,
        message: impl Into<Option<&'static str>>,
    ) -> HttpResponse {
        let csrf = self.signer.csrf(appid, &self.session.openid, self.now);
        page_response(
            status,
            pages::form(&Form {
                base: &format!("/h5/{appid}"),
                card_id: &self.card.card_id,
                encrypt_code: &self.encrypt_code,
                csrf: &csrf,
                code_sent_to,
                message: message.into(),
            }),
        )
    }

    /// Store a fresh code for the phone (within the limits), send it, and take it back if the
    /// send fails.
    async fn send_code(
        &self,
        state: &WebState,
        appid: &str,
        phone: &str,
        client: &str,
    ) -> Result<Sent, HttpError> {
        let code = format!("{:06}", rand::thread_rng().gen_range(0..1_000_000));
        let phone_key = self.signer.phone_key(appid, phone);
        let code_hash = self.signer.code_hash(appid, phone, &code);
        let new = sms::NewCode {
            appid,
            phone_key: &phone_key,
            openid: &self.session.openid,
            client,
            code_hash: &code_hash,
            expires_at: self.now + self.sms.ttl_secs as i64,
        };
        let send_id = match sms::reserve(&state.db, &new, self.now).await? {
            sms::Reserved::Yes { send_id } => send_id,
            sms::Reserved::Limited(limit) => {
                tracing::info!(appid, limit, "SMS code not sent: a limit is reached");
                state.metrics.observe_sms(limit);
                return Ok(Sent::Limited);
            }
        };
        let message = Message {
            appid,
            phone,
            code: &code,
            ttl_secs: self.sms.ttl_secs,
        };
        match self.sms.sender.send(&message, self.now).await {
            Ok(()) => {
                tracing::info!(appid, "SMS code sent");
                state.metrics.observe_sms("sent");
                Ok(Sent::Yes)
            }
            Err(e) if e.surely_unsent() => {
                tracing::warn!(appid, error.message = %e, "SMS code could not be sent");
                state.metrics.observe_sms("send_failed");
                sms::release(&state.db, &new, send_id).await?;
                Ok(Sent::Failed)
            }
            Err(e) => {
                // It may have gone out: the code stays good and the send counts.
                tracing::warn!(appid, error.message = %e, "SMS code may not have been sent");
                state.metrics.observe_sms("send_unknown");
                Ok(Sent::Maybe)
            }
        }
    }
}

/// Read and check a posted form (both POSTs of the page).
async fn posted<'s>(
    req: &HttpRequest,
    appid: &str,
    payload: web::Payload,
    state: &'s WebState,
) -> Result<Posted<'s>, HttpError> {
    let body = state.read_body(req, payload).await?;
    let form = fields(&body);
    let (card, signer) = context(state, appid, form.get("card_id"))?;
    let sms = state.sms.as_deref().ok_or_else(|| {
        page(
            StatusCode::NOT_FOUND,
            "h5_not_configured",
            "页面不存在",
            "该公众号未开通短信验证。",
        )
    })?;
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
    let session_expired = |reason| {
        notice(
            StatusCode::FORBIDDEN,
            reason,
            "请重新打开",
            "页面已过期，请重新打开后再提交。",
            Some(&again),
        )
    };
    let session =
        oauth::session(req, signer, appid, now).ok_or_else(|| session_expired("no_session"))?;
    let csrf_ok = form
        .get("csrf")
        .is_some_and(|token| signer.check_csrf(token, appid, &session.openid, now));
    if !csrf_ok {
        return Err(session_expired("bad_csrf"));
    }
    Ok(Posted {
        sms,
        card,
        signer,
        session,
        fields: form,
        encrypt_code,
        now,
    })
}

/// `POST /h5/{appid}/sms`: form fields `card_id`, `encrypt_code`, `phone`, `csrf`.
pub async fn send_code(
    req: HttpRequest,
    appid: web::Path<String>,
    payload: web::Payload,
    state: web::Data<WebState>,
) -> Result<HttpResponse, HttpError> {
    let outcome = send_code_form(&req, &appid, payload, &state).await;
    observe(&state, "sms", &outcome);
    outcome
}

async fn send_code_form(
    req: &HttpRequest,
    appid: &str,
    payload: web::Payload,
    state: &WebState,
) -> Result<HttpResponse, HttpError> {
    let post = posted(req, appid, payload, state).await?;
    let Some(phone) = post.phone() else {
        return Ok(post.bad_phone(appid));
    };
    // Only a session holding one of the page's cards sends codes (and this costs no call twice).
    let code = post.code(state, appid).await?;
    if let Some(member) = members::by_code(&state.db, appid, &post.card.card_id, &code).await? {
        return Ok(html(pages::bound(&member.member_no, true)));
    }
    let client = ClientAddress::of(req).to_string();
    match post.send_code(state, appid, &phone, &client).await? {
        Sent::Yes => Ok(post.form_again(appid, StatusCode::OK, Some(&phone), None)),
        Sent::Limited => Ok(post.form_again(
            appid,
            StatusCode::TOO_MANY_REQUESTS,
            Some(&phone),
            "验证码发送过于频繁，请稍后再试；已收到的验证码仍可使用。",
        )),
        Sent::Maybe => Ok(post.form_again(
            appid,
            StatusCode::BAD_GATEWAY,
            Some(&phone),
            "短信发送超时：如收到验证码请填写，未收到请一分钟后重新获取。",
        )),
        Sent::Failed => Ok(post.form_again(
            appid,
            StatusCode::BAD_GATEWAY,
            None,
            "短信发送失败，请稍后重试。",
        )),
    }
}

/// What became of a send.
enum Sent {
    Yes,
    Limited,
    Failed,
    /// The provider did not answer in time: the code may arrive.
    Maybe,
}

/// `POST /h5/{appid}/activate`: form fields `card_id`, `encrypt_code`, `phone`, `sms_code`, `csrf`.
pub async fn submit(
    req: HttpRequest,
    appid: web::Path<String>,
    payload: web::Payload,
    state: web::Data<WebState>,
) -> Result<HttpResponse, HttpError> {
    let outcome = submit_form(&req, &appid, payload, &state).await;
    observe(&state, "submit", &outcome);
    outcome
}

async fn submit_form(
    req: &HttpRequest,
    appid: &str,
    payload: web::Payload,
    state: &WebState,
) -> Result<HttpResponse, HttpError> {
    let post = posted(req, appid, payload, state).await?;
    let Some(phone) = post.phone() else {
        return Ok(post.bad_phone(appid));
    };
    let sms_code = post
        .fields
        .get("sms_code")
        .map(|c| c.trim())
        .unwrap_or_default();
    if sms_code.len() != 6 || !sms_code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(post.form_again(
            appid,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(&phone),
            "请输入短信中的 6 位数字验证码。",
        ));
    }
    let code = post.code(state, appid).await?;
    let claim = Claim {
        appid,
        card: post.card,
        code: &code,
        openid: &post.session.openid,
        phone: &phone,
        tagging: state.tagging,
        stats_offset: state.stats_offset,
    };
    let phone_key = post.signer.phone_key(appid, &phone);
    let code_hash = post.signer.code_hash(appid, &phone, sms_code);
    let proof = Proof::SmsCode {
        phone_key: &phone_key,
        code_hash: &code_hash,
        max_tries: post.sms.max_tries,
    };
    let outcome = bind::bind(&state.db, &claim, proof, post.now).await?;
    if let Err(bind::Refusal::Unproven(checked)) = &outcome {
        state.metrics.observe_sms(checked.label());
    }
    match bound_page(state, "h5", appid, &post.card.card_id, outcome) {
        Ok(page) => Ok(page),
        Err(_) => Ok(post.form_again(
            appid,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(&phone),
            REFUSED,
        )),
    }
}

/// The plaintext code behind `encrypt_code`, when the card holding it belongs to the session's
/// OpenID: read from WeChat once per session and code, and only a few codes per session.
async fn owned_code(
    state: &WebState,
    appid: &str,
    card: &CardSettings,
    encrypt_code: &str,
    session: &Session,
    now: i64,
) -> Result<String, HttpError> {
    let looked_up = state.session_codes.lookup(
        &session.id,
        session.expires,
        &card.card_id,
        encrypt_code,
        now,
    );
    match looked_up {
        Lookup::Known(code) => return Ok(code),
        Lookup::Allowed => {}
        Lookup::Exhausted => {
            return Err(page(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_codes",
                "请重新打开",
                "本次访问已查询过多张卡券，请从微信卡包中重新打开会员卡。",
            ))
        }
    }
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
            api.code_info(&token, code_ref, Some(&card.card_id), false)
                .await
        })
        .await
        .map_err(wechat_failed)?;
    if holder.openid != session.openid {
        return Err(page(
            StatusCode::FORBIDDEN,
            "not_the_holder",
            "无法开通",
            "这张会员卡不属于当前微信用户。",
        ));
    }
    state
        .session_codes
        .remember(&session.id, &card.card_id, encrypt_code, &code);
    Ok(code)
}
