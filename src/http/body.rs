//! Reading a request body with a size limit and a deadline, never buffering more than the limit.

use std::time::Duration;

use actix_web::http::header::CONTENT_LENGTH;
use actix_web::web::{Bytes, BytesMut, Payload};
use actix_web::HttpRequest;
use futures_util::StreamExt;

use super::error::HttpError;

/// Read the whole body, refusing it (413) as soon as it is known to exceed `limit` — from the
/// declared Content-Length, or while streaming — and giving up (408) after `deadline`.
pub async fn read_limited(
    req: &HttpRequest,
    mut payload: Payload,
    limit: usize,
    deadline: Duration,
) -> Result<Bytes, HttpError> {
    let declared_len: Option<usize> = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    if declared_len.is_some_and(|len| len > limit) {
        return Err(HttpError::PayloadTooLarge { limit });
    }
    let read = async {
        let mut body = BytesMut::with_capacity(declared_len.unwrap_or(1024).min(limit));
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|_| HttpError::BodyRead)?;
            if body.len() + chunk.len() > limit {
                return Err(HttpError::PayloadTooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    };
    tokio::time::timeout(deadline, read)
        .await
        .unwrap_or(Err(HttpError::BodyTimeout))
}
