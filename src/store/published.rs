//! The fields of each domain event (DESIGN §4 "Events out"), borrowed from what caused it. A push's
//! event stores only its cause (the push's dedupe key): its fields are built from the stored push
//! when the event is read (`store::outbox::page`, by the rule of `store::effects::publication`), so
//! the receiver's hot path writes a few bytes. The worker's and the members' events are built where
//! they commit and stored with their fields.

use serde::Serialize;

use super::push::Incoming;
use crate::event_type::EventType;
use crate::wechat::events::{
    CardCheck, MassSendFinish, UserConsumeCard, UserGetCard, UserGiftingCard,
};
use crate::wechat::ids::{CardId, Code, OuterId};

/// The fields of a push's domain event. A `card.got`'s `channel` (the name the operator gave its
/// channel) is filled in when the event is read, from the channel registry.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Fields<'a> {
    Got(Got<'a>),
    /// `card.deleted`: the card, the code (absent for a card without custom codes), the holder.
    Code {
        card_id: &'a CardId,
        code: Option<&'a Code>,
        openid: &'a str,
    },
    Consumed {
        openid: &'a str,
        #[serde(flatten)]
        event: &'a UserConsumeCard,
    },
    Gifted {
        openid: &'a str,
        #[serde(flatten)]
        event: &'a UserGiftingCard,
    },
    Review {
        card_id: &'a CardId,
        passed: bool,
        refuse_reason: Option<&'a str>,
    },
    Mass(&'a MassSendFinish),
    /// `card.event`: any other card event, named as WeChat names it, with its typed fields.
    Other {
        event: &'a str,
        openid: &'a str,
        #[serde(flatten)]
        fields: serde_json::Value,
    },
}

/// `card.got`: a code arrived, through which channel, from whom.
#[derive(Debug, Clone, Serialize)]
pub struct Got<'a> {
    pub card_id: &'a CardId,
    pub code: &'a Code,
    pub openid: &'a str,
    pub outer_id: &'a OuterId,
    pub outer_str: &'a str,
    /// The registered channel's name, if the channel is registered.
    pub channel: Option<String>,
    pub from_friend: bool,
    pub friend_openid: Option<&'a str>,
    pub old_code: Option<&'a Code>,
    /// A deleted member card found back.
    pub restored: bool,
    pub unionid: Option<&'a str>,
    pub source_scene: Option<&'a str>,
}

impl<'a> Got<'a> {
    pub fn of(push: &'a Incoming, get: &'a UserGetCard) -> Self {
        Self {
            card_id: &get.card_id,
            code: &get.code,
            openid: push.message.from_user_name.as_str(),
            outer_id: &get.outer_id,
            outer_str: get.outer_str.as_deref().unwrap_or_default(),
            channel: None,
            from_friend: get.is_give_by_friend,
            friend_openid: get.friend_user_name.as_ref().map(|o| o.as_str()),
            old_code: get.old_user_card_code.as_ref(),
            restored: get.is_restore_member_card,
            unionid: get.union_id.as_deref(),
            source_scene: get.source_scene.as_deref(),
        }
    }
}

impl<'a> Fields<'a> {
    pub fn review(check: &'a CardCheck, passed: bool) -> Self {
        Self::Review {
            card_id: &check.card_id,
            passed,
            refuse_reason: check.refuse_reason.as_deref().filter(|_| !passed),
        }
    }
}

/// A push's event of `kind`: what caused it is the push (its dedupe key), it occurred at the push's
/// CreateTime and was recorded at its arrival; its fields are read from the push when it is read.
pub fn push_event(push: &Incoming, dedupe_key: &str, kind: EventType) -> NewEvent {
    NewEvent {
        kind,
        appid: push.appid.as_str().to_owned(),
        occurred_at: push.message.create_time,
        recorded_at: push.received_at,
        cause: dedupe_key.to_owned(),
        data: None,
    }
}

/// A domain event about to be stored. A push's event stores only what caused it (the push's
/// dedupe key): its fields are read from the push when the event is read (`store::outbox::page`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub kind: EventType,
    pub appid: String,
    pub occurred_at: i64,
    pub recorded_at: i64,
    /// A push's dedupe key, or a key that names another fact once: the event's id follows it.
    pub cause: String,
    /// The type's fields as JSON; none for a push's event.
    pub data: Option<String>,
}

impl NewEvent {
    /// The `kind` event of a fact other than a push, named once by `cause`.
    pub fn new(
        kind: EventType,
        appid: &str,
        cause: String,
        occurred_at: i64,
        recorded_at: i64,
        data: &impl serde::Serialize,
    ) -> Self {
        // The fields are cardhook's own structs of strings and numbers: they always serialize.
        let data = serde_json::to_string(data).unwrap_or_else(|_| "{}".to_owned());
        Self {
            kind,
            appid: appid.to_owned(),
            occurred_at,
            recorded_at,
            cause,
            data: Some(data),
        }
    }
}

