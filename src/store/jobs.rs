//! The `job` table: a durable, portable queue with leases (DESIGN §5, CONVENTIONS §1.5).
//!
//! `claim` picks due candidates, then takes each with a conditional UPDATE that sets a lease and a
//! fresh claim token; `complete`, `retry_later` and `bury` match on that token, so a worker whose
//! lease ran out cannot overwrite a job another worker now holds. No transaction is held open
//! while a job runs.

use entity::job::{self, Column};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, TryInsertResult,
};

use super::push::NewJob;
use super::StoreError;

/// The states of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum JobState {
    Pending,
    Running,
    Done,
    Dead,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Done => "done",
            Self::Dead => "dead",
        }
    }
}

/// A job this worker holds until `lease_until`.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: i64,
    pub claim_token: String,
    pub attempts: i64,
    pub kind: String,
    /// The JSON the job was queued with (read by the worker).
    pub payload: String,
}

/// Enqueue `job` unless a job with its dedup key exists; true when a job was added.
pub async fn enqueue(
    db: &impl ConnectionTrait,
    job: &NewJob,
    now: i64,
) -> Result<bool, StoreError> {
    Ok(enqueue_many(db, std::slice::from_ref(job), now).await? == 1)
}

/// Enqueue every job whose dedup key is new, in multi-row statements; how many were added.
pub async fn enqueue_many(
    db: &impl ConnectionTrait,
    jobs: &[NewJob],
    now: i64,
) -> Result<u64, StoreError> {
    let mut added = 0;
    for chunk in super::statement_chunks(jobs) {
        let rows = chunk.iter().map(|new| pending_row(new, now));
        let inserted = job::Entity::insert_many(rows)
            .on_conflict(OnConflict::column(Column::DedupKey).do_nothing().to_owned())
            .try_insert()
            .exec_without_returning(db)
            .await?;
        if let TryInsertResult::Inserted(n) = inserted {
            added += n;
        }
    }
    Ok(added)
}

/// Queue `jobs` to run now: each added if new, made pending again if it is done or dead. A pending
/// job is left as it is (the new request joins it), and so is a running one (its runner queues it
/// again when it finds more to do).
pub async fn requeue(
    db: &impl ConnectionTrait,
    jobs: &[NewJob],
    now: i64,
) -> Result<(), StoreError> {
    let settled = Expr::col((job::Entity, Column::State))
        .is_in([JobState::Done.as_str(), JobState::Dead.as_str()]);
    for chunk in super::statement_chunks(jobs) {
        let rows = chunk.iter().map(|new| pending_row(new, now));
        job::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::column(Column::DedupKey)
                    .update_columns([
                        Column::State,
                        Column::Attempts,
                        Column::RunAt,
                        Column::LastError,
                        Column::UpdatedAt,
                    ])
                    .action_and_where(settled.clone())
                    .to_owned(),
            )
            .try_insert()
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// A new job, due at `now`.
fn pending_row(new: &NewJob, now: i64) -> job::ActiveModel {
    job::ActiveModel {
        kind: Set(new.kind.to_owned()),
        dedup_key: Set(new.dedup_key.clone()),
        payload: Set(new.payload.clone()),
        state: Set(JobState::Pending.as_str().to_owned()),
        attempts: Set(0),
        run_at: Set(now),
        lease_until: Set(None),
        claim_token: Set(None),
        last_error: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
}

/// Due: pending and `run_at` passed, or running with an expired lease (its worker died).
fn claimable(now: i64) -> Condition {
    Condition::any()
        .add(
            Condition::all()
                .add(Column::State.eq(JobState::Pending.as_str()))
                .add(Column::RunAt.lte(now)),
        )
        .add(
            Condition::all()
                .add(Column::State.eq(JobState::Running.as_str()))
                .add(Column::LeaseUntil.lt(now)),
        )
}

/// Claim up to `limit` due jobs for `lease_secs`, in one conditional UPDATE over the due
/// candidates; the jobs of one claim share its claim token.
pub async fn claim(
    db: &impl ConnectionTrait,
    now: i64,
    lease_secs: i64,
    limit: u64,
) -> Result<Vec<Claimed>, StoreError> {
    let mut candidates = job::Entity::find()
        .select_only()
        .column(Column::Id)
        .filter(claimable(now))
        .order_by_asc(Column::RunAt)
        .order_by_asc(Column::Id)
        .limit(limit);
    if db.get_database_backend() == DbBackend::Postgres {
        // The one dialect branch: PostgreSQL workers skip rows another worker is taking.
        candidates = candidates.lock_with_behavior(
            sea_orm::sea_query::LockType::Update,
            sea_orm::sea_query::LockBehavior::SkipLocked,
        );
    }
    let claim_token = new_claim_token();
    let rows = job::Entity::update_many()
        .col_expr(Column::State, Expr::value(JobState::Running.as_str()))
        .col_expr(Column::LeaseUntil, Expr::value(now + lease_secs))
        .col_expr(Column::ClaimToken, Expr::value(claim_token.as_str()))
        .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.in_subquery(candidates.into_query()))
        // Checked again in the same statement: a row another worker took meanwhile is skipped.
        .filter(claimable(now))
        .exec_with_returning(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| Claimed {
            id: row.id,
            claim_token: claim_token.clone(),
            attempts: row.attempts,
            kind: row.kind,
            payload: row.payload,
        })
        .collect())
}

