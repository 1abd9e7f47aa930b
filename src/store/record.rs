//! Storing pushes through sea-orm: the PostgreSQL writers' batches, and one push at a time (the
//! reference the SQLite writer's literal SQL, `store::sqlite_batch`, is held equal to).
//!
//! A batch stores, in order, each push's `card_event` row (a duplicate — of an earlier push or of
//! one in the same batch — changes nothing), the binding it creates or moves, the channel counters
//! it moves (summed per channel and day), what WeChat shows of a member's points and balance, a
//! card's review status, a mass send's report, and the jobs it calls for (a follow QR code's card
//! sent to who scanned it among them).

use chrono::FixedOffset;
use sea_orm::ConnectionTrait;

use super::channel_day::{self, ChannelDelta, Counts};
use super::push::{dedupe_key, Incoming, JobsFor, LocalDays, Recorded, Stored};
use super::{bindings, cards, channel, events, jobs, mass, members, sequences, StoreError};
use crate::wechat::events::Event;

/// Store one push (see [`record_batch`]).
pub async fn record(
    db: &impl ConnectionTrait,
    push: &Incoming,
    offset: FixedOffset,
    jobs: &dyn JobsFor,
) -> Result<Recorded, StoreError> {
    let mut stored = record_batch(db, &[push], offset, jobs).await?;
    Ok(stored.outcomes.pop().unwrap_or(Recorded::Duplicate))
}

/// Store `pushes` in order on `db` (one transaction when called by a writer).
///
/// The common case, a new `user_get_card`, costs no statement of its own: events, bindings,
/// counters and jobs go in multi-row statements (each a round trip to PostgreSQL). Rarer events
/// (delete, consume, gift, restore, a member card's points changed, a card's review, a mass send's
/// report, a follow QR code's scan) are applied one by one, in order.
pub async fn record_batch(
    db: &impl ConnectionTrait,
    pushes: &[&Incoming],
    offset: FixedOffset,
    job_rules: &dyn JobsFor,
) -> Result<Stored, StoreError> {
    let keys: Vec<String> = pushes.iter().map(|p| dedupe_key(p)).collect();
    let mut inserted = events::insert_new(db, pushes, &keys).await?;
    let mut outcomes = Vec::with_capacity(pushes.len());
    let mut counters = channel_day::Batch::default();
    let mut new_bindings = bindings::Batch::default();
    let mut new_jobs = Vec::new();
    let mut days = LocalDays::new(offset);
    for (push, key) in pushes.iter().zip(&keys) {
        // The first push of an inserted key is the new one; any other is a duplicate.
        if !inserted.remove(key) {
            outcomes.push(Recorded::Duplicate);
            continue;
        }
        outcomes.push(Recorded::New);
        let day = days.of(push.message.create_time);
        match &push.message.event {
            Event::UserGetCard(e) if bindings::is_plain_get(e) => {
                counters.add(ChannelDelta::for_event(
                    push.appid.as_str(),
                    e,
                    &day,
                    Counts {
                        got: 1,
                        from_friend: i64::from(e.is_give_by_friend),
                        ..Counts::default()
                    },
                ));
                new_bindings.push(bindings::Row::for_get(push, e, day, false));
            }
            _ => {
                // A transition may touch a binding created earlier in this batch.
                new_bindings.flush(db).await?;
                if let Some(delta) = bindings::apply(db, push, &day).await? {
                    counters.add(delta);
                }
            }
        }
        if let Some(change) = push.member_card_change() {
            members::note_wechat_change(db, &change, push.received_at).await?;
        }
        if let Some(review) = push.card_review() {
            cards::reviewed(db, &review, push.received_at).await?;
        }
        if let Some((appid, finish)) = push.mass_finish() {
            mass::finished(db, appid, finish, push.received_at).await?;
        }
        if let Some(scene) = push.follow_scene() {
            for card_id in channel::follow_cards(db, push.appid.as_str(), scene).await? {
                new_jobs.extend(job_rules.follow_job(push, scene, &card_id));
            }
        }
        let seq = match job_rules.sequence_for(push) {
            Some(card_id) => sequences::next(db, push.appid.as_str(), card_id).await?,
            None => 0,
        };
        new_jobs.extend(job_rules.job_for(push, seq));
    }
    new_bindings.flush(db).await?;
    counters.flush(db).await?;
    let jobs_queued = match pushes.first() {
        Some(first) => jobs::enqueue_many(db, &new_jobs, first.received_at).await?,
        None => 0,
    };
    Ok(Stored {
        outcomes,
        jobs_queued,
    })
}
