//! The SQLite writer's statements: the rows of a batch of pushes, in literal SQL on the writer's own
//! rusqlite connection, inside the transaction the writer commits (`ingest::sqlite`).
//!
//! Why not sea-orm here: sqlx runs every SQLite statement on a thread of its own and hands each
//! statement and its answer across threads; on two cores that made the writer 2.2× slower
//! (docs/PERFORMANCE.md). Here a statement is a call, prepared once per connection
//! (`prepare_cached`). This is the one module with SQL of its own; it writes exactly what
//! `store::record` writes through sea-orm (`tests/it/batch.rs` feeds both the same random push
//! sequences and compares every table). What a push does is decided in `store::effects`; here each
//! kind of effect is carried out once, and a new kind needs a function here and in `store::record`.
//!
//! Each statement writes one row, so SQLite needs no statement journal for any of them.

use chrono::FixedOffset;
use rusqlite::{params, Connection, OptionalExtension};

use super::channel::ChannelKind;
use super::channel_day::{self, ChannelDelta, Counts};
use super::effects::{effects, CardReview, CodeMove, Effect, Moved, NewBinding, Status};
use super::published::{self, MemberCardChange, MemberPoints, NewEvent};
use super::push::{dedupe_key, EventRow, Incoming, JobsFor, LocalDays, NewJob, Recorded, Stored};
use crate::wechat::events::MassSendFinish;
use crate::wechat::ids::{CardId, Code, OuterId};

/// Store `pushes` in order on `conn`, which the caller holds in a write transaction: each new
/// push's event row, its [`Effect`]s (`store::effects`; the channel counters of the whole batch
/// summed per channel and day) and the jobs it calls for. A duplicate changes nothing.
pub fn record_batch(
    conn: &Connection,
    pushes: &[&Incoming],
    offset: FixedOffset,
    job_rules: &dyn JobsFor,
) -> rusqlite::Result<Stored> {
    let mut outcomes = Vec::with_capacity(pushes.len());
    let mut counters = channel_day::Batch::default();
    let mut days = LocalDays::new(offset);
    let mut jobs_queued = 0;
    // Jobs of a batch are queued at its first push's arrival (as `store::record` does).
    let queued_at = pushes.first().map_or(0, |p| p.received_at);
    for push in pushes {
        let key = dedupe_key(push);
        if !insert_event(conn, &EventRow::of(push, &key))? {
            outcomes.push(Recorded::Duplicate);
            continue;
        }
        outcomes.push(Recorded::New);
        let day = days.of(push.message.create_time);
        let now = push.received_at;
        for effect in effects(push, &day) {
            match effect {
                Effect::Bind(binding) => upsert_binding(conn, &binding)?,
                Effect::Count(delta) => counters.add(delta),
                Effect::Restore { binding, count } => {
                    counters.add(restore(conn, &binding, count)?);
                }
                Effect::Move(change) => {
                    if let Some(delta) = move_code(conn, push.appid.as_str(), &change, &day, now)? {
                        counters.add(delta);
                    }
                }
                Effect::MemberCard(change) => {
                    if let Some(member) = note_wechat_change(conn, &change, now)? {
                        let event =
                            published::points_changed_by_wechat(push, &key, &change, &member);
                        insert_domain_event(conn, &event)?;
                    }
                }
                Effect::Review(review) => note_review(conn, &review, now)?,
                Effect::MassReport { appid, finish } => note_mass_finish(conn, appid, finish, now)?,
                Effect::FollowScene(scene) => {
                    for card_id in follow_cards(conn, push.appid.as_str(), scene)? {
                        if let Some(job) = job_rules.follow_job(push, scene, &card_id) {
                            jobs_queued += insert_job(conn, &job, queued_at)?;
                        }
                    }
                }
                Effect::Publish(kind) => {
                    insert_domain_event(conn, &published::push_event(push, &key, kind))?;
                }
            }
        }
        let seq = match job_rules.sequence_for(push) {
            Some(card_id) => next_sequence(conn, push.appid.as_str(), card_id)?,
            None => 0,
        };
        if let Some(job) = job_rules.job_for(push, seq) {
            jobs_queued += insert_job(conn, &job, queued_at)?;
        }
    }
    for ((appid, card_id, outer_id, outer_str, day), c) in counters.sums() {
        conn.prepare_cached(
            "INSERT INTO channel_day (appid, card_id, outer_id, outer_str, day, \
             got, from_friend, restored, deleted, consumed, activated, revoked, bound) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
             ON CONFLICT (appid, card_id, outer_id, outer_str, day) DO UPDATE SET \
             got = got + excluded.got, from_friend = from_friend + excluded.from_friend, \
             restored = restored + excluded.restored, deleted = deleted + excluded.deleted, \
             consumed = consumed + excluded.consumed, activated = activated + excluded.activated, \
             revoked = revoked + excluded.revoked, bound = bound + excluded.bound",
        )?
        .execute(params![
            appid,
            card_id,
            outer_id.as_str(),
            outer_str,
            day,
            c.got,
            c.from_friend,
            c.restored,
            c.deleted,
            c.consumed,
            c.activated,
            c.revoked,
            c.bound
        ])?;
    }
    Ok(Stored {
        outcomes,
        jobs_queued,
    })
}

