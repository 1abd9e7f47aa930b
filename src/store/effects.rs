//! What a new push does to the ledger, decided once and without I/O: [`effects`] turns a push into
//! a list of [`Effect`]s, and each writer carries out each kind of effect in its own SQL
//! (`store::record` through sea-orm, `store::sqlite_batch` on the SQLite writer's connection).
//!
//! A new card event is a new arm of [`effects`]; only an effect of a new kind needs one function
//! per writer. The jobs a push calls for are the activation rules' (`jobs::CardRules`), asked by
//! the writers after the effects.

use super::channel_day::{ChannelDelta, Counts};
use super::published::{Fields, Got, MemberCardChange};
use super::push::Incoming;
use crate::event_type::EventType;
use crate::wechat::events::{Event, MassSendFinish, UserGetCard};
use crate::wechat::ids::{CardId, Code};

/// The life of a card code, as the binding's `status` column spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Got,
    Activated,
    GiftedAway,
    Deleted,
    Consumed,
    /// Taken back by the merchant (`codes unavailable`).
    Revoked,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Got => "got",
            Self::Activated => "activated",
            Self::GiftedAway => "gifted_away",
            Self::Deleted => "deleted",
            Self::Consumed => "consumed",
            Self::Revoked => "revoked",
        }
    }
}

/// One change a push makes, in the order the writers carry them out.
#[derive(Debug, Clone)]
pub enum Effect<'a> {
    /// A code arrived: its binding is created, or re-pointed to its new holder and channel (keeping
    /// whether it was restored, its membership number and its activation).
    Bind(NewBinding<'a>),
    /// A deleted member card found back: its binding returns to `got` under the push's sender and
    /// is marked restored — or, for a code cardhook never saw, is created so. `count` is added in
    /// the channel of the binding that holds the code afterwards.
    Restore {
        binding: NewBinding<'a>,
        count: Counts,
    },
    /// A code changes status.
    Move(CodeMove<'a>),
    /// Counters added to the channel a push names.
    Count(ChannelDelta),
    /// WeChat changed a member card's points or balance: cardhook's own update comes back as an
    /// echo and is only recognised; any other change is added to what WeChat shows.
    MemberCard(MemberCardChange<'a>),
    /// A card was reviewed: its status (a card created elsewhere gets a row); an older review than
    /// the one applied last changes nothing.
    Review(CardReview<'a>),
    /// A mass send's report of one message id.
    MassReport {
        appid: &'a str,
        finish: &'a MassSendFinish,
    },
    /// A follow or scan of a parametric QR code: each card a follow QR code of this scene hands out
    /// is sent to the sender (a job per card, `JobsFor::follow_job`).
    FollowScene(&'a str),
    /// A domain event for the merchant's systems (`store::outbox`), in the push's transaction: its
    /// type; its fields are the push's, read with it ([`publication`]).
    Publish(EventType),
}

/// The domain event a push publishes: its type and its fields (read back with the stored push when
/// the event is read).
#[derive(Debug, Clone)]
pub struct Publish<'a> {
    pub kind: EventType,
    pub fields: Fields<'a>,
}

/// The binding a `user_get_card` creates or re-points. It borrows the push; the writers build its
/// column values.
#[derive(Debug, Clone)]
pub struct NewBinding<'a> {
    pub push: &'a Incoming,
    pub get: &'a UserGetCard,
    pub day: String,
    pub restored: bool,
}

impl<'a> NewBinding<'a> {
    /// (appid, card_id, code): the binding's unique key.
    pub fn key(&self) -> (&'a str, &'a str, &'a str) {
        (
            self.push.appid.as_str(),
            self.get.card_id.as_str(),
            self.get.code.as_str(),
        )
    }
}

/// A code moving to `status` (nothing when cardhook does not know it); `count`, if any, is added in
/// the channel the code arrived through, or unattributed when cardhook never saw it arrive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CodeMove<'a> {
    pub card_id: &'a CardId,
    pub code: Option<&'a Code>,
    pub status: Status,
    pub count: Option<Counts>,
}

/// What a [`CodeMove`] found: the code moved from its binding's channel `C`, or it was in that
/// status already (a consume made at the till through cardhook, whose push follows), or cardhook
/// does not know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Moved<C> {
    From(C),
    Already,
    Unknown,
}

