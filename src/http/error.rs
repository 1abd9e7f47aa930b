//! The one mapping from errors to HTTP statuses (DESIGN §4), and the JSON error body.
//!
//! Policy: every boundary has its own error enum (`ProtocolError`, `StoreError`, `IngestError`,
//! `ConfigError`); this module alone turns them into responses. Expected alternatives are enums,
//! not errors (`Recorded::New | Duplicate`). 4xx bodies name the problem; 5xx bodies are generic
//! and the details go to the log. No body ever contains a secret or the offending payload.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::credentials::TokenError;
use crate::distribution::till::Refusal;
use crate::distribution::DistributionError;
use crate::ingest::IngestError;
use crate::members::MembersError;
use crate::store::StoreError;
use crate::webhooks::WebhookError;
use crate::wechat::ProtocolError;

/// The headers of every HTML page: never cached, never framed (no clickjacking of a form), no
/// referrer (a page's URL may carry a card's encrypt_code), nothing loaded from anywhere.
pub const PAGE_HEADERS: [(&str, &str); 4] = [
    ("Cache-Control", "no-store"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'",
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    #[error("no account is configured for this AppID")]
    UnknownAccount,
    #[error(
        "/wechat without an AppID needs exactly one configured account; use /wechat/{{appid}}"
    )]
    NoDefaultAccount,
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("request body did not arrive in time")]
    BodyTimeout,
    #[error("request body could not be read")]
    BodyRead,
    #[error("no such route")]
    NotFound,
    /// A path the API has, asked with a method it does not take; `allow` lists those it takes.
    #[error("this path takes {allow} only")]
    MethodNotAllowed { allow: &'static str },
    #[error("storage is unavailable; retry later")]
    Storage(#[from] IngestError),
    #[error("storage is unavailable; retry later")]
    Query(#[from] StoreError),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("parameter `{name}` {reason}")]
    BadParam { name: &'static str, reason: String },
    #[error("{0} not found")]
    Missing(&'static str),
    #[error("{0}")]
    Conflict(&'static str),
    #[error("not ready: {0}")]
    NotReady(String),
    #[error("{}", distribution_message(.0))]
    Distribution(#[from] DistributionError),
    #[error("{}", members_message(.0))]
    Members(#[from] MembersError),
    #[error("{}", webhook_message(.0))]
    Webhook(#[from] WebhookError),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("too many requests from this address; retry in a minute")]
    TooManyRequests,
    /// An H5 page telling the customer what went wrong: HTML in Chinese for a browser, rendered
    /// by the page that refused (`web`).
    #[error("{reason}")]
    Page {
        status: StatusCode,
        /// The metric label and log reason.
        reason: &'static str,
        html: String,
    },
}

/// What a client is told: the problem for its own mistakes and WeChat's answers; storage details
/// stay in the log.
fn distribution_message(e: &DistributionError) -> String {
    match e {
        DistributionError::Store(_) | DistributionError::Credential(TokenError::Store(_)) => {
            "storage is unavailable; retry later".to_owned()
        }
        other => other.to_string(),
    }
}

fn members_message(e: &MembersError) -> String {
    match e {
        MembersError::Store(_) | MembersError::Credential(TokenError::Store(_)) => {
            "storage is unavailable; retry later".to_owned()
        }
        other => other.to_string(),
    }
}

fn webhook_message(e: &WebhookError) -> String {
    match e {
        WebhookError::Store(_) => "storage is unavailable; retry later".to_owned(),
        other => other.to_string(),
    }
}

impl HttpError {
    /// Stable snake_case reason: the JSON `error` field and the metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Protocol(e) => e.reason(),
            Self::UnknownAccount => "unknown_appid",
            Self::NoDefaultAccount => "no_default_account",
            Self::PayloadTooLarge { .. } => "body_too_large",
            Self::BodyTimeout => "body_timeout",
            Self::BodyRead => "body_read_error",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::Storage(_) | Self::Query(_) => "storage_unavailable",
            Self::Unauthorized(_) => "unauthorized",
            Self::BadParam { .. } => "bad_param",
            Self::Missing(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::NotReady(_) => "not_ready",
            Self::Forbidden(_) => "forbidden",
            Self::TooManyRequests => "too_many_requests",
            Self::Page { reason, .. } => reason,
            Self::Distribution(e) => match e {
                DistributionError::Invalid(_) => "bad_request",
                DistributionError::UnknownAccount(_)
                | DistributionError::Credential(TokenError::NoSecret(_)) => "unknown_appid",
                DistributionError::AmbiguousAccount => "appid_required",
                DistributionError::Credential(TokenError::Api(_)) => "wechat_api_error",
                DistributionError::Credential(TokenError::Busy) => "credential_busy",
                DistributionError::Store(_)
                | DistributionError::Credential(TokenError::Store(_)) => "storage_unavailable",
                DistributionError::DepositInterrupted { .. } => "deposit_interrupted",
                DistributionError::MassInterrupted { .. } => "mass_send_interrupted",
                DistributionError::Refused { refusal, .. } => match refusal {
                    Refusal::Consumed => "code_consumed",
                    Refusal::Gone => "code_gone",
                    Refusal::Unknown => "code_unknown",
                },
                DistributionError::InProgress => "in_progress",
                DistributionError::MaybeConsumed => "code_consumed_maybe_by_this_key",
            },
            Self::Members(e) => match e {
                MembersError::Import(_) | MembersError::Invalid(_) => "bad_request",
                MembersError::UnknownMember => "not_found",
                MembersError::Credential(TokenError::NoSecret(_)) => "unknown_appid",
                MembersError::Credential(TokenError::Api(_)) => "wechat_api_error",
                MembersError::Credential(TokenError::Busy) => "credential_busy",
                MembersError::Store(_) | MembersError::Credential(TokenError::Store(_)) => {
                    "storage_unavailable"
                }
            },
            Self::Webhook(e) => match e {
                WebhookError::Unknown(_) => "not_found",
                WebhookError::NotStarted(_) => "conflict",
                WebhookError::BadSeq(_) | WebhookError::WouldSkip(_) => "bad_param",
                WebhookError::Store(_) => "storage_unavailable",
            },
        }
    }
}

impl ResponseError for HttpError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Protocol(e) if e.is_authentication() => StatusCode::UNAUTHORIZED,
            Self::Protocol(_) | Self::BodyRead | Self::BadParam { .. } => StatusCode::BAD_REQUEST,
            Self::UnknownAccount | Self::NoDefaultAccount | Self::NotFound | Self::Missing(_) => {
                StatusCode::NOT_FOUND
            }
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Storage(_) | Self::Query(_) | Self::NotReady(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Self::Page { status, .. } => *status,
            Self::Distribution(e) => match e {
                DistributionError::Invalid(_) | DistributionError::AmbiguousAccount => {
                    StatusCode::BAD_REQUEST
                }
                DistributionError::UnknownAccount(_)
                | DistributionError::Credential(TokenError::NoSecret(_)) => StatusCode::NOT_FOUND,
                DistributionError::Credential(TokenError::Api(_))
                | DistributionError::DepositInterrupted { .. }
                | DistributionError::MassInterrupted { .. } => StatusCode::BAD_GATEWAY,
                DistributionError::Credential(TokenError::Busy | TokenError::Store(_))
                | DistributionError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
                DistributionError::Refused { refusal, .. } => match refusal {
                    Refusal::Consumed => StatusCode::CONFLICT,
                    Refusal::Gone => StatusCode::GONE,
                    Refusal::Unknown => StatusCode::NOT_FOUND,
                },
                // 503, not 409: a till reading 409 as "consumed" must not refuse the customer.
                DistributionError::InProgress => StatusCode::SERVICE_UNAVAILABLE,
                DistributionError::MaybeConsumed => StatusCode::CONFLICT,
            },
            Self::Members(e) => match e {
                MembersError::Import(_) | MembersError::Invalid(_) => StatusCode::BAD_REQUEST,
                MembersError::UnknownMember | MembersError::Credential(TokenError::NoSecret(_)) => {
                    StatusCode::NOT_FOUND
                }
                MembersError::Credential(TokenError::Api(_)) => StatusCode::BAD_GATEWAY,
                MembersError::Credential(TokenError::Busy | TokenError::Store(_))
                | MembersError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            },
            Self::Webhook(e) => match e {
                WebhookError::Unknown(_) => StatusCode::NOT_FOUND,
                WebhookError::NotStarted(_) => StatusCode::CONFLICT,
                WebhookError::BadSeq(_) | WebhookError::WouldSkip(_) => StatusCode::BAD_REQUEST,
                WebhookError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            },
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if self.status_code() == StatusCode::SERVICE_UNAVAILABLE {
            // WeChat retries on its own schedule; other clients get a hint.
            response.insert_header(("Retry-After", "1"));
        }
        if let Self::Unauthorized(_) = self {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        if let Self::TooManyRequests = self {
            response.insert_header(("Retry-After", "60"));
        }
        if let Self::MethodNotAllowed { allow } = self {
            response.insert_header(("Allow", *allow));
        }
        if let Self::Page { html, .. } = self {
            for header in PAGE_HEADERS {
                response.insert_header(header);
            }
            return response
                .content_type("text/html; charset=utf-8")
                .body(html.clone());
        }
        let errcode = match self {
            // The till's refusals carry WeChat's errcode (DESIGN §4).
            Self::Distribution(DistributionError::Refused { errcode, .. }) => Some(*errcode),
            Self::Distribution(DistributionError::MaybeConsumed) => {
                Some(crate::wechat_api::till::CONSUMED)
            }
            _ => None,
        };
        response.json(ErrorBody {
            error: self.reason(),
            message: self.to_string(),
            errcode,
        })
    }
}

/// Every refusal of the admin API (and the callback's): what went wrong, for programs and for people.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// A snake_case reason (`bad_param`, `not_found`, `unauthorized`, …).
    pub error: &'static str,
    pub message: String,
    /// WeChat's errcode, on the till's refusals: 40099 consumed, 40127 deleted/gifting/expired/unavailable, 40056
    /// or 40116 unknown code (absent for in_progress).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub errcode: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_design_section_4() {
        let status = |e: HttpError| e.status_code().as_u16();
        assert_eq!(status(ProtocolError::MissingParam("nonce").into()), 400);
        assert_eq!(status(ProtocolError::BadPadding.into()), 400);
        assert_eq!(status(ProtocolError::DoctypeRejected.into()), 400);
        assert_eq!(status(ProtocolError::BadSignature.into()), 401);
        assert_eq!(status(ProtocolError::AppIdMismatch.into()), 401);
        assert_eq!(status(ProtocolError::StaleTimestamp.into()), 401);
        assert_eq!(status(ProtocolError::PlaintextRejected.into()), 401);
        assert_eq!(status(HttpError::UnknownAccount), 404);
        assert_eq!(status(HttpError::PayloadTooLarge { limit: 1 }), 413);
        assert_eq!(status(HttpError::Storage(IngestError::Timeout)), 503);
        let out_of_stock = crate::wechat_api::ApiCallError::Api {
            errcode: 45031,
            errmsg: "stock is zero".into(),
        };
        let e = HttpError::from(DistributionError::from(out_of_stock));
        assert_eq!(
            (
                status(e),
                HttpError::from(DistributionError::from(
                    crate::wechat_api::ApiCallError::Timeout
                ))
                .reason()
            ),
            (502, "wechat_api_error")
        );
        let hidden = HttpError::from(DistributionError::Store(StoreError::Busy(
            "secret detail".into(),
        )));
        assert_eq!(hidden.to_string(), "storage is unavailable; retry later");
    }
}
