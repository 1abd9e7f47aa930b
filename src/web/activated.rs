//! The page of jump-style one-click activation (跳转型一键激活, `activation = "jump"`): after its own
//! form, WeChat sends the customer to `/h5/{appid}/activated?card_id&encrypt_code&outer_str&
//! activate_ticket&openid` (reference §4.4). The ticket gives the form's answers from WeChat
//! (`/card/membercard/activatetempinfo/get`: the mobile number WeChat's form verified by SMS); the
//! code comes from `encrypt_code` and its holder from WeChat (`/card/code/decrypt`, `/card/code/get`)
//! — the query's `openid` proves nothing and is not used. Then the member with that phone is bound
//! and the activation queued, as the one-click job does (`members::bind`, proof: WeChat's form).
//!
//! A ticket is used once (on every instance: `store::oauth`); the page is rate-limited per client
//! like the OAuth2 sign-in; a forged or used ticket gets a page saying so, never a 500.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

use super::{bound_page, fields, notice, observe, page, WebState};
use crate::client_address::ClientAddress;
use crate::config::{Activation, CardSettings};
use crate::credentials::TokenError;
use crate::http::error::HttpError;
use crate::members::bind::{self, Claim, Proof};
use crate::members::phone;
use crate::store::oauth;
use crate::wechat_api::ApiCallError;

/// The longest value of a parameter WeChat appends (tickets and encrypt_codes are far shorter).
const PARAM_MAX: usize = 512;

/// How long a used ticket is remembered (WeChat's tickets live far shorter).
const TICKET_MEMORY_SECS: i64 = 24 * 3600;

/// WeChat's "activate_ticket has been expired", which it also answers at random to a fresh ticket:
/// asked again once (reference §4.4).
const TICKET_EXPIRED: i64 = 72012;

/// `GET /h5/{appid}/activated`.
pub async fn show(
    req: HttpRequest,
    appid: web::Path<String>,
    state: web::Data<WebState>,
) -> Result<HttpResponse, HttpError> {
    let outcome = activated(&req, &appid, &state).await;
    observe(&state, "activated", &outcome);
    outcome
}

/// A page that sends the customer back to the card (where the form can be filled in again).
fn refused(status: StatusCode, reason: &'static str, message: &'static str) -> HttpError {
    notice(status, reason, "无法开通", message, None)
}

async fn activated(
    req: &HttpRequest,
    appid: &str,
    state: &WebState,
) -> Result<HttpResponse, HttpError> {
    if state.accounts.get(appid).is_none() {
        return Err(page(
            StatusCode::NOT_FOUND,
            "jump_not_configured",
            "页面不存在",
            "该公众号未开通会员卡激活页面。",
        ));
    }
    let now = state.clock.now();
    if !state.sign_ins.allow(ClientAddress::of(req), now) {
        return Err(refused(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            "操作过于频繁，请稍后从微信卡包中重新打开会员卡。",
        ));
    }
    let query = fields(req.query_string().as_bytes());
    let param = |name: &str| {
        query
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty() && v.len() <= PARAM_MAX)
    };
    let (Some(card_id), Some(encrypt_code), Some(ticket)) = (
        param("card_id"),
        param("encrypt_code"),
        param("activate_ticket"),
    ) else {
        return Err(refused(
            StatusCode::BAD_REQUEST,
            "link_invalid",
            "链接不完整，请从微信卡包中重新打开会员卡。",
        ));
    };
    let card = state
        .cards
        .get(card_id)
        .filter(|c| c.activation == Activation::Jump)
        .ok_or_else(|| {
            refused(
                StatusCode::NOT_FOUND,
                "card_not_jump",
                "这张会员卡未开通此激活方式。",
            )
        })?;
    // WeChat's answers first: a link that failed on WeChat's side stays usable for another try.
    let (code, holder, mobile) = from_wechat(state, appid, card, encrypt_code, ticket, now).await?;
    // Used once: the ticket's hash is kept (never the ticket itself).
    let ticket_id = format!("jump:{}", hex::encode(Sha256::digest(ticket.as_bytes())));
    let first_use = oauth::use_state(&state.db, &ticket_id, appid, now + TICKET_MEMORY_SECS, now)
        .await
        .map_err(storage_page)?;
    if !first_use {
        // Most often the customer's own reload after it worked: say so, not "cannot".
        return Err(notice(
            StatusCode::BAD_REQUEST,
            "ticket_reused",
            "链接已使用",
            "该激活链接已使用过：若已开通成功，会员卡可在微信卡包中查看；如需重新激活，请从微信卡包中打开会员卡。",
            None,
        ));
    }
    let phone = phone::normalise(&mobile).map_err(|_| {
        refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_phone",
            "表单中的手机号无法识别，请从微信卡包中重新填写。",
        )
    })?;
    let claim = Claim {
        appid,
        card,
        code: &code,
        openid: &holder,
        phone: &phone,
        tagging: state.tagging,
        stats_offset: state.stats_offset,
    };
    // WeChat verified the form's mobile number by SMS (reference 003, 一键激活).
    let outcome = bind::bind(&state.db, &claim, Proof::WeChatForm, now)
        .await
        .map_err(storage_page)?;
    bound_page(state, "jump", appid, &card.card_id, outcome).map_err(|_| {
        refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_bound",
            "未能开通：请确认填写的手机号是您在本店登记的号码，或联系店员。",
        )
    })
}

