//! A push on its way into storage: what it says, its dedupe key and local day, the `card_event`
//! row it becomes, the jobs it calls for, and what storing it did. Shared by both writers
//! (`store::record` on sea-orm, `store::sqlite_batch` on the SQLite writer's own connection).

use std::fmt::Write as _;

use chrono::{DateTime, Datelike, FixedOffset};
use sha2::Digest;

use crate::wechat::events::{Event, Message, Unparsed};
use crate::wechat::ids::AppId;

/// A push ready to be stored: who it was for, what it says, and the decrypted XML as received.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub appid: AppId,
    pub message: Message,
    pub raw_xml: String,
    pub received_at: i64,
    /// A plain-mode push's `appid|timestamp|nonce`: its body is not signed, so the query that brought a
    /// stored push brings no other (`card_event.query_key` is UNIQUE). None when encrypted.
    pub query_key: Option<String>,
}

impl Incoming {
    /// A push received at `received_at` (without a query key). One whose CreateTime could not be
    /// read is dated by its arrival; its dedupe key is then its XML ([`dedupe_key`]).
    pub fn new(appid: AppId, mut message: Message, raw_xml: String, received_at: i64) -> Self {
        if message.lacks("CreateTime") {
            message.create_time = received_at;
        }
        Self {
            appid,
            message,
            raw_xml,
            received_at,
            query_key: None,
        }
    }
}

/// What storing a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    New,
    /// The same push was stored before: nothing changed.
    Duplicate,
}

/// What storing a batch did: each push's outcome, in order, and how many jobs it queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub outcomes: Vec<Recorded>,
    pub jobs_queued: u64,
}

/// A row for the `job` table: its kind, the key that keeps it unique, and its JSON payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    pub kind: &'static str,
    pub dedup_key: String,
    pub payload: String,
}

/// The jobs a newly stored push calls for. Decided outside `store` (the activation rules); the
/// writers ask while storing the push, in its transaction.
pub trait JobsFor: Send + Sync {
    /// The card whose next membership sequence number the push's job needs, if it needs one.
    fn sequence_for<'a>(&self, push: &'a Incoming) -> Option<&'a str>;
    /// The job `push` calls for; `seq` is the number drawn for `sequence_for` (0 when none was).
    fn job_for(&self, push: &Incoming, seq: i64) -> Option<NewJob>;
    /// The job that sends `card_id` to the sender of a follow or scan of the follow QR code `scene`
    /// (the writers look up which cards a scene hands out: `store::channel::follow_cards`).
    fn follow_job(&self, push: &Incoming, scene: &str, card_id: &str) -> Option<NewJob>;
}

/// No jobs at all (a receiver without member cards; tests).
pub struct NoJobs;

impl JobsFor for NoJobs {
    fn sequence_for<'a>(&self, _: &'a Incoming) -> Option<&'a str> {
        None
    }
    fn job_for(&self, _: &Incoming, _: i64) -> Option<NewJob> {
        None
    }
    fn follow_job(&self, _: &Incoming, _: &str, _: &str) -> Option<NewJob> {
        None
    }
}

/// The dedupe key of DESIGN §1, time first so new keys append to the unique index (DESIGN §6).
///
/// Card events: (CreateTime, appid, FromUserName, Event, CardId, UserCardCode) — the official
/// FromUserName+CreateTime is not unique for batch `addCard` (reference §6). Messages with a MsgId:
/// (appid, MsgId). Stored keys never change: a redelivery after an upgrade must still match.
/// A push whose sender or time could not be read has no such key: its XML, hashed, is its key
/// (a redelivery carries the same XML).
pub fn dedupe_key(push: &Incoming) -> String {
    let (appid, message) = (&push.appid, &push.message);
    if let Some(msg_id) = message.msg_id {
        return format!("m|{appid}|{msg_id}");
    }
    if message.lacks("CreateTime") || message.lacks("FromUserName") {
        let digest = hex::encode(sha2::Sha256::digest(push.raw_xml.as_bytes()));
        return format!("x|{appid}|{digest}");
    }
    let event = &message.event;
    let parts = [
        appid.as_str(),
        message.from_user_name.as_str(),
        event.name().unwrap_or(&message.msg_type),
        event.card_id().map_or("", |c| c.as_str()),
        event.code().map_or("", |c| c.as_str()),
    ];
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
    format!("{:04}-{:02}-{:02}", day.year(), day.month(), day.day())
}

/// [`day_of`] for a batch's pushes, formatted again only when the CreateTime changes (pushes that
/// arrive together mostly carry the same second).
pub struct LocalDays {
    offset: FixedOffset,
    last: Option<(i64, String)>,
}

impl LocalDays {
    pub fn new(offset: FixedOffset) -> Self {
        Self { offset, last: None }
    }

