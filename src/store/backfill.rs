//! `bindings backfill`: codes WeChat says a user holds that no push recorded (cardhook was down
//! longer than WeChat retries) become bindings marked `backfill`, without a counter (the day they
//! were got is unknown); a binding a push recorded is never touched. An unfinished run's checked
//! OpenIDs are kept (`backfill_progress`) so running it again resumes.

use std::collections::HashSet;

use entity::{backfill_progress, card_binding};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect,
};

use super::effects::Status;
use super::StoreError;

/// What recording one user's codes found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recorded {
    /// Codes the ledger had already.
    pub known: usize,
    /// Codes recorded now, marked `backfill`.
    pub added: usize,
}

/// Record the codes (card_id, code) `openid` holds that the ledger lacks, on `day`, as `backfill`.
pub async fn record(
    db: &impl ConnectionTrait,
    appid: &str,
    openid: &str,
    held: &[(String, String)],
    day: &str,
    now: i64,
) -> Result<Recorded, StoreError> {
    let mut recorded = Recorded::default();
    for (card_id, code) in held {
        let row = card_binding::ActiveModel {
            appid: Set(appid.to_owned()),
            card_id: Set(card_id.clone()),
            code: Set(code.clone()),
            openid: Set(openid.to_owned()),
            unionid: Set(None),
            outer_id: Set("0".to_owned()),
            outer_str: Set(String::new()),
            source_scene: Set(None),
            got_at: Set(now),
            got_day: Set(day.to_owned()),
            from_friend: Set(false),
            friend_openid: Set(None),
            old_code: Set(None),
            restored: Set(false),
            status: Set(Status::Got.as_str().to_owned()),
            membership_number: Set(None),
            activated_at: Set(None),
            updated_at: Set(now),
            source: Set("backfill".to_owned()),
        };
        // Insert or nothing: a binding a push (or an earlier backfill) recorded stays as it is.
        let inserted = card_binding::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([
                    card_binding::Column::Appid,
                    card_binding::Column::CardId,
                    card_binding::Column::Code,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
        match inserted {
            0 => recorded.known += 1,
            _ => recorded.added += 1,
        }
    }
    Ok(recorded)
}

/// The OpenIDs an unfinished run of `run` checked since `since`.
pub async fn checked(
    db: &impl ConnectionTrait,
    appid: &str,
    run: &str,
    since: i64,
) -> Result<HashSet<String>, StoreError> {
    let openids: Vec<String> = backfill_progress::Entity::find()
        .select_only()
        .column(backfill_progress::Column::Openid)
        .filter(backfill_progress::Column::Appid.eq(appid))
        .filter(backfill_progress::Column::Run.eq(run))
        .filter(backfill_progress::Column::CheckedAt.gte(since))
        .into_tuple()
        .all(db)
        .await?;
    Ok(openids.into_iter().collect())
}

/// `openid` checked by run `run`.
pub async fn mark_checked(
    db: &impl ConnectionTrait,
    appid: &str,
    run: &str,
    openid: &str,
    now: i64,
) -> Result<(), StoreError> {
    let row = backfill_progress::ActiveModel {
        appid: Set(appid.to_owned()),
        run: Set(run.to_owned()),
        openid: Set(openid.to_owned()),
        checked_at: Set(now),
    };
    backfill_progress::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([
                backfill_progress::Column::Appid,
                backfill_progress::Column::Run,
                backfill_progress::Column::Openid,
            ])
            .update_column(backfill_progress::Column::CheckedAt)
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Run `run` went to its end: the next run starts over.
pub async fn finish(db: &impl ConnectionTrait, appid: &str, run: &str) -> Result<(), StoreError> {
    backfill_progress::Entity::delete_many()
        .filter(backfill_progress::Column::Appid.eq(appid))
        .filter(backfill_progress::Column::Run.eq(run))
        .exec(db)
        .await?;
    Ok(())
}
