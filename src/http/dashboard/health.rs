//! The health page (the job queue, dead jobs, webhook endpoints, the database, the last pushes)
//! and the one write of the dashboard: a dead job's retry.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, FixedOffset};
use serde::Deserialize;

use super::{checked_post, frame, html, pages, see_other, signed_in, unavailable, CsrfForm};
use crate::http::error::HttpError;
use crate::http::AdminState;
use crate::store::jobs::{self, JobState};
use crate::store::size::{self, DatabaseSize};
use crate::store::{events, StoreError};

/// What the last retry did, as the page after it is asked to say.
#[derive(Debug, Default, Deserialize)]
struct Notice {
    retried: Option<i64>,
    not_dead: Option<i64>,
    missing: Option<i64>,
}

impl Notice {
    fn text(&self) -> Option<(bool, String)> {
        match (self.retried, self.not_dead, self.missing) {
            (Some(id), _, _) => Some((true, format!("任务 {id} 已重新排队。"))),
            (_, Some(id), _) => Some((false, format!("任务 {id} 不是失败状态，未重试。"))),
            (_, _, Some(id)) => Some((false, format!("没有任务 {id}。"))),
            _ => None,
        }
    }
}

/// Dead jobs the health page lists.
const DEAD_SHOWN: u64 = 50;
/// Pushes the health page lists.
const PUSHES_SHOWN: u64 = 20;