/// The code, its holder (by WeChat, not by the query) and the form's mobile number.
async fn from_wechat(
    state: &WebState,
    appid: &str,
    card: &CardSettings,
    encrypt_code: &str,
    ticket: &str,
    now: i64,
) -> Result<(String, String, String), HttpError> {
    let api = state.tokens.api();
    let ask_form = || {
        state.tokens.with_token(appid, now, |token| async move {
            api.jump_form_mobile(&token, ticket).await
        })
    };
    let mobile = match ask_form().await {
        Err(TokenError::Api(ApiCallError::Api {
            errcode: TICKET_EXPIRED,
            ..
        })) => ask_form().await,
        other => other,
    };
    let mobile = match mobile {
        Ok(Some(mobile)) => mobile,
        Ok(None) => {
            return Err(refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                "no_mobile",
                "表单中没有手机号，无法找到您的会员资料。",
            ))
        }
        Err(e) => return Err(wechat_refused(e, "ticket_invalid")),
    };
    let code = state
        .tokens
        .with_token(appid, now, |token| async move {
            api.decrypt_code(&token, encrypt_code).await
        })
        .await
        .map_err(|e| wechat_refused(e, "code_invalid"))?;
    let code_ref = code.as_str();
    let holder = state
        .tokens
        .with_token(appid, now, |token| async move {
            api.code_info(&token, code_ref, Some(&card.card_id), false)
                .await
        })
        .await
        .map_err(|e| wechat_refused(e, "code_invalid"))?;
    // A deleted, gifted or taken-back code binds nobody.
    if holder.user_card_status != "NORMAL" {
        return Err(refused(
            StatusCode::GONE,
            "code_not_normal",
            "这张会员卡已删除、转赠或失效，请从微信卡包中重新领取。",
        ));
    }
    Ok((code, holder.openid, mobile))
}

/// The database failed: a page to try again (the link is not used up when the bind did not happen).
fn storage_page(e: crate::store::StoreError) -> HttpError {
    tracing::error!(error.message = %e, "jump activation: storage failed");
    refused(
        StatusCode::SERVICE_UNAVAILABLE,
        "storage_unavailable",
        "系统繁忙，请稍后从微信卡包中重新打开会员卡。",
    )
}

/// WeChat refused (a forged or expired ticket, a code that is not the card's): a page; WeChat
/// unreachable: a page to try again later. Never a 500.
fn wechat_refused(e: TokenError, reason: &'static str) -> HttpError {
    tracing::warn!(error.message = %e, reason, "jump activation: WeChat refused or failed");
    match e {
        TokenError::Api(ApiCallError::Api { .. }) => refused(
            StatusCode::BAD_REQUEST,
            reason,
            "激活链接无效或已过期，请从微信卡包中重新打开会员卡并提交。",
        ),
        _ => refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "wechat_unavailable",
            "微信暂时无法确认您的资料，请稍后从微信卡包中重新打开会员卡。",
        ),
    }
}
