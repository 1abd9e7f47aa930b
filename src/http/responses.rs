//! The refusals an admin route documents besides its own answers (`#[utoipa::path]`'s `responses`): sets of
//! statuses with the `Error` body, shared by the routes that answer them.

use std::collections::BTreeMap;

use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{IntoResponses, ToSchema};

use super::error::ErrorBody;

/// A refusal with the `Error` body.
fn refusal(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(ErrorBody::name())))
                .build(),
        )
        .build()
        .into()
}

const BAD: &str = "a parameter or the body is not what this operation takes (the message names it)";
const UNAUTHORIZED: &str = "no `Authorization: Bearer <admin.token>`, or the wrong token";
const UNAVAILABLE: &str = "storage is unavailable; retry later";

fn statuses(list: &[(&str, &str)]) -> BTreeMap<String, RefOr<Response>> {
    list.iter()
        .map(|(status, description)| (status.to_string(), refusal(description)))
        .collect()
}

/// What a read may answer besides its own: 400, 401, 503.
pub struct Reads;

impl IntoResponses for Reads {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        statuses(&[("400", BAD), ("401", UNAUTHORIZED), ("503", UNAVAILABLE)])
    }
}

/// A read of one account's data: 400, 401, 404 (no such account), 503.
pub struct AccountReads;

impl IntoResponses for AccountReads {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        statuses(&[
            ("400", BAD),
            ("401", UNAUTHORIZED),
            ("404", "no account is configured for this AppID (or none with an app_secret), or no such resource"),
            ("503", UNAVAILABLE),
        ])
    }
}

/// What a route that calls WeChat may answer besides its own: 400, 401, 404, 502, 503.
pub struct WeChatCalls;

impl IntoResponses for WeChatCalls {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        statuses(&[
            ("400", "the request is wrong (the message names the field), or appid is needed"),
            ("401", UNAUTHORIZED),
            ("404", "no account with an app_secret for appid"),
            (
                "502",
                "WeChat refused the call: the message carries its errcode and meaning (45031 out of stock, 40073 \
                 invalid card_id, …), or WeChat could not be reached",
            ),
            ("503", "storage unavailable, or another process is fetching the credential"),
        ])
    }
}

/// What both of the till's routes may answer besides their own: 401, 410 (with WeChat's errcode), 502.
pub struct TillCalls;

impl IntoResponses for TillCalls {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        statuses(&[
            ("401", UNAUTHORIZED),
            (
                "410",
                "deleted by its holder, being gifted, expired or unavailable (errcode 40127)",
            ),
            ("502", "WeChat refused otherwise or could not be reached"),
        ])
    }
}

/// Only the bearer token can be wrong, or storage unavailable: 401, 503.
pub struct Unauthorized;

impl IntoResponses for Unauthorized {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        statuses(&[("401", UNAUTHORIZED), ("503", UNAVAILABLE)])
    }
}
