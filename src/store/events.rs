//! The `card_event` table: every push, raw and parsed, deduplicated by a UNIQUE key.

use chrono::{DateTime, FixedOffset};
use entity::card_event;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait, TryInsertResult};

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
    format!(
        "{:012}|{appid}|{}|{}|{}|{}",
        message.create_time,
        message.from_user_name,
        event.name().unwrap_or(&message.msg_type),
        event.card_id().map(|c| c.as_str()).unwrap_or(""),
        event.code().map(|c| c.as_str()).unwrap_or(""),
    )
}

/// The calendar day of a push in the statistics offset.
pub fn day_of(create_time: i64, offset: FixedOffset) -> String {
    DateTime::from_timestamp(create_time, 0)
        .unwrap_or_default()
        .with_timezone(&offset)
        .format("%Y-%m-%d")
        .to_string()
}

/// Store one push, apply it to the bindings and channel counters, and enqueue the activation it
/// calls for, all on `db` (one transaction when called by the ingest writer). A duplicate changes
/// nothing.
pub async fn record(
    db: &impl ConnectionTrait,
    push: &Incoming,
    rules: &RecordRules,
) -> Result<Recorded, StoreError> {
    let message = &push.message;
    let mut row = card_event::ActiveModel {
        appid: Set(push.appid.0.clone()),
        dedupe_key: Set(dedupe_key(&push.appid, message)),
        msg_type: Set(message.msg_type.clone()),
        event: Set(message.event.name().map(str::to_owned)),
        openid: Set(message.from_user_name.0.clone()),
        card_id: Set(message.event.card_id().map(|c| c.0.clone())),
        code: Set(message.event.code().map(|c| c.0.clone())),
        create_time: Set(message.create_time),
        received_at: Set(push.received_at),
        outer_id: Set(0),
        outer_str: Set(None),
        source_scene: Set(None),
        is_give_by_friend: Set(false),
        friend_openid: Set(None),
        old_code: Set(None),
        is_restore_member_card: Set(false),
        unionid: Set(None),
        raw_xml: Set(push.raw_xml.clone()),
        ..Default::default()
    };
    match &message.event {
        Event::UserGetCard(e) => {
            row.outer_id = Set(e.outer_id);
            row.outer_str = Set(e.outer_str.clone());
            row.source_scene = Set(e.source_scene.clone());
            row.is_give_by_friend = Set(e.is_give_by_friend);
            row.friend_openid = Set(e.friend_user_name.as_ref().map(|o| o.0.clone()));
            row.old_code = Set(e.old_user_card_code.as_ref().map(|c| c.0.clone()));
            row.is_restore_member_card = Set(e.is_restore_member_card);
            row.unionid = Set(e.union_id.clone());
        }
        Event::UserConsumeCard(e) => row.outer_str = Set(e.outer_str.clone()),
        Event::UserViewCard(e) => row.outer_str = Set(e.outer_str.clone()),
        Event::UserGiftingCard(e) => {
            row.friend_openid = Set(e.friend_user_name.as_ref().map(|o| o.0.clone()))
        }
        _ => {}
    }
    let inserted = card_event::Entity::insert(row)
        .on_conflict(
            OnConflict::column(card_event::Column::DedupeKey)
                .do_nothing()
                .to_owned(),
        )
        .try_insert()
        .exec_without_returning(db)
        .await?;
    if !matches!(inserted, TryInsertResult::Inserted(n) if n > 0) {
        return Ok(Recorded::Duplicate);
    }
    let day = day_of(message.create_time, rules.offset);
    if let Some(delta) = bindings::apply(db, push, &day).await? {
        channels::add(db, &delta).await?;
    }
    if let Some(activate) = rules.cards.activation_for(&message.event) {
        let appid = push.appid.as_str();
        let seq = if activate.template.needs_sequence() {
            sequences::next(db, appid, &activate.card.card_id).await?
        } else {
            0
        };
        let openid = message.from_user_name.as_str();
        let payload = JobPayload::ActivateMemberCardV1 {
            appid: appid.to_owned(),
            openid: openid.to_owned(),
            request: activate.request(openid, seq),
        };
        jobs::enqueue(db, &payload, push.received_at).await?;
    }
    Ok(Recorded::New)
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
        assert!(make("1").starts_with("001700000000|wxA|o1|user_get_card|c|1"));
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
    }
}