impl<C> Moved<C> {
    /// The counters a move adds, and the channel they go to: none for a code already in its new
    /// status (counted when it got there); unattributed for a code cardhook never saw arrive.
    pub fn counts(self, count: Option<Counts>) -> Option<(Option<C>, Counts)> {
        let count = count?;
        match self {
            Self::From(channel) => Some((Some(channel), count)),
            Self::Already => None,
            Self::Unknown => Some((None, count)),
        }
    }
}

/// A card's review: its new status, why it was refused, and when (the push's CreateTime).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CardReview<'a> {
    pub appid: &'a str,
    pub card_id: &'a str,
    pub status: &'a str,
    pub refuse_reason: Option<&'a str>,
    pub reviewed_at: i64,
}

/// What a new (not duplicate) push does, on `day` (its CreateTime's day in the statistics offset).
/// A later event for a code counts in the channel the code arrived through (DESIGN §3).
///
/// Its last effect is the domain event it publishes, if any. An `update_member_card` publishes
/// `member.points_changed` only when it changed a member (not cardhook's own echo): the writers
/// decide that with the member row at hand.
pub fn effects<'a>(push: &'a Incoming, day: &str) -> Vec<Effect<'a>> {
    let mut effects = ledger(push, day);
    effects.extend(publication(push).map(|p| Effect::Publish(p.kind)));
    effects
}

/// What a push changes in the ledger.
fn ledger<'a>(push: &'a Incoming, day: &str) -> Vec<Effect<'a>> {
    let appid = push.appid.as_str();
    match &push.message.event {
        Event::UserGetCard(get) => got(push, get, day),
        Event::UserDelCard(e) => vec![settle(&e.card_id, e.code.as_ref(), Status::Deleted)],
        Event::UserConsumeCard(e) => vec![settle(&e.card_id, e.code.as_ref(), Status::Consumed)],
        // A gift that came back (IsReturnBack=1) returns the card to its giver.
        Event::UserGiftingCard(e) => vec![Effect::Move(CodeMove {
            card_id: &e.card_id,
            code: e.code.as_ref(),
            status: if e.is_return_back {
                Status::Got
            } else {
                Status::GiftedAway
            },
            count: None,
        })],
        Event::UpdateMemberCard(e) => match &e.code {
            // Reference §3.9: the change of points and balance; a push without a code names no card.
            Some(code) => vec![Effect::MemberCard(MemberCardChange {
                appid,
                card_id: e.card_id.as_str(),
                code: code.as_str(),
                bonus: e.modify_bonus.unwrap_or(0),
                balance: e.modify_balance.unwrap_or(0),
            })],
            None => Vec::new(),
        },
        Event::CardPassCheck(check) | Event::CardNotPassCheck(check) => {
            let passed = matches!(push.message.event, Event::CardPassCheck(_));
            vec![Effect::Review(CardReview {
                appid,
                card_id: check.card_id.as_str(),
                status: if passed {
                    "CARD_STATUS_VERIFY_OK"
                } else {
                    "CARD_STATUS_VERIFY_FAIL"
                },
                // WeChat's own sample of card_pass_check carries a RefuseReason too (§3.1): only a
                // refusal has one.
                refuse_reason: check.refuse_reason.as_deref().filter(|_| !passed),
                reviewed_at: push.message.create_time,
            })]
        }
        Event::MassSendJobFinish(finish) => vec![Effect::MassReport { appid, finish }],
        Event::Subscribe(scan) | Event::Scan(scan) => scan
            .scene
            .as_deref()
            .map(Effect::FollowScene)
            .into_iter()
            .collect(),
        _ => Vec::new(),
    }
}

/// A `user_get_card`: a new code (counted `got`, and `from_friend` for a gift, whose giver's code
/// is then gifted away), or a deleted member card found back (counted `restored`).
fn got<'a>(push: &'a Incoming, get: &'a UserGetCard, day: &str) -> Vec<Effect<'a>> {
    let binding = |restored| NewBinding {
        push,
        get,
        day: day.to_owned(),
        restored,
    };
    if get.is_restore_member_card {
        let count = Counts {
            restored: 1,
            ..Counts::default()
        };
        return vec![Effect::Restore {
            binding: binding(true),
            count,
        }];
    }
    let mut effects = vec![Effect::Bind(binding(false))];
    if let (true, Some(old_code)) = (get.is_give_by_friend, &get.old_user_card_code) {
        // The giver's code of a gift received (DESIGN §3).
        effects.push(Effect::Move(CodeMove {
            card_id: &get.card_id,
            code: Some(old_code),
            status: Status::GiftedAway,
            count: None,
        }));
    }
    let count = Counts {
        got: 1,
        from_friend: i64::from(get.is_give_by_friend),
        ..Counts::default()
    };
    effects.push(Effect::Count(ChannelDelta::for_event(
        push.appid.as_str(),
        get,
        day,
        count,
    )));
    effects
}