fn local_time(ts: i64, offset: FixedOffset) -> String {
    DateTime::from_timestamp(ts, 0)
        .map(|t| {
            t.with_timezone(&offset)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
}

/// A wait in words.
fn waited(seconds: i64) -> String {
    match seconds.max(0) {
        s if s < 120 => format!("{s} 秒"),
        s if s < 7200 => format!("{} 分钟", s / 60),
        s if s < 172_800 => format!("{} 小时", s / 3600),
        s => format!("{} 天", s / 86_400),
    }
}

fn bytes(n: u64) -> String {
    match n {
        n if n < 1 << 10 => format!("{n} B"),
        n if n < 1 << 20 => format!("{:.1} KiB", n as f64 / 1024.0),
        n if n < 1 << 30 => format!("{:.1} MiB", n as f64 / 1_048_576.0),
        n => format!("{:.2} GiB", n as f64 / 1_073_741_824.0),
    }
}

fn database_lines(size: DatabaseSize) -> Vec<(String, String)> {
    let line = |what: &str, value: String| (what.to_owned(), value);
    match size {
        DatabaseSize::Sqlite { file, wal } => vec![
            line("数据库", "SQLite".to_owned()),
            line("数据库文件", bytes(file)),
            line("WAL", bytes(wal)),
        ],
        DatabaseSize::Postgres(total) => vec![
            line("数据库", "PostgreSQL".to_owned()),
            line("数据库大小", bytes(total)),
        ],
        DatabaseSize::Unknown => vec![line("数据库", "SQLite（大小未知）".to_owned())],
    }
}

/// A job kind's line per state: (kind, pending, running, dead), from (kind, state, count) in
/// kind order.
fn queue_lines(by_kind: Vec<(String, String, i64)>) -> Vec<pages::QueueLine> {
    let mut lines: Vec<pages::QueueLine> = Vec::new();
    for (kind, state, n) in by_kind {
        if lines.last().is_none_or(|l| l.0 != kind) {
            lines.push((kind, 0, 0, 0));
        }
        if let Some(line) = lines.last_mut() {
            match state.as_str() {
                "pending" => line.1 = n,
                "running" => line.2 = n,
                _ => line.3 = n,
            }
        }
    }
    lines
}

/// GET /dashboard/health
pub async fn health_page(
    req: HttpRequest,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    let Some(session) = signed_in(&req, &state) else {
        return Ok(see_other("/dashboard/login"));
    };
    // A notice that does not read is no notice.
    let notice = web::Query::<Notice>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default();
    let now = state.clock.now();
    let offset = state.dashboard.offset;
    let read = async {
        let queue = jobs::health(&state.db, now, DEAD_SHOWN).await?;
        let webhooks = crate::webhooks::views(&state.db, &state.webhooks).await?;
        let size = size::size(&state.db, state.database_file.as_ref()).await?;
        let pushes = events::latest(&state.db, PUSHES_SHOWN).await?;
        Ok::<_, StoreError>((queue, webhooks, size, pushes))
    };
    let (queue, webhooks, size, pushes) =
        read.await.map_err(|e| unavailable(&state, "health", &e))?;
    let view = pages::HealthView {
        queue: queue_lines(queue.by_kind),
        oldest_wait: queue.oldest_due.map(|due| waited(now - due)),
        dead: queue
            .dead
            .into_iter()
            .map(|j| pages::DeadJob {
                id: j.id,
                kind: j.kind,
                attempts: j.attempts,
                last_error: j.last_error.unwrap_or_default(),
                updated: local_time(j.updated_at, offset),
            })
            .collect(),
        webhooks: webhooks
            .into_iter()
            .map(|w| pages::WebhookLine {
                name: w.name,
                state: serde_json::to_value(w.state)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                lag: w.lag,
                last_error: w.last_error,
            })
            .collect(),
        database: database_lines(size),
        pushes: pushes
            .into_iter()
            .map(|p| pages::PushLine {
                received: local_time(p.received_at, offset),
                appid: p.appid,
                event: p.event.unwrap_or(p.msg_type),
                card_id: p.card_id.unwrap_or_default(),
                unparsed: p.unparsed.is_some(),
            })
            .collect(),
        notice: notice.text(),
    };
    let frame = frame(&state, &session, super::Section::Health);
    Ok(html(StatusCode::OK, pages::health(&frame, &view)))
}

/// POST /dashboard/jobs/{id}/retry: a dead job queued again (the page asked for confirmation).
pub async fn retry(
    req: HttpRequest,
    id: web::Path<i64>,
    form: web::Form<CsrfForm>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, HttpError> {
    checked_post(&req, &state, &form.csrf)?;
    let id = id.into_inner();
    let job = match jobs::get(&state.db, id).await {
        Ok(job) => job,
        Err(StoreError::NotFound) => {
            return Ok(see_other(&format!("/dashboard/health?missing={id}")))
        }
        Err(e) => return Err(unavailable(&state, "retry", &e)),
    };
    if job.state != JobState::Dead.as_str() {
        return Ok(see_other(&format!("/dashboard/health?not_dead={id}")));
    }
    jobs::revive(&state.db, Some(id), state.clock.now())
        .await
        .map_err(|e| unavailable(&state, "retry", &e))?;
    state.wake_worker.notify_one();
    state.metrics.observe_dashboard("job_retried");
    let client = state.dashboard.proxies.of(&req);
    tracing::info!(job = id, kind = %job.kind, client = %client, "dead job retried from the dashboard");
    Ok(see_other(&format!("/dashboard/health?retried={id}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_sizes_and_queue_lines_read_as_a_person_reads_them() {
        assert_eq!(
            (waited(59), waited(3600), waited(90_000), waited(200_000)),
            (
                "59 秒".into(),
                "60 分钟".into(),
                "25 小时".into(),
                "2 天".into()
            )
        );
        assert_eq!(
            (bytes(512), bytes(2048), bytes(3 << 30)),
            ("512 B".into(), "2.0 KiB".into(), "3.00 GiB".into())
        );
        let lines = queue_lines(vec![
            ("activate".into(), "dead".into(), 2),
            ("activate".into(), "pending".into(), 5),
            ("tag".into(), "running".into(), 1),
        ]);
        assert_eq!(
            lines,
            [("activate".into(), 5, 0, 2), ("tag".into(), 0, 1, 0)]
        );
    }
}
