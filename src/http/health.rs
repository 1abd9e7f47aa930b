//! Liveness, readiness and the Prometheus endpoint of the admin listener.

use actix_web::{web, HttpResponse};
use migration::{Migrator, MigratorTrait};

use super::admin::AdminAuth;
use super::error::{ErrorBody, HttpError};
use super::AdminState;
use crate::store::jobs;

/// `{"status": "ok" | "ready"}`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Status {
    status: &'static str,
}

/// GET /healthz — the process is up (no authentication).
#[utoipa::path(get, path = "/healthz", summary = "The process is up", security(()),
    responses((status = 200, description = "alive", body = Status)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Status { status: "ok" })
}

/// GET /readyz — the database answers, its schema is current, and the last commit succeeded.
#[utoipa::path(get, path = "/readyz", summary = "The database answers and migrations are current",
    responses((status = 200, description = "ready", body = Status),
        (status = 401, description = "no `Authorization: Bearer <admin.token>`, or the wrong token", body = ErrorBody),
        (status = 503, description = "not ready", body = ErrorBody)))]
pub async fn readyz(_: AdminAuth, state: web::Data<AdminState>) -> Result<HttpResponse, HttpError> {
    if let Some(reason) = state
        .storage_health
        .failure()
        .filter(|_| state.storage_health.halted())
    {
        return Err(HttpError::NotReady(format!(
            "storage failed ({reason}); cardhook is stopping so that its supervisor restarts it"
        )));
    }
    if let Some(file) = &state.database_file {
        // An open SQLite pool keeps answering from a deleted file: look at the file itself.
        file.check().map_err(HttpError::NotReady)?;
    }
    state
        .db
        .connection()
        .ping()
        .await
        .map_err(|e| HttpError::NotReady(format!("database does not answer: {e}")))?;
    let pending = Migrator::get_pending_migrations(&state.db)
        .await
        .map_err(|e| HttpError::NotReady(format!("migrations cannot be read: {e}")))?;
    if !pending.is_empty() {
        return Err(HttpError::NotReady(format!(
            "{} migration(s) pending: run `cardhook migrate`",
            pending.len()
        )));
    }
    if let Some(reason) = state.storage_health.failure() {
        return Err(HttpError::NotReady(format!(
            "the last commit failed ({reason}); pushes get 503 until one succeeds"
        )));
    }
    Ok(HttpResponse::Ok().json(Status { status: "ready" }))
}

/// GET /metrics — Prometheus text format; job gauges are read from the database at scrape time.
#[utoipa::path(get, path = "/metrics", summary = "Prometheus text format",
    responses((status = 200, description = "metrics", body = String, content_type = "text/plain"),
        (status = 401, description = "no `Authorization: Bearer <admin.token>`, or the wrong token", body = ErrorBody)))]
pub async fn metrics(_: AdminAuth, state: web::Data<AdminState>) -> HttpResponse {
    match jobs::count_by_state(&state.db).await {
        Ok(counts) => state.metrics.set_jobs(&counts),
        Err(e) => tracing::warn!(error.message = %e, "job counts unavailable for /metrics"),
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}
