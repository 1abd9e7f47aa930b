//! Storing pushes through sea-orm: the PostgreSQL writers' batches, and one push at a time (the
//! reference the SQLite writer's literal SQL, `store::sqlite_batch`, is held equal to).
//!
//! A batch stores, in order, each push's `card_event` row (a duplicate — of an earlier push or of
//! one in the same batch — changes nothing), carries out the [`Effect`]s a new push has
//! (`store::effects`), and queues the jobs it calls for.

use chrono::FixedOffset;
use sea_orm::ConnectionTrait;

use super::channel_day;
use super::effects::{effects, Effect};
use super::published;
use super::push::{dedupe_key, Incoming, JobsFor, LocalDays, Recorded, Stored};
use super::{bindings, cards, channel, events, jobs, mass, members, outbox, sequences, StoreError};

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
/// counters and jobs go in multi-row statements (each a round trip to PostgreSQL). Other effects
/// are carried out one by one, in order.
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
    let mut published = Vec::new();
    let mut days = LocalDays::new(offset);
    for (push, key) in pushes.iter().zip(&keys) {
        // The first push of an inserted key is the new one; any other is a duplicate.
        if !inserted.remove(key) {
            outcomes.push(Recorded::Duplicate);
            continue;
        }
        outcomes.push(Recorded::New);
        let day = days.of(push.message.create_time);
        let now = push.received_at;
        for effect in effects(push, &day) {
            match effect {
                // New bindings and counters go in multi-row statements.
                Effect::Bind(binding) => new_bindings.push(binding),
                Effect::Count(delta) => counters.add(delta),
                // These read or move a binding created earlier in this batch: its row goes first.
                Effect::Restore { binding, count } => {
                    new_bindings.flush(db).await?;
                    counters.add(bindings::restore(db, &binding, count).await?);
                }
                Effect::Move(change) => {
                    new_bindings.flush(db).await?;
                    let appid = push.appid.as_str();
                    if let Some(delta) = bindings::move_code(db, appid, &change, &day, now).await? {
                        counters.add(delta);
                    }
                }
                Effect::MemberCard(change) => {
                    if let Some(member) = members::note_wechat_change(db, &change, now).await? {
                        published.push(published::points_changed_by_wechat(
                            push, key, &change, &member,
                        ));
                    }
                }
                Effect::Review(review) => cards::reviewed(db, &review, now).await?,
                Effect::MassReport { appid, finish } => {
                    mass::finished(db, appid, finish, now).await?
                }
                Effect::FollowScene(scene) => {
                    for card_id in channel::follow_cards(db, push.appid.as_str(), scene).await? {
                        new_jobs.extend(job_rules.follow_job(push, scene, &card_id));
                    }
                }
                Effect::Publish(kind) => published.push(published::push_event(push, key, kind)),
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
    // Last, so that on PostgreSQL the lock that orders events is held only to the commit.
    outbox::insert(db, &published).await?;
    Ok(Stored {
        outcomes,
        jobs_queued,
    })
}