/// Insert the event unless its dedupe key (or, for a plain-mode push, its query) is stored; true
/// when it was new.
fn insert_event(conn: &Connection, row: &EventRow<'_>) -> rusqlite::Result<bool> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO card_event (appid, dedupe_key, msg_type, event, openid, card_id, code, \
             create_time, received_at, outer_id, outer_str, source_scene, is_give_by_friend, \
             friend_openid, old_code, is_restore_member_card, unionid, raw_xml, unparsed, query_key) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20) \
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            row.appid,
            row.dedupe_key,
            row.msg_type,
            row.event,
            row.openid,
            row.card_id,
            row.code,
            row.create_time,
            row.received_at,
            row.outer_id,
            row.outer_str,
            row.source_scene,
            row.is_give_by_friend,
            row.friend_openid,
            row.old_code,
            row.is_restore_member_card,
            row.unionid,
            row.raw_xml,
            row.unparsed,
            row.query_key
        ])?;
    Ok(inserted == 1)
}

/// [`Effect::Restore`]: the code's binding returns to `got` under the push's sender, marked
/// restored, or is created so; `count` goes to the channel of the binding holding the code.
fn restore(
    conn: &Connection,
    binding: &NewBinding<'_>,
    count: Counts,
) -> rusqlite::Result<ChannelDelta> {
    let (push, e) = (binding.push, binding.get);
    let appid = push.appid.as_str();
    let restored = conn
        .prepare_cached(
            "UPDATE card_binding SET status = ?1, restored = 1, openid = ?2, updated_at = ?3 \
             WHERE appid = ?4 AND card_id = ?5 AND code = ?6 RETURNING outer_id, outer_str",
        )?
        .query_row(
            params![
                Status::Got.as_str(),
                push.message.from_user_name.as_str(),
                push.received_at,
                appid,
                e.card_id.as_str(),
                e.code.as_str()
            ],
            channel_of,
        )
        .optional()?;
    if restored.is_some() {
        return Ok(ChannelDelta::for_channel(
            appid,
            &e.card_id,
            restored,
            &binding.day,
            count,
        ));
    }
    upsert_binding(conn, binding)?;
    Ok(ChannelDelta::for_event(appid, e, &binding.day, count))
}

/// [`Effect::Bind`]: the binding a `user_get_card` creates; a code got again is re-pointed to its
/// new holder and channel, and keeps whether it was restored, its membership number and its
/// activation.
fn upsert_binding(conn: &Connection, binding: &NewBinding<'_>) -> rusqlite::Result<()> {
    let (push, e) = (binding.push, binding.get);
    conn.prepare_cached(
        "INSERT INTO card_binding (appid, card_id, code, openid, unionid, outer_id, outer_str, \
         source_scene, got_at, got_day, from_friend, friend_openid, old_code, restored, status, \
         membership_number, activated_at, updated_at, source) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, NULL, NULL, ?16, 'push') \
         ON CONFLICT (appid, card_id, code) DO UPDATE SET openid = excluded.openid, \
         unionid = excluded.unionid, outer_id = excluded.outer_id, outer_str = excluded.outer_str, \
         source_scene = excluded.source_scene, got_at = excluded.got_at, \
         got_day = excluded.got_day, from_friend = excluded.from_friend, \
         friend_openid = excluded.friend_openid, old_code = excluded.old_code, \
         status = excluded.status, updated_at = excluded.updated_at, source = excluded.source",
    )?
    .execute(params![
        push.appid.as_str(),
        e.card_id.as_str(),
        e.code.as_str(),
        push.message.from_user_name.as_str(),
        e.union_id,
        e.outer_id.as_str(),
        e.outer_str.as_deref().unwrap_or_default(),
        e.source_scene,
        push.message.create_time,
        binding.day,
        e.is_give_by_friend,
        e.friend_user_name.as_ref().map(|o| o.as_str()),
        e.old_user_card_code.as_ref().map(|c| c.as_str()),
        binding.restored,
        Status::Got.as_str(),
        push.received_at
    ])?;
    Ok(())
}

