//! The merchant's members in cardhook (会员卡打通, reference 003): imported from the merchant's own
//! system, found by phone, and bound to the WeChat member card a customer holds — so that the card is
//! activated with the member's own number, points and balance.

pub mod bind;
pub mod import;
pub mod phone;
pub mod reconcile;
pub mod sync;
pub mod tags;

use crate::jobs::JobPayload;
use crate::store::Db;
use crate::store::{jobs, members, outbox, published, StoreError};
use import::{ImportError, ImportReport};

/// Why members could not be imported, shown, changed or reconciled.
#[derive(Debug, thiserror::Error)]
pub enum MembersError {
    #[error(transparent)]
    Import(#[from] ImportError),
    /// The request itself is wrong; the message names the field.
    #[error("{0}")]
    Invalid(String),
    #[error("no such member")]
    UnknownMember,
    #[error(transparent)]
    Credential(#[from] crate::credentials::TokenError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Lines written between two reports of an import's progress.
const IMPORT_BLOCK: usize = 4096;

/// Import a CSV of members into `appid` (see `import`): every accepted line is written in one
/// transaction; the report says what happened to each line. `progress(done, total)` after each
/// block of lines written.
pub async fn import(
    db: &Db,
    appid: &str,
    csv: &[u8],
    tagging: bool,
    now: i64,
    progress: &dyn Fn(usize, usize),
) -> Result<ImportReport, MembersError> {
    // Read and compare outside the write transaction (a large file takes a moment); the write keeps
    // what members are bound to, which is all a concurrent binding changes.
    let stored = members::all(db, appid).await?;
    let (rows, mut report) = import::plan(csv, &stored)?;
    // Members whose points or balance the file changes: WeChat must show the new values.
    let revalued: Vec<String> = rows
        .iter()
        .filter(|row| {
            stored
                .get(&row.member_no)
                .is_some_and(|old| (old.bonus, old.balance) != (row.bonus, row.balance))
        })
        .map(|row| row.member_no.clone())
        .collect();
    let txn = db.begin_write().await?;
    // Their values as they are now, in the write (a change made since the plan was read counts).
    let before = members::by_numbers(&txn, appid, &revalued).await?;
    // In order, block by block (a phone passed on within the file is freed before it is taken).
    for (i, block) in rows.chunks(IMPORT_BLOCK).enumerate() {
        members::upsert(&txn, appid, block, now).await?;
        progress((i * IMPORT_BLOCK + block.len()).min(rows.len()), rows.len());
    }
    report.syncs_queued = sync::queue_changed(&txn, appid, &revalued, now)
        .await?
        .len();
    // Each change of points or balance is a `member.points_changed` of the merchant's; last, so
    // that on PostgreSQL the lock that orders events is held only to the commit.
    let after = members::by_numbers(&txn, appid, &revalued).await?;
    let changed: Vec<_> = revalued
        .iter()
        .filter_map(|number| {
            let (before, after) = (before.get(number)?, after.get(number)?);
            let was = (before.bonus, before.balance);
            (was != (after.bonus, after.balance))
                .then(|| published::points_changed_by_cardhook(was, after, now))
        })
        .collect();
    if tagging {
        // Bound members whose level the file changes move to their new level's tag.
        let relevelled: Vec<String> = rows
            .iter()
            .filter(|row| {
                stored
                    .get(&row.member_no)
                    .is_some_and(|old| old.level != row.level)
            })
            .map(|row| row.member_no.clone())
            .collect();
        let bound = members::by_numbers(&txn, appid, &relevelled).await?;
        let jobs: Vec<_> = bound
            .values()
            .filter(|member| member.openid.is_some())
            .map(|member| {
                JobPayload::TagMemberV1 {
                    appid: appid.to_owned(),
                    member_no: member.member_no.clone(),
                }
                .to_job()
            })
            .collect();
        jobs::requeue(&txn, &jobs, now).await?;
        report.tags_queued = jobs.len();
    }
    outbox::insert(&txn, &changed).await?;
    txn.commit().await.map_err(StoreError::from)?;
    Ok(report)
}