/// The domain event a push publishes: the card events of DESIGN §4 by name, any other card
/// event as `card.event`; nothing for a follow, a points change (see [`effects`]) or a message that
/// names no card.
pub fn publication(push: &Incoming) -> Option<Publish<'_>> {
    let openid = push.message.from_user_name.as_str();
    let (kind, fields) = match &push.message.event {
        Event::UserGetCard(get) => (EventType::CardGot, Fields::Got(Got::of(push, get))),
        Event::UserDelCard(e) => (
            EventType::CardDeleted,
            Fields::Code {
                card_id: &e.card_id,
                code: e.code.as_ref(),
                openid,
            },
        ),
        Event::UserConsumeCard(event) => {
            (EventType::CardConsumed, Fields::Consumed { openid, event })
        }
        Event::UserGiftingCard(event) => (EventType::CardGifted, Fields::Gifted { openid, event }),
        Event::CardPassCheck(check) => (EventType::CardReview, Fields::review(check, true)),
        Event::CardNotPassCheck(check) => (EventType::CardReview, Fields::review(check, false)),
        Event::MassSendJobFinish(finish) => (EventType::MassFinished, Fields::Mass(finish)),
        Event::UpdateMemberCard(_) | Event::Subscribe(_) | Event::Scan(_) => return None,
        Event::Unknown {
            event: Some(event),
            card_id: Some(card_id),
            code,
        } => {
            let fields = serde_json::json!({ "card_id": card_id, "code": code });
            (
                EventType::CardEvent,
                Fields::Other {
                    event,
                    openid,
                    fields,
                },
            )
        }
        Event::Unknown { .. } => return None,
        typed => {
            let event = typed.typed_name()?;
            let fields = typed_fields(typed);
            (
                EventType::CardEvent,
                Fields::Other {
                    event,
                    openid,
                    fields,
                },
            )
        }
    };
    Some(Publish { kind, fields })
}

/// The typed fields of a card event that `card.event` carries (none of them holds an outer_id,
/// so each is plain JSON).
fn typed_fields(event: &Event) -> serde_json::Value {
    let value = match event {
        Event::UserPayFromPayCell(e) => serde_json::to_value(e),
        Event::UserViewCard(e) => serde_json::to_value(e),
        Event::UserEnterSessionFromCard(e) | Event::SubmitMembercardUserInfo(e) => {
            serde_json::to_value(e)
        }
        Event::CardSkuRemind(e) => serde_json::to_value(e),
        Event::CardPayOrder(e) => serde_json::to_value(e),
        _ => Ok(serde_json::Value::Null),
    };
    value.unwrap_or(serde_json::Value::Null)
}

