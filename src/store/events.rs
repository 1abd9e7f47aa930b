//! The `card_event` table: every push, raw and parsed, deduplicated by a UNIQUE key.

use std::collections::HashSet;
use std::fmt::Write as _;

use chrono::{DateTime, Datelike, FixedOffset};
use entity::card_event;
use sea_orm::sea_query::OnConflict;
use sea_orm::ConnectionTrait;

use super::{bindings, channels, jobs, sequences, StoreError};
use crate::activation::{CardRules, JobPayload};
use crate::wechat::events::{Event, Message};
use crate::wechat::ids::AppId;

/// What recording needs beyond the push: the statistics offset and the member cards to activate.
#[derive(Debug, Clone)]
pub struct RecordRules {
    pub offset: FixedOffset,
    pub cards: CardRules,
}

/// A push ready to be stored: who it was for, what it says, and the decrypted XML as received.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub appid: AppId,
    pub message: Message,
    pub raw_xml: String,
    pub received_at: i64,
}

/// What storing a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    New,
    /// The same push was stored before: nothing changed.
    Duplicate,
}

/// The dedupe key of DESIGN §1, time first so new keys append to the unique index (DESIGN §6).
///
/// Card events: (CreateTime, appid, FromUserName, Event, CardId, UserCardCode) — the official
/// FromUserName+CreateTime is not unique for batch `addCard` (reference §6). Messages with a MsgId:
/// (appid, MsgId).
pub fn dedupe_key(appid: &AppId, message: &Message) -> String {
    if let Some(msg_id) = message.msg_id {
        return format!("m|{appid}|{msg_id}");
    }
    let event = &message.event;
    let parts = [
        appid.as_str(),
        message.from_user_name.as_str(),
        event.name().unwrap_or(&message.msg_type),
        event.card_id().map_or("", |c| c.as_str()),
        event.code().map_or("", |c| c.as_str()),
    ];
    // Built by hand: `format!` with five `Display` arguments cost ~3 700 instructions a push on
    // the writer's thread (callgrind; docs/PERFORMANCE.md).
    let mut key =
        String::with_capacity(12 + parts.iter().map(|part| part.len() + 1).sum::<usize>());
    let _ = write!(key, "{:012}", message.create_time);
    for part in parts {
        key.push('|');
        key.push_str(part);
    }
    key
}

/// The calendar day of a push in the statistics offset, as chrono's `%Y-%m-%d` writes it.
pub fn day_of(create_time: i64, offset: FixedOffset) -> String {
    let day = DateTime::from_timestamp(create_time, 0)
        .unwrap_or_default()
        .with_timezone(&offset)
        .date_naive();
    if !(0..=9999).contains(&day.year()) {
        // `+10000-01-01`: the last hours of CreateTime's range, east of UTC.
        return day.format("%Y-%m-%d").to_string();
    }
    // Not `format("%Y-%m-%d")` always: parsing the pattern on every push cost ~3 100
    // instructions of the writer's.
    format!("{:04}-{:02}-{:02}", day.year(), day.month(), day.day())
}

/// [`day_of`] for a batch's pushes, formatted again only when the CreateTime changes: pushes that
/// arrive together mostly carry the same second (~1 700 instructions a push otherwise, callgrind).
struct LocalDays {
    offset: FixedOffset,
    last: Option<(i64, String)>,
}

impl LocalDays {
    fn new(offset: FixedOffset) -> Self {
        Self { offset, last: None }
    }

    fn of(&mut self, create_time: i64) -> String {
        match &self.last {
            Some((last, day)) if *last == create_time => day.clone(),
            _ => {
                let day = day_of(create_time, self.offset);
                self.last = Some((create_time, day.clone()));
                day
            }
        }
    }
}

/// Store one push (see [`record_batch`]).
pub async fn record(
    db: &impl ConnectionTrait,
    push: &Incoming,
    rules: &RecordRules,
) -> Result<Recorded, StoreError> {
    let mut outcomes = record_batch(db, &[push], rules).await?;
    Ok(outcomes.pop().unwrap_or(Recorded::Duplicate))
}

