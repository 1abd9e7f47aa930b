//! The callback endpoint: URL verification (GET) and pushes (POST) in plain, compat and safe mode.
//!
//! A push is authenticated, decrypted and parsed here, then handed to the ingest writer; it is
//! answered `success` only after its transaction committed (DESIGN §1). No WeChat API call ever
//! happens on this path.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use actix_web::http::header::ContentType;
use actix_web::{web, HttpRequest, HttpResponse};

use super::body::read_limited;
use super::error::HttpError;
use super::AppState;
use crate::accounts::Account;
use crate::store::push::{Incoming, Recorded};
use crate::wechat::events::{self, Unparsed};
use crate::wechat::query::{self, CallbackQuery};
use crate::wechat::{crypto, signature, xml, Mode, ProtocolError};

/// GET /wechat/{appid} of a configured account, and GET /wechat when it is the only one (the
/// account is the route's own data: see `callback_routes`).
pub async fn verify_routed(
    req: HttpRequest,
    account: web::Data<Account>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    verify(&req, Ok(&account.into_inner()), &state)
}

/// POST /wechat/{appid} of a configured account, and POST /wechat when it is the only one.
pub async fn receive_routed(
    req: HttpRequest,
    account: web::Data<Account>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    receive(req, Ok(account.into_inner()), payload, state).await
}

/// GET /wechat/{appid} of any other AppID
pub async fn verify_for(
    req: HttpRequest,
    appid: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    verify(
        &req,
        state.accounts.get(&appid).ok_or(HttpError::UnknownAccount),
        &state,
    )
}

/// GET /wechat when not exactly one account is configured
pub async fn verify_single(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    verify(
        &req,
        state.accounts.single().ok_or(HttpError::NoDefaultAccount),
        &state,
    )
}

/// POST /wechat/{appid} of any other AppID
pub async fn receive_for(
    req: HttpRequest,
    appid: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let account = state
        .accounts
        .get(&appid)
        .cloned()
        .ok_or(HttpError::UnknownAccount);
    receive(req, account, payload, state).await
}

/// POST /wechat when not exactly one account is configured
pub async fn receive_single(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let account = state
        .accounts
        .single()
        .cloned()
        .ok_or(HttpError::NoDefaultAccount);
    receive(req, account, payload, state).await
}

/// The handshake: check `signature`, answer `echostr` byte for byte. The Official Account never
/// encrypts echostr, also not in safe mode (reference §1.1).
fn verify(
    req: &HttpRequest,
    account: Result<&Arc<Account>, HttpError>,
    state: &AppState,
) -> Result<HttpResponse, HttpError> {
    let started = Instant::now();
    let label = state.appid_label(account.as_ref().ok().map(|a| a.appid.as_str()));
    let result = account.and_then(|account| {
        let q = authenticate(req.query_string(), account, state)?;
        let echostr = q.echostr.ok_or(ProtocolError::MissingParam("echostr"))?;
        Ok(echostr)
    });
    match result {
        Ok(echostr) => {
            state.metrics.observe_push(
                label,
                "verify",
                "verified",
                started.elapsed().as_secs_f64(),
            );
            // Echoed verbatim: plain text, never sniffed as HTML.
            Ok(HttpResponse::Ok()
                .content_type(ContentType::plaintext())
                .insert_header(("X-Content-Type-Options", "nosniff"))
                .body(echostr))
        }
        Err(e) => Err(state.reject(req, label, "verify", e, started)),
    }
}

