//! Events out on the admin listener (DESIGN §4): the ordered feed of domain events, `GET
//! /api/v1/events?after&limit&type&appid` → `{"events":[…],"next":SEQ}`, and the webhook
//! endpoints that get it: `GET /api/v1/webhooks`, `POST /api/v1/webhooks/{name}/retry|replay`.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::admin::AdminAuth;
use super::error::{ErrorBody, HttpError};
use super::json_body::JsonBody;
use super::responses::{AccountReads, Reads, Unauthorized};
use super::AdminState;
use crate::event_type::EventType;
use crate::store::outbox::{self, FeedEvent, Filter};
use crate::webhooks;
use crate::webhooks::EndpointView;

/// The largest page a reader gets.
pub const MAX_LIMIT: u64 = 1000;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedParams {
    /// The seq to read after (0: from the start).
    #[param(minimum = 0, maximum = 9_223_372_036_854_775_807_i64, default = 0)]
    after: Option<i64>,
    #[param(minimum = 1, maximum = 1000, default = 100)]
    limit: Option<u64>,
    /// A comma-separated list of event types.
    #[serde(rename = "type")]
    #[param(
        pattern = "^((card\\.got|card\\.deleted|card\\.consumed|card\\.gifted|card\\.activated|card\\.revoked|card\\.review|member\\.bound|member\\.points_changed|mass\\.finished|card\\.event)(,(card\\.got|card\\.deleted|card\\.consumed|card\\.gifted|card\\.activated|card\\.revoked|card\\.review|member\\.bound|member\\.points_changed|mass\\.finished|card\\.event))*)?$"
    )]
    types: Option<String>,
    appid: Option<String>,
}

impl FeedParams {
    fn filter(&self) -> Result<Filter, HttpError> {
        let after = self.after.unwrap_or(0);
        if after < 0 {
            return Err(HttpError::BadParam {
                name: "after",
                reason: "must be a seq this API returned (0 or more)".to_owned(),
            });
        }
        let limit = self.limit.unwrap_or(100);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(HttpError::BadParam {
                name: "limit",
                reason: format!("must be 1 to {MAX_LIMIT}"),
            });
        }
        let types = EventType::parse_list(self.types.as_deref().unwrap_or_default()).map_err(
            |unknown| HttpError::BadParam {
                name: "type",
                reason: format!("{unknown:?} is not an event type (DESIGN §4: card.got, …)"),
            },
        )?;
        Ok(Filter {
            after,
            limit,
            types,
            appid: self.appid.clone().filter(|a| !a.is_empty()),
            until: None,
        })
    }
}

/// A page of the feed.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Events {
    events: Vec<FeedEvent>,
    /// The `after` of the next page: the page's last seq, or the `after` asked when the page is empty.
    #[schema(minimum = 0)]
    next: i64,
}

/// GET /api/v1/events: the page after `after`, in `seq` order, and the cursor to ask from next
/// (the last seq of the page; `after` itself when the page is empty).
#[utoipa::path(get, path = "/api/v1/events",
    summary = "The ordered feed of domain events after a seq (mirrors `cardhook events tail`)",
    params(FeedParams), responses((status = 200, description = "a page of events in seq order", body = Events), AccountReads))]
pub async fn list(
    _: AdminAuth,
    params: web::Query<FeedParams>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    let filter = params.filter()?;
    let events = outbox::page(&state.db, &filter).await?;
    let next = events.last().map_or(filter.after, |e| e.seq);
    Ok(HttpResponse::Ok().json(Events { events, next }))
}

/// The webhook endpoints.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Webhooks {
    webhooks: Vec<EndpointView>,
}

/// GET /api/v1/webhooks: every endpoint and where it stands (`cardhook webhooks list`).
#[utoipa::path(get, path = "/api/v1/webhooks",
    summary = "The webhook endpoints and where each stands (mirrors `cardhook webhooks list`)",
    responses((status = 200, description = "endpoints", body = Webhooks), Unauthorized))]
pub async fn webhooks(
    _: AdminAuth,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    let views = webhooks::views(&state.db, &state.webhooks).await?;
    Ok(HttpResponse::Ok().json(Webhooks { webhooks: views }))
}

/// A retry asked for: whether an event was waiting.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct WebhookRetried {
    name: String,
    retry: bool,
}

/// POST /api/v1/webhooks/{name}/retry: the waiting event is tried now (`"retry": false` when none
/// waits).
#[utoipa::path(post, path = "/api/v1/webhooks/{name}/retry",
    summary = "Try the endpoint's waiting event now, whether backing off or failing",
    params(("name" = String, Path)),
    responses((status = 202, description = "asked for", body = WebhookRetried),
        (status = 404, description = "no endpoint of that name", body = ErrorBody),
        (status = 409, description = "the endpoint never ran", body = ErrorBody), Reads))]
pub async fn retry(
    _: AdminAuth,
    name: web::Path<String>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    let name = name.into_inner();
    let retried = webhooks::retry(&state.db, &state.webhooks, &name, state.clock.now()).await?;
    tracing::info!(endpoint = %name, retried, "webhook retry asked for");
    Ok(HttpResponse::Accepted().json(WebhookRetried {
        name,
        retry: retried,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Replay {
    /// Every event after this seq is delivered again.
    #[schema(minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    after: i64,
}

/// A replay asked for.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct WebhookReplayed {
    name: String,
    after: i64,
}

/// POST /api/v1/webhooks/{name}/replay `{"after":SEQ}`: every event after SEQ is delivered again.
#[utoipa::path(post, path = "/api/v1/webhooks/{name}/replay", summary = "Deliver again every event after a seq",
    params(("name" = String, Path)), request_body = Replay,
    responses((status = 202, description = "asked for", body = WebhookReplayed),
        (status = 404, description = "no endpoint of that name", body = ErrorBody), Reads))]
pub async fn replay(
    _: AdminAuth,
    name: web::Path<String>,
    body: JsonBody<Replay>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    let name = name.into_inner();
    let after = body.after;
    webhooks::replay(&state.db, &state.webhooks, &name, after, state.clock.now()).await?;
    tracing::info!(endpoint = %name, after, "webhook replay asked for");
    Ok(HttpResponse::Accepted().json(WebhookReplayed { name, after }))
}