/// [`Effect::Move`]: the code moves to `status`; the counters it moves, in the channel the code
/// arrived through (unattributed when cardhook never saw it; none when it already was there).
fn move_code(
    conn: &Connection,
    appid: &str,
    change: &CodeMove<'_>,
    day: &str,
    now: i64,
) -> rusqlite::Result<Option<ChannelDelta>> {
    let moved = match change.code {
        Some(code) => transition(conn, appid, change.card_id, code, change.status, now)?,
        None => Moved::Unknown,
    };
    Ok(moved.counts(change.count).map(|(channel, count)| {
        ChannelDelta::for_channel(appid, change.card_id, channel, day, count)
    }))
}

/// Move a code to `status`: from the channel (outer_id, outer_str) of its binding, if cardhook
/// knows the code and it was not there already.
fn transition(
    conn: &Connection,
    appid: &str,
    card_id: &CardId,
    code: &Code,
    status: Status,
    now: i64,
) -> rusqlite::Result<Moved<(OuterId, String)>> {
    let key = params![appid, card_id.as_str(), code.as_str()];
    let moved = conn
        .prepare_cached(
            "UPDATE card_binding SET status = ?4, updated_at = ?5 \
             WHERE appid = ?1 AND card_id = ?2 AND code = ?3 AND status <> ?4 \
             RETURNING outer_id, outer_str",
        )?
        .query_row(
            params![appid, card_id.as_str(), code.as_str(), status.as_str(), now],
            channel_of,
        )
        .optional()?;
    if let Some(channel) = moved {
        return Ok(Moved::From(channel));
    }
    let known = conn
        .prepare_cached(
            "SELECT 1 FROM card_binding WHERE appid = ?1 AND card_id = ?2 AND code = ?3",
        )?
        .exists(key)?;
    Ok(if known {
        Moved::Already
    } else {
        Moved::Unknown
    })
}

/// The channel a `RETURNING outer_id, outer_str` read back.
fn channel_of(row: &rusqlite::Row<'_>) -> rusqlite::Result<(OuterId, String)> {
    let outer_id: String = row.get(0)?;
    Ok((super::outer_id_of(&outer_id), row.get(1)?))
}

/// What an `update_member_card` push changed on a bound member's card (`store::members::
/// note_wechat_change`): the echo of cardhook's own last update is only recognised, any other
/// change is added to what WeChat shows and the member it changed is returned.
fn note_wechat_change(
    conn: &Connection,
    change: &MemberCardChange<'_>,
    now: i64,
) -> rusqlite::Result<Option<MemberPoints>> {
    let card = params![
        change.appid,
        change.card_id,
        change.code,
        change.bonus,
        change.balance,
        now
    ];
    let echo = conn
        .prepare_cached(
            "UPDATE member SET echo_bonus = NULL, echo_balance = NULL, updated_at = ?6 \
             WHERE appid = ?1 AND card_id = ?2 AND code = ?3 \
             AND (echo_bonus IS NOT NULL OR echo_balance IS NOT NULL) \
             AND IFNULL(echo_bonus, 0) = ?4 AND IFNULL(echo_balance, 0) = ?5",
        )?
        .execute(card)?;
    if echo > 0 {
        return Ok(None);
    }
    conn.prepare_cached(
        "UPDATE member SET wechat_bonus = IFNULL(wechat_bonus, 0) + ?4, \
         wechat_balance = IFNULL(wechat_balance, 0) + ?5, updated_at = ?6 \
         WHERE appid = ?1 AND card_id = ?2 AND code = ?3 \
         RETURNING member_no, wechat_bonus, wechat_balance",
    )?
    .query_row(card, |row| {
        Ok(MemberPoints {
            member_no: row.get(0)?,
            bonus: row.get(1)?,
            balance: row.get(2)?,
        })
    })
    .optional()
}