fn new_claim_token() -> String {
    use rand::Rng;
    format!("{:032x}", rand::thread_rng().gen::<u128>())
}

fn held(id: i64, claim_token: &str) -> Condition {
    Condition::all()
        .add(Column::Id.eq(id))
        .add(Column::ClaimToken.eq(claim_token))
        .add(Column::State.eq(JobState::Running.as_str()))
}

async fn finish(
    db: &impl ConnectionTrait,
    id: i64,
    claim_token: &str,
    state: JobState,
    run_at: Option<i64>,
    error: Option<&str>,
    now: i64,
) -> Result<bool, StoreError> {
    let mut update = job::Entity::update_many()
        .col_expr(Column::State, Expr::value(state.as_str()))
        .col_expr(Column::LeaseUntil, Expr::value(Option::<i64>::None))
        .col_expr(Column::ClaimToken, Expr::value(Option::<String>::None))
        .col_expr(Column::UpdatedAt, Expr::value(now));
    if let Some(run_at) = run_at {
        update = update.col_expr(Column::RunAt, Expr::value(run_at));
    }
    if let Some(error) = error {
        update = update.col_expr(Column::LastError, Expr::value(error));
    }
    let result = update.filter(held(id, claim_token)).exec(db).await?;
    Ok(result.rows_affected == 1)
}

/// Mark a held job done; false when the claim was lost (another worker took it over).
pub async fn complete(
    db: &impl ConnectionTrait,
    id: i64,
    claim_token: &str,
    now: i64,
) -> Result<bool, StoreError> {
    finish(db, id, claim_token, JobState::Done, None, None, now).await
}

/// Put a held job back to run at `run_at`, keeping the error.
pub async fn retry_later(
    db: &impl ConnectionTrait,
    id: i64,
    claim_token: &str,
    run_at: i64,
    error: &str,
    now: i64,
) -> Result<bool, StoreError> {
    finish(
        db,
        id,
        claim_token,
        JobState::Pending,
        Some(run_at),
        Some(error),
        now,
    )
    .await
}

/// Give up on a held job: dead, with the reason.
pub async fn bury(
    db: &impl ConnectionTrait,
    id: i64,
    claim_token: &str,
    error: &str,
    now: i64,
) -> Result<bool, StoreError> {
    finish(db, id, claim_token, JobState::Dead, None, Some(error), now).await
}