async fn receive(
    req: HttpRequest,
    account: Result<Arc<Account>, HttpError>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let started = Instant::now();
    let label = state.appid_label(account.as_ref().ok().map(|a| a.appid.as_str()));
    let account = match account {
        Ok(account) => account,
        Err(e) => return Err(state.reject(&req, label, "none", e, started)),
    };
    // One span per push: appid now, event and card_id once the message is opened.
    let span = tracing::info_span!("push", appid = %account.appid, event = tracing::field::Empty, card_id = tracing::field::Empty);
    let stored = {
        use tracing::Instrument;
        store_push(&req, &account, payload, &state)
            .instrument(span.clone())
            .await
    };
    let _entered = span.enter();
    match stored {
        Ok(Stored {
            event,
            recorded,
            unparsed,
        }) => {
            let outcome = match recorded {
                Recorded::New => "stored",
                Recorded::Duplicate => "duplicate",
            };
            tracing::info!(outcome, "push");
            if recorded == Recorded::New && !unparsed.is_empty() {
                // WeChat's word all the same: stored whole, and the fields it left out named
                // (never their values) for `cardhook events unparsed`.
                let fields: Vec<&str> = unparsed.iter().map(|u| u.field).collect();
                tracing::warn!(event, fields = ?fields, "push stored with fields that could not be read");
                for u in &unparsed {
                    state.metrics.observe_unparsed(event, u.field);
                }
            }
            state
                .metrics
                .observe_push(label, event, outcome, started.elapsed().as_secs_f64());
            Ok(HttpResponse::Ok()
                .content_type(ContentType::plaintext())
                .body("success"))
        }
        Err(e) => Err(state.reject(&req, label, "none", e, started)),
    }
}

/// What storing one push did: its event label, whether it was new, the fields it left out.
struct Stored {
    event: &'static str,
    recorded: Recorded,
    unparsed: Vec<Unparsed>,
}

/// Authenticate, decrypt, parse and durably record one push.
async fn store_push(
    req: &HttpRequest,
    account: &Account,
    payload: web::Payload,
    state: &AppState,
) -> Result<Stored, HttpError> {
    let q = authenticate(req.query_string(), account, state)?;
    let body = read_limited(req, payload, state.max_body_bytes, state.body_timeout).await?;
    let body = std::str::from_utf8(&body).map_err(|_| ProtocolError::BadUtf8)?;
    let message_xml = open(&q, account, body)?;
    let message = events::parse(&message_xml)?;
    // A bounded metric label: the event's name when it is one cardhook knows, `other` else.
    let event = events::label(&message);
    let span = tracing::Span::current();
    span.record("event", event);
    if let Some(card_id) = message.event.card_id() {
        span.record("card_id", card_id.as_str());
    }
    let unparsed = message.unparsed.clone();
    let mut push = Incoming::new(
        account.appid.clone(),
        message,
        message_xml.into_owned(),
        state.clock.now(),
    );
    // Only a plain-mode push is unsigned: its query may bring one body, once.
    push.query_key = (account.mode == Mode::Plain)
        .then(|| format!("{}|{}|{}", account.appid, q.timestamp, q.nonce));
    let recorded = state.ingest.record(push).await?;
    Ok(Stored {
        event,
        recorded,
        unparsed,
    })
}

/// Check the query: parameters, `signature`, and the timestamp window.
fn authenticate(
    raw_query: &str,
    account: &Account,
    state: &AppState,
) -> Result<CallbackQuery, HttpError> {
    let q = query::parse(raw_query)?;
    signature::verify_signature(&q.signature, account.token(), &q.timestamp, &q.nonce)?;
    query::check_freshness(
        q.timestamp_secs,
        state.clock.now(),
        state.timestamp_tolerance_secs,
    )?;
    Ok(q)
}

/// The message a push carries: the body itself in plain mode; in compat and safe mode the
/// decrypted `Encrypt`, authenticated by `msg_signature`. The URL's `signature` does not cover the
/// body, so an account in compat mode, like one in safe mode, refuses a push without
/// `msg_signature`, and never reads the plaintext beside the ciphertext.
fn open<'b>(
    q: &CallbackQuery,
    account: &Account,
    body: &'b str,
) -> Result<Cow<'b, str>, ProtocolError> {
    let Some(msg_signature) = q.msg_signature.as_deref() else {
        if account.mode != Mode::Plain {
            return Err(ProtocolError::PlaintextRejected);
        }
        return Ok(Cow::Borrowed(body));
    };
    let key = account.aes_key().ok_or(ProtocolError::NoAesKey)?;
    let encrypt = xml::parse_envelope(body)?
        .encrypt
        .ok_or(ProtocolError::Xml {
            field: "Encrypt",
            reason: "missing",
        })?;
    signature::verify_msg_signature(
        msg_signature,
        account.token(),
        &q.timestamp,
        &q.nonce,
        &encrypt,
    )?;
    crypto::decrypt(key, &encrypt, account.appid.as_str()).map(Cow::Owned)
}
