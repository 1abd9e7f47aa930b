//! Events out on the admin listener (DESIGN §4): the ordered feed of domain events, `GET
//! /api/v1/events?after&limit&type&appid` → `{"events":[…],"next":SEQ}`, and the webhook
//! endpoints that get it: `GET /api/v1/webhooks`, `POST /api/v1/webhooks/{name}/retry|replay`.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::admin::AdminAuth;
use super::error::HttpError;
use super::AdminState;
use crate::event_type::EventType;
use crate::store::outbox::{self, Filter};
use crate::webhooks;

/// The largest page a reader gets.
pub const MAX_LIMIT: u64 = 1000;

#[derive(Debug, Deserialize)]
pub struct FeedParams {
    after: Option<i64>,
    limit: Option<u64>,
    #[serde(rename = "type")]
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

/// GET /api/v1/events: the page after `after`, in `seq` order, and the cursor to ask from next
/// (the last seq of the page; `after` itself when the page is empty).
pub async fn list(
    _: AdminAuth,
    params: web::Query<FeedParams>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    let filter = params.filter()?;
    let events = outbox::page(&state.db, &filter).await?;
    let next = events.last().map_or(filter.after, |e| e.seq);
    Ok(HttpResponse::Ok().json(serde_json::json!({ "events": events, "next": next })))
}

/// GET /api/v1/webhooks: every endpoint and where it stands (`cardhook webhooks list`).
pub async fn webhooks(
    _: AdminAuth,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    let views = webhooks::views(&state.db, &state.webhooks).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "webhooks": views })))
}

/// POST /api/v1/webhooks/{name}/retry: the waiting event is tried now (`"retry": false` when none
/// waits).
pub async fn retry(
    _: AdminAuth,
    name: web::Path<String>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    let name = name.into_inner();
    let retried = webhooks::retry(&state.db, &state.webhooks, &name, state.clock.now()).await?;
    tracing::info!(endpoint = %name, retried, "webhook retry asked for");
    Ok(HttpResponse::Accepted().json(serde_json::json!({ "name": name, "retry": retried })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replay {
    after: i64,
}

/// POST /api/v1/webhooks/{name}/replay `{"after":SEQ}`: every event after SEQ is delivered again.
pub async fn replay(
    _: AdminAuth,
    name: web::Path<String>,
    body: web::Json<Replay>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    let name = name.into_inner();
    let after = body.after;
    webhooks::replay(&state.db, &state.webhooks, &name, after, state.clock.now()).await?;
    tracing::info!(endpoint = %name, after, "webhook replay asked for");
    Ok(HttpResponse::Accepted().json(serde_json::json!({ "name": name, "after": after })))
}