/// Store pushes in order on `db` (one transaction when called by the ingest writer): the raw
/// events with their dedupe keys, the bindings and channel counters they move, and the
/// activations they call for. A duplicate — of an earlier push or of one in the same batch —
/// changes nothing.
///
/// The common case, a new `user_get_card`, costs no statement of its own: events, bindings,
/// counters (summed per channel and day) and jobs go in multi-row statements (DESIGN §6). Rarer
/// events (delete, consume, gift, restore) are applied one by one, in order.
pub async fn record_batch(
    db: &impl ConnectionTrait,
    pushes: &[&Incoming],
    rules: &RecordRules,
) -> Result<Vec<Recorded>, StoreError> {
    let keys: Vec<String> = pushes
        .iter()
        .map(|p| dedupe_key(&p.appid, &p.message))
        .collect();
    let mut inserted = insert_events(db, pushes, &keys).await?;
    let mut outcomes = Vec::with_capacity(pushes.len());
    let mut counters = channels::Batch::default();
    let mut new_bindings = bindings::Batch::default();
    let mut new_jobs = Vec::new();
    let mut days = LocalDays::new(rules.offset);
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
                counters.add(channels::ChannelDelta::for_event(
                    push.appid.as_str(),
                    e,
                    &day,
                    channels::Counts {
                        got: 1,
                        from_friend: i64::from(e.is_give_by_friend),
                        ..channels::Counts::default()
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
        if let Some(activate) = rules.cards.activation_for(&push.message.event) {
            let appid = push.appid.as_str();
            let seq = if activate.template.needs_sequence() {
                sequences::next(db, appid, &activate.card.card_id).await?
            } else {
                0
            };
            let openid = push.message.from_user_name.as_str();
            new_jobs.push(JobPayload::ActivateMemberCardV1 {
                appid: appid.to_owned(),
                openid: openid.to_owned(),
                request: activate.request(openid, seq),
            });
        }
    }
    new_bindings.flush(db).await?;
    counters.flush(db).await?;
    if let Some(first) = pushes.first() {
        jobs::enqueue_many(db, &new_jobs, first.received_at).await?;
    }
    Ok(outcomes)
}

/// The `card_event` row of a push, in the order of [`EVENT_COLUMNS`].
fn event_row(push: &Incoming, key: &str) -> [sea_orm::Value; 18] {
    let message = &push.message;
    let (mut outer_id, mut outer_str, mut source_scene) = (0, None, None);
    let (mut gift, mut friend, mut old_code, mut restore, mut unionid) =
        (false, None, None, false, None);
    match &message.event {
        Event::UserGetCard(e) => {
            outer_id = e.outer_id;
            outer_str = e.outer_str.clone();
            source_scene = e.source_scene.clone();
            gift = e.is_give_by_friend;
            friend = e.friend_user_name.as_ref().map(|o| o.0.clone());
            old_code = e.old_user_card_code.as_ref().map(|c| c.0.clone());
            restore = e.is_restore_member_card;
            unionid = e.union_id.clone();
        }
        Event::UserConsumeCard(e) => outer_str = e.outer_str.clone(),
        Event::UserViewCard(e) => outer_str = e.outer_str.clone(),
        Event::UserGiftingCard(e) => friend = e.friend_user_name.as_ref().map(|o| o.0.clone()),
        _ => {}
    }
    [
        push.appid.0.clone().into(),
        key.to_owned().into(),
        message.msg_type.clone().into(),
        message.event.name().map(str::to_owned).into(),
        message.from_user_name.0.clone().into(),
        message.event.card_id().map(|c| c.0.clone()).into(),
        message.event.code().map(|c| c.0.clone()).into(),
        message.create_time.into(),
        push.received_at.into(),
        outer_id.into(),
        outer_str.into(),
        source_scene.into(),
        gift.into(),
        friend.into(),
        old_code.into(),
        restore.into(),
        unionid.into(),
        push.raw_xml.clone().into(),
    ]
}

/// The columns of [`event_row`].
const EVENT_COLUMNS: [card_event::Column; 18] = {
    use card_event::Column as C;
    [
        C::Appid,
        C::DedupeKey,
        C::MsgType,
        C::Event,
        C::Openid,
        C::CardId,
        C::Code,
        C::CreateTime,
        C::ReceivedAt,
        C::OuterId,
        C::OuterStr,
        C::SourceScene,
        C::IsGiveByFriend,
        C::FriendOpenid,
        C::OldCode,
        C::IsRestoreMemberCard,
        C::Unionid,
        C::RawXml,
    ]
};

/// The event insert's SQL per row count (see `insert_shapes`).
static EVENT_INSERTS: super::insert_shapes::InsertShapes =
    super::insert_shapes::InsertShapes::new();

/// Insert the events whose dedupe keys are not stored yet; returns the keys inserted.
///
/// Only duplicates are read back: the stored keys are looked up first, the rest inserted with
/// ON CONFLICT DO NOTHING, and the affected-row count confirms that each was new. (A RETURNING row
/// per push cost more than the insert itself on SQLite: sqlx hands every row across threads.) When
/// another instance stores one of the keys in between (PostgreSQL, several instances), the count
/// falls short and the batch fails with [`StoreError::Race`]; the writer then stores its pushes one
/// by one, where a single row's count is exact.
async fn insert_events(
    db: &impl ConnectionTrait,
    pushes: &[&Incoming],
    keys: &[String],
) -> Result<HashSet<String>, StoreError> {
    use card_event::Column as C;
    use sea_orm::sea_query::Query;
    let stored = stored_keys(db, keys).await?;
    let mut inserted = HashSet::with_capacity(pushes.len());
    let mut batch_keys = HashSet::with_capacity(pushes.len());
    let mut fresh: Vec<(&Incoming, &String)> = pushes
        .iter()
        .copied()
        .zip(keys)
        .filter(|(_, key)| !stored.contains(*key) && batch_keys.insert(key.as_str()))
        .collect();
    // Key order: two instances storing the same redeliveries lock their keys in one order.
    fresh.sort_by(|a, b| a.1.cmp(b.1));
    for chunk in super::statement_chunks(&fresh) {
        let rows = chunk
            .iter()
            .map(|(push, key)| event_row(push, key))
            .collect();
        let statement = EVENT_INSERTS.statement(db.get_database_backend(), rows, || {
            Query::insert()
                .into_table(card_event::Entity)
                .columns(EVENT_COLUMNS)
                .on_conflict(OnConflict::column(C::DedupeKey).do_nothing().to_owned())
                .to_owned()
        })?;
        let affected = db.execute_raw(statement).await?.rows_affected();
        match (affected == chunk.len() as u64, chunk.len()) {
            (true, _) => inserted.extend(chunk.iter().map(|(_, key)| (*key).clone())),
            // A single row's count is exact: it was stored concurrently, a duplicate.
            (false, 1) => {}
            (false, _) => return Err(StoreError::Race),
        }
    }
    Ok(inserted)
}

/// Which of `keys` are stored already.
async fn stored_keys(
    db: &impl ConnectionTrait,
    keys: &[String],
) -> Result<HashSet<String>, StoreError> {
    use card_event::Column as C;
    use sea_orm::sea_query::{Expr, ExprTrait, Query};
    let mut stored = HashSet::new();
    for chunk in super::statement_chunks(keys) {
        let select = Query::select()
            .column(C::DedupeKey)
            .from(card_event::Entity)
            .and_where(Expr::col(C::DedupeKey).is_in(chunk.iter().cloned()))
            .to_owned();
        let statement = db.get_database_backend().build(&select);
        for row in db.query_all_raw(statement).await? {
            stored.insert(row.try_get::<String>("", "dedupe_key")?);
        }
    }
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wechat::events;

    #[test]
    fn batch_add_card_pushes_have_distinct_keys() {
        let appid = AppId::from("wxA");
        let make = |code: &str| {
            let xml = format!("<xml><ToUserName>g</ToUserName><FromUserName>o1</FromUserName><CreateTime>1700000000</CreateTime><MsgType>event</MsgType><Event>user_get_card</Event><CardId>c</CardId><UserCardCode>{code}</UserCardCode></xml>");
            dedupe_key(&appid, &events::parse(&xml).unwrap())
        };
        assert_ne!(make("1"), make("2"));
        assert_eq!(make("1"), make("1"));
        // Stored keys must never change: a redelivery after an upgrade must still match.
        assert_eq!(make("1"), "001700000000|wxA|o1|user_get_card|c|1");
        let unknown = "<xml><ToUserName>g</ToUserName><FromUserName>o2</FromUserName><CreateTime>7</CreateTime><MsgType>event</MsgType><Event>LOCATION</Event></xml>";
        let key = dedupe_key(&appid, &events::parse(unknown).unwrap());
        assert_eq!(key, "000000000007|wxA|o2|LOCATION||");
        let text = "<xml><ToUserName>g</ToUserName><FromUserName>o3</FromUserName><CreateTime>7</CreateTime><MsgType>text</MsgType><MsgId>42</MsgId></xml>";
        let key = dedupe_key(&appid, &events::parse(text).unwrap());
        assert_eq!(key, "m|wxA|42");
    }

    #[test]
    fn days_follow_the_offset() {
        let cst = FixedOffset::east_opt(8 * 3600).unwrap();
        // 2024-04-30T16:30:00Z is already May 1st in China.
        assert_eq!(day_of(1714494600, cst), "2024-05-01");
        assert_eq!(
            day_of(1714494600, FixedOffset::east_opt(0).unwrap()),
            "2024-04-30"
        );
        // The same text as chrono's `%Y-%m-%d`, over the whole range CreateTime may take.
        let west = FixedOffset::west_opt(11 * 3600).unwrap();
        let max = 253_402_300_799_i64;
        for time in (0..=max).step_by(86_399_993).chain([0, 1, max]) {
            for offset in [cst, west] {
                let strftime = DateTime::from_timestamp(time, 0)
                    .unwrap()
                    .with_timezone(&offset)
                    .format("%Y-%m-%d")
                    .to_string();
                assert_eq!(day_of(time, offset), strftime, "{time}");
            }
        }
    }

    #[test]
    fn a_batch_formats_each_local_day_as_day_of_does() {
        let midnight_cst = 1_714_492_800 - 8 * 3600; // 2024-05-01T00:00:00+08:00
        let mut times = vec![0, 1, -1, i64::MIN, i64::MAX, 253_402_300_799];
        for around in [
            midnight_cst,
            midnight_cst + 86_400,
            midnight_cst + 11 * 3600,
        ] {
            times.extend([around - 1, around, around + 1, around, around - 1]);
        }
        for offset in [8 * 3600, 0, -11 * 3600, 5 * 3600 + 45 * 60] {
            let offset = FixedOffset::east_opt(offset).unwrap();
            let mut days = LocalDays::new(offset);
            for &time in &times {
                assert_eq!(days.of(time), day_of(time, offset), "{time} at {offset}");
            }
        }
    }
}