    pub fn of(&mut self, create_time: i64) -> String {
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

/// The `card_event` row of a push: every column but `id`, in the order of [`EVENT_COLUMNS`].
#[derive(Debug, Clone)]
pub struct EventRow<'a> {
    pub appid: &'a str,
    pub dedupe_key: &'a str,
    pub msg_type: &'a str,
    pub event: Option<&'a str>,
    pub openid: &'a str,
    pub card_id: Option<&'a str>,
    pub code: Option<&'a str>,
    pub create_time: i64,
    pub received_at: i64,
    pub outer_id: &'a str,
    pub outer_str: Option<&'a str>,
    pub source_scene: Option<&'a str>,
    pub is_give_by_friend: bool,
    pub friend_openid: Option<&'a str>,
    pub old_code: Option<&'a str>,
    pub is_restore_member_card: bool,
    pub unionid: Option<&'a str>,
    pub raw_xml: &'a str,
    /// The fields that could not be read, as JSON `[{"field","reason"}]`; None for nearly all.
    pub unparsed: Option<String>,
    pub query_key: Option<&'a str>,
}

/// The columns of an [`EventRow`], in order.
pub const EVENT_COLUMNS: [&str; 20] = [
    "appid",
    "dedupe_key",
    "msg_type",
    "event",
    "openid",
    "card_id",
    "code",
    "create_time",
    "received_at",
    "outer_id",
    "outer_str",
    "source_scene",
    "is_give_by_friend",
    "friend_openid",
    "old_code",
    "is_restore_member_card",
    "unionid",
    "raw_xml",
    "unparsed",
    "query_key",
];

impl<'a> EventRow<'a> {
    /// The row `push` is stored as under `dedupe_key`.
    pub fn of(push: &'a Incoming, dedupe_key: &'a str) -> Self {
        let message = &push.message;
        let mut row = Self {
            appid: push.appid.as_str(),
            dedupe_key,
            msg_type: &message.msg_type,
            event: message.event.name(),
            openid: message.from_user_name.as_str(),
            card_id: message.event.card_id().map(|c| c.as_str()),
            code: message.event.code().map(|c| c.as_str()),
            create_time: message.create_time,
            received_at: push.received_at,
            outer_id: "0",
            outer_str: None,
            source_scene: None,
            is_give_by_friend: false,
            friend_openid: None,
            old_code: None,
            is_restore_member_card: false,
            unionid: None,
            raw_xml: &push.raw_xml,
            unparsed: unparsed_json(&message.unparsed),
            query_key: push.query_key.as_deref(),
        };
        match &message.event {
            Event::UserGetCard(e) => {
                row.outer_id = e.outer_id.as_str();
                row.outer_str = e.outer_str.as_deref();
                row.source_scene = e.source_scene.as_deref();
                row.is_give_by_friend = e.is_give_by_friend;
                row.friend_openid = e.friend_user_name.as_ref().map(|o| o.as_str());
                row.old_code = e.old_user_card_code.as_ref().map(|c| c.as_str());
                row.is_restore_member_card = e.is_restore_member_card;
                row.unionid = e.union_id.as_deref();
            }
            Event::UserConsumeCard(e) => row.outer_str = e.outer_str.as_deref(),
            Event::UserViewCard(e) => row.outer_str = e.outer_str.as_deref(),
            Event::UserGiftingCard(e) => {
                row.friend_openid = e.friend_user_name.as_ref().map(|o| o.as_str())
            }
            _ => {}
        }
        row
    }
}

/// `card_event.unparsed`: the fields a push left out, as JSON; None when it left out none.
fn unparsed_json(unparsed: &[Unparsed]) -> Option<String> {
    if unparsed.is_empty() {
        return None;
    }
    let list: Vec<serde_json::Value> = unparsed
        .iter()
        .map(|u| serde_json::json!({"field": u.field, "reason": u.reason}))
        .collect();
    Some(serde_json::Value::Array(list).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wechat::events;

    fn key_of(xml: &str) -> String {
        dedupe_key(&Incoming {
            appid: AppId::from("wxA"),
            message: events::parse(xml).unwrap(),
            raw_xml: xml.to_owned(),
            received_at: 0,
            query_key: None,
        })
    }

    #[test]
    fn batch_add_card_pushes_have_distinct_keys() {
        let make = |code: &str| {
            let xml = format!("<xml><ToUserName>g</ToUserName><FromUserName>o1</FromUserName><CreateTime>1700000000</CreateTime><MsgType>event</MsgType><Event>user_get_card</Event><CardId>c</CardId><UserCardCode>{code}</UserCardCode></xml>");
            key_of(&xml)
        };
        assert_ne!(make("1"), make("2"));
        assert_eq!(make("1"), make("1"));
        // Stored keys must never change: a redelivery after an upgrade must still match.
        assert_eq!(make("1"), "001700000000|wxA|o1|user_get_card|c|1");
        let unknown = "<xml><ToUserName>g</ToUserName><FromUserName>o2</FromUserName><CreateTime>7</CreateTime><MsgType>event</MsgType><Event>LOCATION</Event></xml>";
        assert_eq!(key_of(unknown), "000000000007|wxA|o2|LOCATION||");
        let text = "<xml><ToUserName>g</ToUserName><FromUserName>o3</FromUserName><CreateTime>7</CreateTime><MsgType>text</MsgType><MsgId>42</MsgId></xml>";
        assert_eq!(key_of(text), "m|wxA|42");
        // Without a readable time or sender, the XML itself is the key.
        let timeless = "<xml><FromUserName>o</FromUserName><CreateTime>soon</CreateTime><MsgType>event</MsgType><Event>user_get_card</Event><CardId>c</CardId><UserCardCode>1</UserCardCode></xml>";
        assert_eq!(key_of(timeless), key_of(timeless));
        assert!(key_of(timeless).starts_with("x|wxA|"));
        assert_ne!(
            key_of(timeless),
            key_of(&timeless.replace("<UserCardCode>1", "<UserCardCode>2"))
        );
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