/// `member.points_changed`: a member's points and balance after a change, the change, and who made
/// it (`wechat`: an `update_member_card` push that was not cardhook's own echo; `cardhook`: an
/// update the merchant made through cardhook).
#[derive(Debug, Clone, Serialize)]
pub struct PointsChanged<'a> {
    pub member_no: &'a str,
    pub card_id: Option<&'a str>,
    pub code: Option<&'a str>,
    pub openid: Option<&'a str>,
    pub bonus: i64,
    pub balance: i64,
    pub bonus_change: i64,
    pub balance_change: i64,
    pub source: &'static str,
}

/// `member.bound`: a member's card bound to the merchant's member.
#[derive(Debug, Clone, Serialize)]
pub struct MemberBound<'a> {
    pub member_no: &'a str,
    pub card_id: &'a str,
    pub code: &'a str,
    pub openid: &'a str,
}

/// `card.activated`: WeChat activated a member card with its membership number.
#[derive(Debug, Clone, Serialize)]
pub struct Activated<'a> {
    pub card_id: &'a str,
    pub code: &'a str,
    pub membership_number: &'a str,
    pub member_no: Option<&'a str>,
}

/// `card.revoked`: the merchant took a code back (`codes unavailable`); its member, if one was
/// bound, keeps its points and balance.
#[derive(Debug, Clone, Serialize)]
pub struct Revoked<'a> {
    pub card_id: &'a str,
    pub code: &'a str,
    pub openid: Option<&'a str>,
    pub member_no: Option<&'a str>,
    pub reason: Option<&'a str>,
}

/// The `card.revoked` of a code taken back (once per code: a code revoked stays so).
pub fn revoked(appid: &str, fields: &Revoked<'_>, now: i64) -> NewEvent {
    let cause = format!("revoked|{appid}|{}|{}", fields.card_id, fields.code);
    NewEvent::new(EventType::CardRevoked, appid, cause, now, now, fields)
}

/// What WeChat changed on a member card: points and balance (in fen) added, negative when taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberCardChange<'a> {
    pub appid: &'a str,
    pub card_id: &'a str,
    pub code: &'a str,
    pub bonus: i64,
    pub balance: i64,
}

/// A member's points and balance as WeChat shows them after a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberPoints {
    pub member_no: String,
    pub bonus: i64,
    pub balance: i64,
}

/// The `member.points_changed` of an `update_member_card` push that changed `member`.
pub fn points_changed_by_wechat(
    push: &Incoming,
    dedupe_key: &str,
    change: &MemberCardChange<'_>,
    member: &MemberPoints,
) -> NewEvent {
    let fields = PointsChanged {
        member_no: &member.member_no,
        card_id: Some(change.card_id),
        code: Some(change.code),
        openid: Some(push.message.from_user_name.as_str()),
        bonus: member.bonus,
        balance: member.balance,
        bonus_change: change.bonus,
        balance_change: change.balance,
        source: "wechat",
    };
    NewEvent::new(
        EventType::MemberPointsChanged,
        push.appid.as_str(),
        dedupe_key.to_owned(),
        push.message.create_time,
        push.received_at,
        &fields,
    )
}

/// The `member.bound` of binding `member_no` to a card code (`store::members::bind`).
pub fn member_bound(
    appid: &str,
    member_no: &str,
    card: (&str, &str),
    openid: &str,
    now: i64,
) -> NewEvent {
    let (card_id, code) = card;
    let fields = MemberBound {
        member_no,
        card_id,
        code,
        openid,
    };
    let cause = format!("bound|{appid}|{member_no}|{card_id}|{code}");
    NewEvent::new(EventType::MemberBound, appid, cause, now, now, &fields)
}

/// The `card.activated` of activation job `job_id`: WeChat took the membership number.
pub fn activated(appid: &str, job_id: i64, fields: &Activated<'_>, now: i64) -> NewEvent {
    let cause = format!(
        "activated|{appid}|{}|{}|{job_id}",
        fields.card_id, fields.code
    );
    NewEvent::new(EventType::CardActivated, appid, cause, now, now, fields)
}

/// The `member.points_changed` of a change the merchant made through cardhook (`before`: points and
/// balance, → `after`; each change is a new revision of the member).
pub fn points_changed_by_cardhook(
    before: (i64, i64),
    after: &entity::member::Model,
    now: i64,
) -> NewEvent {
    let fields = PointsChanged {
        member_no: &after.member_no,
        card_id: after.card_id.as_deref(),
        code: after.code.as_deref(),
        openid: after.openid.as_deref(),
        bonus: after.bonus,
        balance: after.balance,
        bonus_change: after.bonus - before.0,
        balance_change: after.balance - before.1,
        source: "cardhook",
    };
    let cause = format!(
        "points|{}|{}|{}",
        after.appid, after.member_no, after.revision
    );
    NewEvent::new(
        EventType::MemberPointsChanged,
        &after.appid,
        cause,
        now,
        now,
        &fields,
    )
}