/// Hand a held job back untouched (shutdown): it runs again at once, its attempt not counted.
pub async fn release(
    db: &impl ConnectionTrait,
    id: i64,
    claim_token: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let result = job::Entity::update_many()
        .col_expr(Column::State, Expr::value(JobState::Pending.as_str()))
        .col_expr(Column::LeaseUntil, Expr::value(Option::<i64>::None))
        .col_expr(Column::ClaimToken, Expr::value(Option::<String>::None))
        .col_expr(Column::Attempts, Expr::col(Column::Attempts).sub(1))
        .col_expr(Column::RunAt, Expr::value(now))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(held(id, claim_token))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Postpone every pending job whose dedup key starts with `prefix` (an account's: its daily quota
/// is used up) to `until`.
pub async fn pause_prefix(
    db: &impl ConnectionTrait,
    prefix: &str,
    until: i64,
    now: i64,
) -> Result<u64, StoreError> {
    let result = job::Entity::update_many()
        .col_expr(Column::RunAt, Expr::value(until))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::State.eq(JobState::Pending.as_str()))
        .filter(Column::RunAt.lt(until))
        .filter(Column::DedupKey.starts_with(prefix))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// Jobs, newest first, optionally of one state.
pub async fn list(
    db: &impl ConnectionTrait,
    state: Option<JobState>,
    limit: u64,
) -> Result<Vec<job::Model>, StoreError> {
    let mut query = job::Entity::find().order_by_desc(Column::Id).limit(limit);
    if let Some(state) = state {
        query = query.filter(Column::State.eq(state.as_str()));
    }
    Ok(query.all(db).await?)
}

pub async fn get(db: &impl ConnectionTrait, id: i64) -> Result<job::Model, StoreError> {
    job::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(StoreError::NotFound)
}

/// Bring dead jobs back (one, or all): pending now, attempts reset.
pub async fn revive(
    db: &impl ConnectionTrait,
    id: Option<i64>,
    now: i64,
) -> Result<u64, StoreError> {
    let mut update = job::Entity::update_many()
        .col_expr(Column::State, Expr::value(JobState::Pending.as_str()))
        .col_expr(Column::Attempts, Expr::value(0))
        .col_expr(Column::RunAt, Expr::value(now))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::State.eq(JobState::Dead.as_str()));
    if let Some(id) = id {
        update = update.filter(Column::Id.eq(id));
    }
    Ok(update.exec(db).await?.rows_affected)
}

/// Job counts by state (metrics, tests).
pub async fn count_by_state(db: &impl ConnectionTrait) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(job::Entity::find()
        .select_only()
        .column(Column::State)
        .column_as(Expr::col(Column::Id).count(), "n")
        .group_by(Column::State)
        .into_tuple()
        .all(db)
        .await?)
}

/// How many of the jobs with these dedup keys are still to run (pending or running).
pub async fn count_unsettled(
    db: &impl ConnectionTrait,
    keys: &[String],
) -> Result<u64, StoreError> {
    use sea_orm::PaginatorTrait;
    let mut unsettled = 0;
    for chunk in super::statement_chunks(keys) {
        unsettled += job::Entity::find()
            .filter(Column::DedupKey.is_in(chunk.iter().map(String::as_str)))
            .filter(Column::State.is_in([JobState::Pending.as_str(), JobState::Running.as_str()]))
            .count(db)
            .await?;
    }
    Ok(unsettled)
}

/// The queue as the dashboard's health page shows it: jobs still to run or dead, by kind and
/// state, the oldest due, and the dead with their reasons. Read through `idx_job_state_kind` and
/// `idx_job_due` (state first), so the done jobs, however many, are not read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueHealth {
    /// (kind, state, count), pending, running and dead only.
    pub by_kind: Vec<(String, String, i64)>,
    /// When the longest-waiting due pending job became due (unix seconds); jobs put off to later
    /// (a retry's back-off, a quota's pause) are not waiting.
    pub oldest_due: Option<i64>,
    /// The newest dead jobs (up to the limit asked).
    pub dead: Vec<job::Model>,
}

/// [`QueueHealth`] at `now`, with up to `dead_limit` dead jobs.
pub async fn health(
    db: &impl ConnectionTrait,
    now: i64,
    dead_limit: u64,
) -> Result<QueueHealth, StoreError> {
    let unsettled = [
        JobState::Pending.as_str(),
        JobState::Running.as_str(),
        JobState::Dead.as_str(),
    ];
    let by_kind = job::Entity::find()
        .select_only()
        .column(Column::Kind)
        .column(Column::State)
        .column_as(Expr::col(Column::Id).count(), "n")
        .filter(Column::State.is_in(unsettled))
        .group_by(Column::Kind)
        .group_by(Column::State)
        .order_by_asc(Column::Kind)
        .order_by_asc(Column::State)
        .into_tuple()
        .all(db)
        .await?;
    let oldest_due: Option<Option<i64>> = job::Entity::find()
        .select_only()
        .column_as(Expr::col(Column::RunAt).min(), "oldest")
        .filter(Column::State.eq(JobState::Pending.as_str()))
        .filter(Column::RunAt.lte(now))
        .into_tuple()
        .one(db)
        .await?;
    Ok(QueueHealth {
        by_kind,
        oldest_due: oldest_due.flatten(),
        dead: list(db, Some(JobState::Dead), dead_limit).await?,
    })
}
