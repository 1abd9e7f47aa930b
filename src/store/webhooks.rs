//! Each webhook endpoint's delivery state (`webhook_delivery`): the last seq it was given (its
//! cursor), the retries of the event it waits on, whether its schedule ran out (failing), and the
//! lease that lets one instance at a time deliver to it.
//!
//! A deliverer's writes are conditional on its lease and on the `version` it read: `webhooks retry`
//! and `replay` bump the version, so a deliverer that did not see them yet changes nothing and
//! reads the row again.

use entity::webhook_delivery::{ActiveModel, Column, Entity, Model};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::StoreError;

/// The endpoint's row, created at `cursor` if it has none (new endpoints start at the end of the
/// feed: they are given what happens from now on; `replay` goes back).
pub async fn ensure(
    db: &impl ConnectionTrait,
    endpoint: &str,
    cursor: i64,
    now: i64,
) -> Result<Model, StoreError> {
    let row = ActiveModel {
        endpoint: Set(endpoint.to_owned()),
        cursor: Set(cursor),
        attempts: Set(0),
        next_attempt_at: Set(None),
        failing: Set(false),
        last_error: Set(None),
        last_attempt_at: Set(None),
        version: Set(0),
        lease_holder: Set(None),
        lease_until: Set(None),
        updated_at: Set(now),
    };
    Entity::insert(row)
        .on_conflict(OnConflict::column(Column::Endpoint).do_nothing().to_owned())
        .exec_without_returning(db)
        .await?;
    get(db, endpoint).await?.ok_or(StoreError::NotFound)
}

pub async fn get(db: &impl ConnectionTrait, endpoint: &str) -> Result<Option<Model>, StoreError> {
    Ok(Entity::find_by_id(endpoint.to_owned()).one(db).await?)
}

/// Take or renew the endpoint's lease for `holder` until `until`: granted when nobody holds it,
/// `holder` does, or the holder's lease ran out. The row as it now is, when granted.
pub async fn lease(
    db: &impl ConnectionTrait,
    endpoint: &str,
    holder: &str,
    now: i64,
    until: i64,
) -> Result<Option<Model>, StoreError> {
    let granted = Entity::update_many()
        .col_expr(Column::LeaseHolder, Expr::value(holder))
        .col_expr(Column::LeaseUntil, Expr::value(until))
        .filter(Column::Endpoint.eq(endpoint))
        .filter(
            sea_orm::Condition::any()
                .add(Column::LeaseHolder.is_null())
                .add(Column::LeaseHolder.eq(holder))
                .add(Column::LeaseUntil.lt(now)),
        )
        .exec(db)
        .await?;
    if granted.rows_affected == 0 {
        return Ok(None);
    }
    get(db, endpoint).await
}

/// Give the lease back (a deliverer stopping), so another instance takes over at once.
pub async fn release(
    db: &impl ConnectionTrait,
    endpoint: &str,
    holder: &str,
) -> Result<(), StoreError> {
    Entity::update_many()
        .col_expr(Column::LeaseHolder, Expr::value(Option::<String>::None))
        .col_expr(Column::LeaseUntil, Expr::value(Option::<i64>::None))
        .filter(Column::Endpoint.eq(endpoint))
        .filter(Column::LeaseHolder.eq(holder))
        .exec(db)
        .await?;
    Ok(())
}

/// Where a deliverer got to: its cursor, and the retries of the event it waits on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub cursor: i64,
    pub attempts: i64,
    pub next_attempt_at: Option<i64>,
    pub failing: bool,
    pub last_error: Option<String>,
    pub last_attempt_at: Option<i64>,
}

impl Progress {
    pub fn of(row: &Model) -> Self {
        Self {
            cursor: row.cursor,
            attempts: row.attempts,
            next_attempt_at: row.next_attempt_at,
            failing: row.failing,
            last_error: row.last_error.clone(),
            last_attempt_at: row.last_attempt_at,
        }
    }
}

/// Save `progress` if `holder` still holds the lease and nobody changed the row since `version`;
/// false otherwise (the deliverer then reads the row again).
pub async fn save(
    db: &impl ConnectionTrait,
    endpoint: &str,
    holder: &str,
    version: i64,
    progress: &Progress,
    now: i64,
) -> Result<bool, StoreError> {
    let saved = Entity::update_many()
        .col_expr(Column::Cursor, Expr::value(progress.cursor))
        .col_expr(Column::Attempts, Expr::value(progress.attempts))
        .col_expr(Column::NextAttemptAt, Expr::value(progress.next_attempt_at))
        .col_expr(Column::Failing, Expr::value(progress.failing))
        .col_expr(Column::LastError, Expr::value(progress.last_error.clone()))
        .col_expr(Column::LastAttemptAt, Expr::value(progress.last_attempt_at))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Endpoint.eq(endpoint))
        .filter(Column::LeaseHolder.eq(holder))
        .filter(Column::Version.eq(version))
        .exec(db)
        .await?;
    Ok(saved.rows_affected == 1)
}

/// `webhooks retry`: try the waiting event now, whether the endpoint is backing off or failing.
/// False when no event waits (or the endpoint has no row yet): a delivering endpoint is left as it
/// is.
pub async fn retry_now(
    db: &impl ConnectionTrait,
    endpoint: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let changed = Entity::update_many()
        .col_expr(Column::NextAttemptAt, Expr::value(now))
        .col_expr(Column::Version, Expr::col(Column::Version).add(1))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Endpoint.eq(endpoint))
        .filter(
            sea_orm::Condition::any()
                .add(Column::Attempts.gt(0))
                .add(Column::Failing.eq(true)),
        )
        .exec(db)
        .await?;
    Ok(changed.rows_affected == 1)
}

/// `webhooks replay --after SEQ`: deliver again every event after `after`, retries forgotten.
pub async fn replay(
    db: &impl ConnectionTrait,
    endpoint: &str,
    after: i64,
    now: i64,
) -> Result<(), StoreError> {
    ensure(db, endpoint, after, now).await?;
    Entity::update_many()
        .col_expr(Column::Cursor, Expr::value(after))
        .col_expr(Column::Attempts, Expr::value(0))
        .col_expr(Column::NextAttemptAt, Expr::value(Option::<i64>::None))
        .col_expr(Column::Failing, Expr::value(false))
        .col_expr(Column::LastError, Expr::value(Option::<String>::None))
        .col_expr(Column::Version, Expr::col(Column::Version).add(1))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Endpoint.eq(endpoint))
        .exec(db)
        .await?;
    Ok(())
}