/// A deleted or consumed code, counted in its channel.
fn settle<'a>(card_id: &'a CardId, code: Option<&'a Code>, status: Status) -> Effect<'a> {
    let count = Counts {
        deleted: i64::from(status == Status::Deleted),
        consumed: i64::from(status == Status::Consumed),
        ..Counts::default()
    };
    Effect::Move(CodeMove {
        card_id,
        code,
        status,
        count: Some(count),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wechat::events;
    use crate::wechat::ids::AppId;

    /// One line per effect: what a reader of the table needs to see.
    fn line(effect: &Effect<'_>) -> String {
        let counts = |c: &Counts| {
            let named = [
                ("got", c.got),
                ("from_friend", c.from_friend),
                ("restored", c.restored),
                ("deleted", c.deleted),
                ("consumed", c.consumed),
                ("activated", c.activated),
            ];
            let moved: Vec<String> = named
                .iter()
                .filter(|(_, n)| *n != 0)
                .map(|(name, n)| format!("{name}+{n}"))
                .collect();
            moved.join(",")
        };
        match effect {
            Effect::Bind(b) => format!(
                "bind {:?} to {} on {}",
                b.key(),
                b.push.message.from_user_name,
                b.day
            ),
            Effect::Restore { binding, count } => {
                format!(
                    "restore {:?} to {} count {}",
                    binding.key(),
                    binding.push.message.from_user_name,
                    counts(count)
                )
            }
            Effect::Move(CodeMove {
                card_id,
                code,
                status,
                count,
            }) => format!(
                "move {card_id}/{} to {} count {}",
                code.map_or("-", |c| c.as_str()),
                status.as_str(),
                count.as_ref().map_or("none".to_owned(), |c| format!(
                    "in its channel {}",
                    counts(c)
                ))
            ),
            Effect::Count(d) => format!(
                "count {}/{}/{}/{:?} on {} {}",
                d.appid,
                d.card_id,
                d.outer_id,
                d.outer_str,
                d.day,
                counts(&d.counts)
            ),
            Effect::MemberCard(c) => format!(
                "member card {}/{} bonus {} balance {}",
                c.card_id, c.code, c.bonus, c.balance
            ),
            Effect::Review(r) => format!(
                "review {} {} {:?} at {}",
                r.card_id, r.status, r.refuse_reason, r.reviewed_at
            ),
            Effect::MassReport { finish, .. } => {
                format!("mass report {:?} {:?}", finish.msg_id, finish.status)
            }
            Effect::FollowScene(scene) => format!("follow scene {scene}"),
            Effect::Publish(kind) => format!("publish {}", kind.as_str()),
        }
    }

    fn effects_of(fields: &str) -> Vec<String> {
        let xml = format!(
            "<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName>\
             <CreateTime>1714494600</CreateTime><MsgType>event</MsgType>{fields}</xml>"
        );
        let push = Incoming {
            appid: AppId::from("wxA"),
            message: events::parse(&xml).unwrap(),
            raw_xml: xml.clone(),
            received_at: 1_714_494_601,
            query_key: None,
        };
        effects(&push, "2024-05-01").iter().map(line).collect()
    }

    /// Event × what it carries → effects. What each effect does to a prior state (a code cardhook
    /// knows or not, an echo pending or not, an older review) is each writer's, and
    /// `tests/it/batch.rs` holds the two writers equal on random streams.
    #[test]
    fn each_event_and_what_it_carries_decides_its_effects() {
        let get = "<Event>user_get_card</Event><CardId>c</CardId><UserCardCode>1</UserCardCode>";
        let table: &[(&str, String, &[&str])] = &[
            (
                "a code got through a channel",
                format!("{get}<OuterId>7</OuterId><OuterStr>poster</OuterStr>"),
                &[
                    r#"bind ("wxA", "c", "1") to o1 on 2024-05-01"#,
                    r#"count wxA/c/7/"poster" on 2024-05-01 got+1"#,
                    "publish card.got",
                ],
            ),
            (
                "a gift received re-points the giver's code",
                format!("{get}<IsGiveByFriend>1</IsGiveByFriend><FriendUserName>o0</FriendUserName><OldUserCardCode>9</OldUserCardCode>"),
                &[
                    r#"bind ("wxA", "c", "1") to o1 on 2024-05-01"#,
                    "move c/9 to gifted_away count none",
                    r#"count wxA/c/0/"" on 2024-05-01 got+1,from_friend+1"#,
                    "publish card.got",
                ],
            ),
            (
                "a gift received without the giver's code",
                format!("{get}<IsGiveByFriend>1</IsGiveByFriend>"),
                &[
                    r#"bind ("wxA", "c", "1") to o1 on 2024-05-01"#,
                    r#"count wxA/c/0/"" on 2024-05-01 got+1,from_friend+1"#,
                    "publish card.got",
                ],
            ),
            (
                "a member card found back",
                format!("{get}<IsRestoreMemberCard>1</IsRestoreMemberCard><OuterId>7</OuterId>"),
                &[r#"restore ("wxA", "c", "1") to o1 count restored+1"#, "publish card.got"],
            ),
            (
                "a deleted code",
                "<Event>user_del_card</Event><CardId>c</CardId><UserCardCode>1</UserCardCode>".into(),
                &["move c/1 to deleted count in its channel deleted+1", "publish card.deleted"],
            ),
            (
                "a deleted code WeChat did not name still counts",
                "<Event>user_del_card</Event><CardId>c</CardId>".into(),
                &["move c/- to deleted count in its channel deleted+1", "publish card.deleted"],
            ),
            (
                "a consumed code",
                "<Event>user_consume_card</Event><CardId>c</CardId><UserCardCode>1</UserCardCode>".into(),
                &["move c/1 to consumed count in its channel consumed+1", "publish card.consumed"],
            ),
            (
                "a gift sent",
                "<Event>user_gifting_card</Event><CardId>c</CardId><UserCardCode>1</UserCardCode><IsReturnBack>0</IsReturnBack>".into(),
                &["move c/1 to gifted_away count none", "publish card.gifted"],
            ),
            (
                "a gift that came back",
                "<Event>user_gifting_card</Event><CardId>c</CardId><UserCardCode>1</UserCardCode><IsReturnBack>1</IsReturnBack>".into(),
                &["move c/1 to got count none", "publish card.gifted"],
            ),
            (
                "points and balance changed",
                "<Event>update_member_card</Event><CardId>c</CardId><UserCardCode>1</UserCardCode><ModifyBonus>-5</ModifyBonus><ModifyBalance>300</ModifyBalance>".into(),
                &["member card c/1 bonus -5 balance 300"],
            ),
            (
                "a points change without a code names no card",
                "<Event>update_member_card</Event><CardId>c</CardId><ModifyBonus>5</ModifyBonus>".into(),
                &[],
            ),
            (
                "a card passed review (its sample's reason is dropped)",
                "<Event>card_pass_check</Event><CardId>c</CardId><RefuseReason>x</RefuseReason>".into(),
                &["review c CARD_STATUS_VERIFY_OK None at 1714494600", "publish card.review"],
            ),
            (
                "a card refused",
                "<Event>card_not_pass_check</Event><CardId>c</CardId><RefuseReason>logo</RefuseReason>".into(),
                &[r#"review c CARD_STATUS_VERIFY_FAIL Some("logo") at 1714494600"#, "publish card.review"],
            ),
            (
                "a mass send's report",
                "<Event>MASSSENDJOBFINISH</Event><MsgID>42</MsgID><Status>send success</Status><TotalCount>2</TotalCount><FilterCount>2</FilterCount><SentCount>2</SentCount><ErrorCount>0</ErrorCount>".into(),
                &[r#"mass report Some(42) Some("send success")"#, "publish mass.finished"],
            ),
            (
                "a follow by a parametric QR code",
                "<Event>subscribe</Event><EventKey>qrscene_shop1</EventKey>".into(),
                &["follow scene shop1"],
            ),
            (
                "a scan by a follower",
                "<Event>SCAN</Event><EventKey>shop1</EventKey>".into(),
                &["follow scene shop1"],
            ),
            ("a plain follow", "<Event>subscribe</Event>".into(), &[]),
            (
                "a card viewed changes no state, and is told as a card event",
                "<Event>user_view_card</Event><CardId>c</CardId><UserCardCode>1</UserCardCode>".into(),
                &["publish card.event"],
            ),
            ("an event cardhook does not know", "<Event>LOCATION</Event>".into(), &[]),
        ];
        for (case, fields, expected) in table {
            assert_eq!(effects_of(fields), *expected, "{case}");
        }
    }

    /// The event a push publishes, as its JSON `data` reads (before the reader names the channel).
    #[test]
    fn a_move_counts_once_where_the_code_arrived() {
        let consumed = Counts {
            consumed: 1,
            ..Counts::default()
        };
        // (what the move found, the counters it carries) → where they go.
        let cases = [
            (
                Moved::From("till-7"),
                Some(consumed),
                Some((Some("till-7"), consumed)),
            ),
            // Consumed at the till through cardhook, counted then: its push counts nothing.
            (Moved::Already, Some(consumed), None),
            (Moved::Unknown, Some(consumed), Some((None, consumed))),
            // A gift's move carries no counters.
            (Moved::From("till-7"), None, None),
            (Moved::Unknown, None, None),
        ];
        for (moved, count, expected) in cases {
            assert_eq!(moved.clone().counts(count), expected, "{moved:?} {count:?}");
        }
    }

    fn published_of(fields: &str) -> Option<(String, serde_json::Value)> {
        let xml = format!(
            "<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName>\
             <CreateTime>1714494600</CreateTime><MsgType>event</MsgType>{fields}</xml>"
        );
        let push = Incoming::new(AppId::from("wxA"), events::parse(&xml).unwrap(), xml, 1);
        publication(&push).map(|p| {
            (
                p.kind.as_str().to_owned(),
                serde_json::from_str(&serde_json::to_string(&p.fields).unwrap()).unwrap(),
            )
        })
    }

    #[test]
    fn each_published_event_carries_its_fields() {
        use serde_json::json;
        /// A case, the push's fields, and the event it publishes (type and data), if any.
        type Case<'a> = (&'a str, &'a str, Option<(&'a str, serde_json::Value)>);
        let table: &[Case<'_>] = &[
            (
                "a gift through a channel whose outer_id is beyond 64 bits",
                "<Event>user_get_card</Event><CardId>c</CardId><UserCardCode>2</UserCardCode>\
                 <IsGiveByFriend>1</IsGiveByFriend><FriendUserName>o0</FriendUserName>\
                 <OldUserCardCode>9</OldUserCardCode><OuterId>123456789012345678901234567890</OuterId>\
                 <OuterStr>poster</OuterStr><UnionId>u1</UnionId>",
                Some(("card.got", json!({"card_id": "c", "code": "2", "openid": "o1",
                    "outer_id": 123456789012345678901234567890_f64, "outer_str": "poster", "channel": null,
                    "from_friend": true, "friend_openid": "o0", "old_code": "9", "restored": false,
                    "unionid": "u1", "source_scene": null}))),
            ),
            (
                "a deleted card without custom codes",
                "<Event>user_del_card</Event><CardId>c</CardId>",
                Some(("card.deleted", json!({"card_id": "c", "code": null, "openid": "o1"}))),
            ),
            (
                "a consumed code with where and by whom",
                "<Event>user_consume_card</Event><CardId>c</CardId><UserCardCode>1</UserCardCode>\
                 <ConsumeSource>FROM_API</ConsumeSource><LocationName>门店</LocationName>",
                Some(("card.consumed", json!({"openid": "o1", "card_id": "c", "code": "1",
                    "consume_source": "FROM_API", "location_name": "门店", "staff_open_id": null,
                    "verify_code": null, "remark_amount": null, "outer_str": null, "location_id": null}))),
            ),
            (
                "a gift sent",
                "<Event>user_gifting_card</Event><CardId>c</CardId><UserCardCode>1</UserCardCode>\
                 <FriendUserName>o2</FriendUserName><IsReturnBack>0</IsReturnBack>",
                Some(("card.gifted", json!({"openid": "o1", "card_id": "c", "code": "1",
                    "friend_user_name": "o2", "is_return_back": false, "is_chat_room": false}))),
            ),
            (
                "a refused card",
                "<Event>card_not_pass_check</Event><CardId>c</CardId><RefuseReason>logo</RefuseReason>",
                Some(("card.review", json!({"card_id": "c", "passed": false, "refuse_reason": "logo"}))),
            ),
            (
                "a card viewed",
                "<Event>user_view_card</Event><CardId>c</CardId><UserCardCode>1</UserCardCode>",
                Some(("card.event", json!({"event": "user_view_card", "openid": "o1", "card_id": "c",
                    "code": "1", "outer_str": null}))),
            ),
            (
                "a card event WeChat added later",
                "<Event>user_share_card</Event><CardId>c</CardId><UserCardCode>1</UserCardCode>",
                Some(("card.event", json!({"event": "user_share_card", "openid": "o1", "card_id": "c",
                    "code": "1"}))),
            ),
            ("points changed: the writers decide", "<Event>update_member_card</Event><CardId>c</CardId>\
              <UserCardCode>1</UserCardCode><ModifyBonus>5</ModifyBonus>", None),
            ("a follow", "<Event>subscribe</Event><EventKey>qrscene_s</EventKey>", None),
            ("an event about no card", "<Event>LOCATION</Event>", None),
        ];
        for (case, fields, expected) in table {
            let expected = expected.as_ref().map(|(k, v)| ((*k).to_owned(), v.clone()));
            assert_eq!(published_of(fields), expected, "{case}");
        }
    }
}