/// A domain event (`store::outbox`); its `seq` is the table's AUTOINCREMENT, in commit order as the
/// writer is the one writer.
fn insert_domain_event(conn: &Connection, event: &NewEvent) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO domain_event (kind, appid, occurred_at, recorded_at, cause, data) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        event.kind.as_str(),
        event.appid,
        event.occurred_at,
        event.recorded_at,
        event.cause,
        event.data
    ])?;
    Ok(())
}

/// A card's review (`store::cards::reviewed`): a card created elsewhere gets a row; a push older than
/// the one applied last changes nothing.
fn note_review(conn: &Connection, review: &CardReview<'_>, now: i64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO card (appid, card_id, card_type, title, status, refuse_reason, quantity, body, \
         reviewed_at, created_at, updated_at) VALUES (?1, ?2, '', '', ?3, ?4, NULL, NULL, ?5, ?6, ?6) \
         ON CONFLICT (appid, card_id) DO UPDATE SET status = excluded.status, \
         refuse_reason = excluded.refuse_reason, reviewed_at = excluded.reviewed_at, \
         updated_at = excluded.updated_at \
         WHERE card.reviewed_at IS NULL OR card.reviewed_at <= excluded.reviewed_at",
    )?
    .execute(params![
        review.appid,
        review.card_id,
        review.status,
        review.refuse_reason,
        review.reviewed_at,
        now
    ])?;
    Ok(())
}

/// A MASSSENDJOBFINISH push (`store::mass::finished`): what WeChat reports of one message id.
fn note_mass_finish(
    conn: &Connection,
    appid: &str,
    finish: &MassSendFinish,
    now: i64,
) -> rusqlite::Result<()> {
    let Some(msg_id) = finish.msg_id else {
        return Ok(());
    };
    conn.prepare_cached(
        "UPDATE mass_send_msg SET status = ?1, total_count = ?2, filter_count = ?3, \
         sent_count = ?4, error_count = ?5, finished_at = ?6 WHERE appid = ?7 AND msg_id = ?8",
    )?
    .execute(params![
        finish.status,
        finish.total_count,
        finish.filter_count,
        finish.sent_count,
        finish.error_count,
        now,
        appid,
        msg_id
    ])?;
    Ok(())
}

/// The cards a follow QR code's scene hands out (`store::channel::follow_cards`).
fn follow_cards(conn: &Connection, appid: &str, scene: &str) -> rusqlite::Result<Vec<String>> {
    let mut statement = conn.prepare_cached(
        "SELECT card_id FROM channel WHERE appid = ?1 AND kind = ?2 \
         AND outer_id = 0 AND outer_str = ?3 ORDER BY card_id",
    )?;
    let kind = ChannelKind::FollowQrCode.as_str();
    let cards = statement.query_map(params![appid, kind, scene], |row| row.get(0))?;
    cards.collect()
}

/// Issue the next membership sequence number (1, 2, …) of `(appid, card_id)`.
fn next_sequence(conn: &Connection, appid: &str, card_id: &str) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "INSERT INTO card_sequence (appid, card_id, \"last\") VALUES (?1, ?2, 1) \
         ON CONFLICT (appid, card_id) DO UPDATE SET \"last\" = card_sequence.\"last\" + 1 \
         RETURNING \"last\"",
    )?
    .query_row(params![appid, card_id], |row| row.get(0))
}

/// Queue `job` unless a job with its dedup key exists; how many were added (0 or 1).
fn insert_job(conn: &Connection, job: &NewJob, now: i64) -> rusqlite::Result<u64> {
    let added = conn
        .prepare_cached(
            "INSERT INTO job (kind, dedup_key, payload, state, attempts, run_at, created_at, \
             updated_at) VALUES (?1, ?2, ?3, 'pending', 0, ?4, ?4, ?4) \
             ON CONFLICT (dedup_key) DO NOTHING",
        )?
        .execute(params![job.kind, job.dedup_key, job.payload, now])?;
    Ok(added as u64)
}
