//! Typed card and member-card events (reference §3), built from the flat XML fields.
//!
//! Every event of the card event page gets its variant with all its fields; any other event or
//! message type is [`Event::Unknown`]: stored with its raw XML and acknowledged like the others.

use super::ids::{CardId, Code, OpenId, OuterId};
pub use super::xml::Unparsed;
use super::xml::{self, RawMessage};
use super::ProtocolError;

/// One push, decrypted and parsed: the common envelope plus the typed event.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The Official Account's original id (`gh_…`).
    pub to_user_name: String,
    /// The OpenID of the user the push is about.
    pub from_user_name: OpenId,
    /// Seconds since the epoch, as WeChat stamped the push.
    pub create_time: i64,
    pub msg_type: String,
    /// Present on ordinary messages, never on card events (reference §3, common envelope).
    pub msg_id: Option<i64>,
    pub event: Event,
    /// The fields that were there but could not be read (empty for nearly every push).
    pub unparsed: Vec<Unparsed>,
}

impl Message {
    /// Whether `field` (an XML name) is missing or unreadable: named in `unparsed` for any reason
    /// but a repetition (a repeated field keeps its first value).
    pub fn lacks(&self, field: &str) -> bool {
        self.unparsed
            .iter()
            .any(|u| u.field == field && u.reason != xml::REPEATED)
    }
}

/// `card_pass_check` / `card_not_pass_check` (card event page §2.1).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CardCheck {
    pub card_id: CardId,
    pub refuse_reason: Option<String>,
}

/// `user_get_card` (§2.2): the code→OpenID binding and the channel it came through.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct UserGetCard {
    pub card_id: CardId,
    pub code: Code,
    pub is_give_by_friend: bool,
    /// The giver's OpenID when `is_give_by_friend`.
    pub friend_user_name: Option<OpenId>,
    /// The giver's code before the gift (WeChat issues the receiver a new code).
    pub old_user_card_code: Option<Code>,
    /// Integer channel (`outer_id` of the QR code, up to 60 digits); absent and 0 mean none.
    pub outer_id: OuterId,
    /// String channel (`outer_str` of the QR code or `wx.addCard`).
    pub outer_str: Option<String>,
    /// A restore of a deleted member card; such pushes carry no OuterStr (reference §3.2).
    pub is_restore_member_card: bool,
    pub is_recommend_by_friend: bool,
    pub union_id: Option<String>,
    /// Undocumented but present in real pushes (`SOURCE_SCENE_QRCODE`, …).
    pub source_scene: Option<String>,
}

/// `user_gifting_card` (§2.3): FromUserName gives the card to FriendUserName.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UserGiftingCard {
    pub card_id: CardId,
    pub code: Option<Code>,
    pub friend_user_name: Option<OpenId>,
    /// The gift came back to the giver.
    pub is_return_back: bool,
    pub is_chat_room: bool,
}

/// An event that names only a card and a code: `user_del_card` (§2.4),
/// `user_enter_session_from_card` (§2.8), `submit_membercard_user_info` (§2.12).
/// The code may be empty for non-custom codes (reference §3.4).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CardCode {
    pub card_id: CardId,
    pub code: Option<Code>,
}

/// `user_consume_card` (§2.5). Its OuterStr is the *consumption* channel, not the distribution one.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UserConsumeCard {
    pub card_id: CardId,
    pub code: Option<Code>,
    pub consume_source: Option<String>,
    pub location_name: Option<String>,
    pub staff_open_id: Option<String>,
    pub verify_code: Option<String>,
    pub remark_amount: Option<String>,
    pub outer_str: Option<String>,
    pub location_id: Option<i64>,
}

/// `user_pay_from_pay_cell` (§2.6); fees in fen.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UserPayFromPayCell {
    pub card_id: CardId,
    pub code: Option<Code>,
    pub trans_id: Option<String>,
    pub location_id: Option<i64>,
    pub fee: Option<i64>,
    pub original_fee: Option<i64>,
}

/// `user_view_card` (§2.7).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UserViewCard {
    pub card_id: CardId,
    pub code: Option<Code>,
    pub outer_str: Option<String>,
}

/// `update_member_card` (§2.9).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UpdateMemberCard {
    pub card_id: CardId,
    pub code: Option<Code>,
    pub modify_bonus: Option<i64>,
    pub modify_balance: Option<i64>,
}

/// `card_sku_remind` (§2.10): stock is running out.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CardSkuRemind {
    pub card_id: CardId,
    pub detail: Option<String>,
}

/// `card_pay_order` (§2.11, 券点流水): no CardId.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CardPayOrder {
    pub order_id: Option<String>,
    pub status: Option<String>,
    pub create_order_time: Option<i64>,
    pub pay_finish_time: Option<i64>,
    pub desc: Option<String>,
    pub free_coin_count: Option<i64>,
    pub pay_coin_count: Option<i64>,
    pub refund_free_coin_count: Option<i64>,
    pub refund_pay_coin_count: Option<i64>,
    pub order_type: Option<String>,
    pub memo: Option<String>,
    pub receipt_info: Option<String>,
}

/// `subscribe` / `SCAN` of a parametric QR code (reference 000, "Follow QR codes"): the scene it
/// carries (`qrscene_` dropped from a subscribe's EventKey). A plain follow has no scene.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FollowScan {
    pub scene: Option<String>,
    pub ticket: Option<String>,
}

/// `MASSSENDJOBFINISH`: how a mass send ended (reference "Sending cards").
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MassSendFinish {
    pub msg_id: Option<i64>,
    /// `sendsuccess`, `sendfail` or `err(num)`.
    pub status: Option<String>,
    pub total_count: Option<i64>,
    pub filter_count: Option<i64>,
    pub sent_count: Option<i64>,
    pub error_count: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// §2.1
    CardPassCheck(CardCheck),
    /// §2.1
    CardNotPassCheck(CardCheck),
    /// §2.2
    UserGetCard(UserGetCard),
    /// §2.3
    UserGiftingCard(UserGiftingCard),
    /// §2.4
    UserDelCard(CardCode),
    /// §2.5
    UserConsumeCard(UserConsumeCard),
    /// §2.6
    UserPayFromPayCell(UserPayFromPayCell),
    /// §2.7
    UserViewCard(UserViewCard),
    /// §2.8
    UserEnterSessionFromCard(CardCode),
    /// §2.9
    UpdateMemberCard(UpdateMemberCard),
    /// §2.10
    CardSkuRemind(CardSkuRemind),
    /// §2.11
    CardPayOrder(CardPayOrder),
    /// §2.12
    SubmitMembercardUserInfo(CardCode),
    /// A follow (by a parametric QR code, or plain).
    Subscribe(FollowScan),
    /// A follower scanned a parametric QR code.
    Scan(FollowScan),
    /// A mass send ended.
    MassSendJobFinish(MassSendFinish),
    /// Any other event or message type (reference §3.13): kept raw, acknowledged.
    Unknown {
        event: Option<String>,
        card_id: Option<CardId>,
        code: Option<Code>,
    },
}

impl Event {
    /// The event name as WeChat spells it, lower case; `None` for a non-event message.
    pub fn name(&self) -> Option<&str> {
        match self {
            Self::Unknown { event, .. } => event.as_deref(),
            typed => typed.typed_name(),
        }
    }

    /// The name of a typed (reference §3) event; `None` for [`Event::Unknown`]. A bounded set:
    /// safe as a metric label.
    pub fn typed_name(&self) -> Option<&'static str> {
        Some(match self {
            Self::CardPassCheck(_) => "card_pass_check",
            Self::CardNotPassCheck(_) => "card_not_pass_check",
            Self::UserGetCard(_) => "user_get_card",
            Self::UserGiftingCard(_) => "user_gifting_card",
            Self::UserDelCard(_) => "user_del_card",
            Self::UserConsumeCard(_) => "user_consume_card",
            Self::UserPayFromPayCell(_) => "user_pay_from_pay_cell",
            Self::UserViewCard(_) => "user_view_card",
            Self::UserEnterSessionFromCard(_) => "user_enter_session_from_card",
            Self::UpdateMemberCard(_) => "update_member_card",
            Self::CardSkuRemind(_) => "card_sku_remind",
            Self::CardPayOrder(_) => "card_pay_order",
            Self::SubmitMembercardUserInfo(_) => "submit_membercard_user_info",
            // Spelled as WeChat sends them: a stored dedupe key holds the name (they were untyped before).
            Self::Subscribe(_) => "subscribe",
            Self::Scan(_) => "SCAN",
            Self::MassSendJobFinish(_) => "MASSSENDJOBFINISH",
            Self::Unknown { .. } => return None,
        })
    }

    /// The card the event is about, if any.
    pub fn card_id(&self) -> Option<&CardId> {
        match self {
            Self::CardPassCheck(e) | Self::CardNotPassCheck(e) => Some(&e.card_id),
            Self::UserGetCard(e) => Some(&e.card_id),
            Self::UserGiftingCard(e) => Some(&e.card_id),
            Self::UserDelCard(e) | Self::UserEnterSessionFromCard(e) => Some(&e.card_id),
            Self::SubmitMembercardUserInfo(e) => Some(&e.card_id),
            Self::UserConsumeCard(e) => Some(&e.card_id),
            Self::UserPayFromPayCell(e) => Some(&e.card_id),
            Self::UserViewCard(e) => Some(&e.card_id),
            Self::UpdateMemberCard(e) => Some(&e.card_id),
            Self::CardSkuRemind(e) => Some(&e.card_id),
            Self::CardPayOrder(_) => None,
            Self::Subscribe(_) | Self::Scan(_) | Self::MassSendJobFinish(_) => None,
            Self::Unknown { card_id, .. } => card_id.as_ref(),
        }
    }

    /// The card code the event is about, if any.
    pub fn code(&self) -> Option<&Code> {
        match self {
            Self::UserGetCard(e) => Some(&e.code),
            Self::UserGiftingCard(e) => e.code.as_ref(),
            Self::UserDelCard(e) | Self::UserEnterSessionFromCard(e) => e.code.as_ref(),
            Self::SubmitMembercardUserInfo(e) => e.code.as_ref(),
            Self::UserConsumeCard(e) => e.code.as_ref(),
            Self::UserPayFromPayCell(e) => e.code.as_ref(),
            Self::UserViewCard(e) => e.code.as_ref(),
            Self::UpdateMemberCard(e) => e.code.as_ref(),
            Self::CardPassCheck(_) | Self::CardNotPassCheck(_) => None,
            Self::CardSkuRemind(_) | Self::CardPayOrder(_) => None,
            Self::Subscribe(_) | Self::Scan(_) | Self::MassSendJobFinish(_) => None,
            Self::Unknown { code, .. } => code.as_ref(),
        }
    }
}

/// The latest CreateTime accepted: 9999-12-31T23:59:59Z, the end of what calendars can print.
const MAX_CREATE_TIME: i64 = 253_402_300_799;

/// Parse a decrypted (or plaintext) push into a [`Message`].
///
/// A push whose signature verified is WeChat's word: only XML that is not well-formed is an
/// error. A field that is missing where the event needs it, or does not read as its type, is left
/// out (a number or flag as absent, the event as [`Event::Unknown`] when it lacks its card or code)
/// and named in [`Message::unparsed`]; the raw XML, stored whole, still holds it.
pub fn parse(xml_text: &str) -> Result<Message, ProtocolError> {
    let (mut raw, unparsed) = xml::parse_message(xml_text)?;
    let mut fields = FieldReader { unparsed };
    let to_user_name = text(raw.to_user_name.take()).unwrap_or_default();
    let from_user_name = OpenId(
        fields
            .required(raw.from_user_name.take(), "FromUserName")
            .unwrap_or_default(),
    );
    let create_time = match fields.int(raw.create_time.take(), "CreateTime") {
        Some(time) if (0..=MAX_CREATE_TIME).contains(&time) => time,
        Some(_) => {
            fields.note("CreateTime", "out of range");
            0
        }
        None => {
            if !fields.names("CreateTime") {
                fields.note("CreateTime", "missing");
            }
            0
        }
    };
    let msg_type = fields
        .required(raw.msg_type.take(), "MsgType")
        .unwrap_or_default();
    let msg_id = fields.int(raw.msg_id.take(), "MsgId");
    let event = if msg_type.eq_ignore_ascii_case("event") {
        fields.typed_event(raw)
    } else {
        Event::Unknown {
            event: None,
            card_id: text(raw.card_id).map(CardId),
            code: text(raw.user_card_code).map(Code),
        }
    };
    Ok(Message {
        to_user_name,
        from_user_name,
        create_time,
        msg_type,
        msg_id,
        event,
        unparsed: fields.unparsed,
    })
}

/// Reads typed values out of the raw text fields, noting each one that does not read.
struct FieldReader {
    unparsed: Vec<Unparsed>,
}

impl FieldReader {
    fn note(&mut self, field: &'static str, reason: &'static str) {
        self.unparsed.push(Unparsed { field, reason });
    }

    /// Whether `field` is already named (the XML reader found it repeated or nested).
    fn names(&self, field: &str) -> bool {
        self.unparsed.iter().any(|u| u.field == field)
    }

    fn required(&mut self, value: Option<String>, field: &'static str) -> Option<String> {
        let value = text(value);
        if value.is_none() && !self.names(field) {
            self.note(field, "missing");
        }
        value
    }

    fn int(&mut self, value: Option<String>, field: &'static str) -> Option<i64> {
        let value = text(value)?;
        let parsed = value.parse::<i64>().ok();
        if parsed.is_none() {
            self.note(field, "not an integer");
        }
        parsed
    }

    /// A member card's points or balance change: WeChat's fields are 32-bit, and a value beyond
    /// that is left out (so no sum cardhook keeps can overflow).
    fn int32(&mut self, value: Option<String>, field: &'static str) -> Option<i64> {
        let value = self.int(value, field)?;
        if i32::try_from(value).is_err() {
            self.note(field, "out of range");
            return None;
        }
        Some(value)
    }

    /// WeChat's 0/1 flags; absent (or unreadable) means 0.
    fn flag(&mut self, value: Option<String>, field: &'static str) -> bool {
        self.int(value, field).is_some_and(|v| v != 0)
    }

    /// A channel's `OuterId`: up to 60 digits (reference 002); absent or unreadable means none.
    fn outer_id(&mut self, value: Option<String>) -> OuterId {
        let Some(value) = text(value) else {
            return OuterId::zero();
        };
        OuterId::parse(&value).unwrap_or_else(|| {
            self.note("OuterId", "not an integer of at most 60 digits");
            OuterId::zero()
        })
    }

    fn typed_event(&mut self, mut raw: RawMessage) -> Event {
        let name = text(raw.event.take()).unwrap_or_default();
        // Event names are lower case, but one SDK documents `User_pay_from_pay_cell` (reference §3.6).
        let lower = name.to_ascii_lowercase();
        let card = text(raw.card_id.take());
        let code = text(raw.user_card_code.take());
        let needs_card = KNOWN_EVENTS.contains(&lower.as_str())
            && !matches!(
                lower.as_str(),
                "card_pay_order" | "subscribe" | "scan" | "masssendjobfinish"
            );
        // A card event without its card (or a got card without its code) binds nothing: it is
        // kept untyped, and the missing field named.
        let missing = |field, value: &Option<String>, fields: &mut Self| {
            value.is_none() && {
                if !fields.names(field) {
                    fields.note(field, "missing");
                }
                true
            }
        };
        if (needs_card && missing("CardId", &card, self))
            || (lower == "user_get_card" && missing("UserCardCode", &code, self))
        {
            return untyped(name, card, code);
        }
        let card_id = CardId(card.clone().unwrap_or_default());
        let code_of = |code: Option<String>| code.map(Code);
        match lower.as_str() {
            "card_pass_check" => Event::CardPassCheck(CardCheck {
                card_id,
                refuse_reason: text(raw.refuse_reason),
            }),
            "card_not_pass_check" => Event::CardNotPassCheck(CardCheck {
                card_id,
                refuse_reason: text(raw.refuse_reason),
            }),
            "user_get_card" => Event::UserGetCard(UserGetCard {
                card_id,
                code: Code(code.unwrap_or_default()),
                is_give_by_friend: self.flag(raw.is_give_by_friend, "IsGiveByFriend"),
                friend_user_name: text(raw.friend_user_name).map(OpenId),
                old_user_card_code: text(raw.old_user_card_code).map(Code),
                outer_id: self.outer_id(raw.outer_id),
                outer_str: text(raw.outer_str),
                is_restore_member_card: self
                    .flag(raw.is_restore_member_card, "IsRestoreMemberCard"),
                is_recommend_by_friend: self
                    .flag(raw.is_recommend_by_friend, "IsRecommendByFriend"),
                union_id: text(raw.union_id),
                source_scene: text(raw.source_scene),
            }),
            "user_gifting_card" => Event::UserGiftingCard(UserGiftingCard {
                card_id,
                code: code_of(code),
                friend_user_name: text(raw.friend_user_name).map(OpenId),
                is_return_back: self.flag(raw.is_return_back, "IsReturnBack"),
                is_chat_room: self.flag(raw.is_chat_room, "IsChatRoom"),
            }),
            "user_del_card" => Event::UserDelCard(CardCode {
                card_id,
                code: code_of(code),
            }),
            "user_consume_card" => Event::UserConsumeCard(UserConsumeCard {
                card_id,
                code: code_of(code),
                consume_source: text(raw.consume_source),
                location_name: text(raw.location_name),
                staff_open_id: text(raw.staff_open_id),
                verify_code: text(raw.verify_code),
                remark_amount: text(raw.remark_amount),
                outer_str: text(raw.outer_str),
                location_id: self.int(raw.location_id, "LocationId"),
            }),
            "user_pay_from_pay_cell" => Event::UserPayFromPayCell(UserPayFromPayCell {
                card_id,
                code: code_of(code),
                trans_id: text(raw.trans_id),
                location_id: self.int(raw.location_id, "LocationId"),
                fee: self.int(raw.fee, "Fee"),
                original_fee: self.int(raw.original_fee, "OriginalFee"),
            }),
            "user_view_card" => Event::UserViewCard(UserViewCard {
                card_id,
                code: code_of(code),
                outer_str: text(raw.outer_str),
            }),
            "user_enter_session_from_card" => Event::UserEnterSessionFromCard(CardCode {
                card_id,
                code: code_of(code),
            }),
            "update_member_card" => Event::UpdateMemberCard(UpdateMemberCard {
                card_id,
                code: code_of(code),
                modify_bonus: self.int32(raw.modify_bonus, "ModifyBonus"),
                modify_balance: self.int32(raw.modify_balance, "ModifyBalance"),
            }),
            "card_sku_remind" => Event::CardSkuRemind(CardSkuRemind {
                card_id,
                detail: text(raw.detail),
            }),
            "card_pay_order" => Event::CardPayOrder(CardPayOrder {
                order_id: text(raw.order_id),
                status: text(raw.status),
                create_order_time: self.int(raw.create_order_time, "CreateOrderTime"),
                pay_finish_time: self.int(raw.pay_finish_time, "PayFinishTime"),
                desc: text(raw.desc),
                free_coin_count: self.int(raw.free_coin_count, "FreeCoinCount"),
                pay_coin_count: self.int(raw.pay_coin_count, "PayCoinCount"),
                refund_free_coin_count: self.int(raw.refund_free_coin_count, "RefundFreeCoinCount"),
                refund_pay_coin_count: self.int(raw.refund_pay_coin_count, "RefundPayCoinCount"),
                order_type: text(raw.order_type),
                memo: text(raw.memo),
                receipt_info: text(raw.receipt_info),
            }),
            "submit_membercard_user_info" => Event::SubmitMembercardUserInfo(CardCode {
                card_id,
                code: code_of(code),
            }),
            "subscribe" => Event::Subscribe(follow_scan(raw, "qrscene_")),
            "scan" => Event::Scan(follow_scan(raw, "")),
            "masssendjobfinish" => Event::MassSendJobFinish(MassSendFinish {
                msg_id: self.int(raw.mass_msg_id, "MsgID"),
                status: text(raw.status),
                total_count: self.int(raw.total_count, "TotalCount"),
                filter_count: self.int(raw.filter_count, "FilterCount"),
                sent_count: self.int(raw.sent_count, "SentCount"),
                error_count: self.int(raw.error_count, "ErrorCount"),
            }),
            _ => untyped(name, card, code),
        }
    }
}

/// An event kept as [`Event::Unknown`]: its name, card and code as they came.
fn untyped(name: String, card: Option<String>, code: Option<String>) -> Event {
    Event::Unknown {
        event: (!name.is_empty()).then_some(name),
        card_id: card.map(CardId),
        code: code.map(Code),
    }
}

/// The typed events' names, lower case, as [`FieldReader::typed_event`] matches them.
const KNOWN_EVENTS: [&str; 16] = [
    "card_pass_check",
    "card_not_pass_check",
    "user_get_card",
    "user_gifting_card",
    "user_del_card",
    "user_consume_card",
    "user_pay_from_pay_cell",
    "user_view_card",
    "user_enter_session_from_card",
    "update_member_card",
    "card_sku_remind",
    "card_pay_order",
    "submit_membercard_user_info",
    "subscribe",
    "scan",
    "masssendjobfinish",
];

/// A bounded name for a push's event, safe as a metric label: a typed event's name (also when it
/// was kept untyped for a missing field), `other` for anything else.
pub fn label(message: &Message) -> &'static str {
    if let Some(name) = message.event.typed_name() {
        return name;
    }
    let name = message.event.name().unwrap_or_default();
    KNOWN_EVENTS
        .iter()
        .find(|known| known.eq_ignore_ascii_case(name))
        .copied()
        .unwrap_or("other")
}

/// The scene of a follow or scan: EventKey without `prefix` (a subscribe's `qrscene_`). A key
/// without the prefix is no parametric QR code's (a plain follow sends none, or an empty one).
fn follow_scan(raw: RawMessage, prefix: &str) -> FollowScan {
    let scene = text(raw.event_key)
        .and_then(|key| key.strip_prefix(prefix).map(str::to_owned))
        .filter(|scene| !scene.is_empty());
    FollowScan {
        scene,
        ticket: text(raw.ticket),
    }
}

fn text(value: Option<String>) -> Option<String> {
    value.and_then(xml::non_empty)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GET_CARD_OFFICIAL: &str = include_str!("../../fixtures/push/user_get_card.xml");

    #[test]
    fn official_user_get_card_sample_with_whitespace_around_cdata() {
        let m = parse(GET_CARD_OFFICIAL).unwrap();
        assert_eq!(m.to_user_name, "gh_fc0a06a20993");
        assert_eq!(m.from_user_name.as_str(), "oZI8Fj040-be6rlDohc6gkoPOQTQ");
        assert_eq!(m.create_time, 1472551036);
        let Event::UserGetCard(e) = m.event else {
            panic!("{:?}", m.event)
        };
        assert_eq!(e.card_id.as_str(), "pZI8Fjwsy5fVPRBeD78J4RmqVvBc");
        assert_eq!(e.code.as_str(), "226009850808");
        assert_eq!(e.outer_str.as_deref(), Some("12b"));
        assert!(e.outer_id.is_zero());
        assert_eq!(e.friend_user_name, None);
        assert_eq!(e.old_user_card_code, None);
        assert!(!e.is_give_by_friend && !e.is_restore_member_card && !e.is_recommend_by_friend);
        assert_eq!(e.union_id.as_deref(), Some("o6_bmasdasdsad6_2sgVt7hMZOPfL"));
    }

    #[test]
    fn follows_scans_and_mass_send_reports_are_typed() {
        let follow = parse(include_str!("../../fixtures/push/subscribe_qrscene.xml")).unwrap();
        assert_eq!(
            follow.event,
            Event::Subscribe(FollowScan {
                scene: Some("123123".to_owned()),
                ticket: Some("TICKET".to_owned())
            })
        );
        assert_eq!(follow.event.name(), Some("subscribe"));
        let scan = parse(include_str!("../../fixtures/push/scan.xml")).unwrap();
        assert_eq!(scan.event.name(), Some("SCAN"));
        let Event::Scan(scan) = scan.event else {
            panic!("{:?}", scan.event)
        };
        assert_eq!(scan.scene.as_deref(), Some("SCENE_VALUE"));
        // A plain follow (no EventKey, or an empty one) has no scene.
        for key in ["", "<EventKey><![CDATA[]]></EventKey>"] {
            let xml = format!("<xml><ToUserName>g</ToUserName><FromUserName>o</FromUserName><CreateTime>1</CreateTime><MsgType>event</MsgType><Event>subscribe</Event>{key}</xml>");
            assert_eq!(
                parse(&xml).unwrap().event,
                Event::Subscribe(FollowScan {
                    scene: None,
                    ticket: None
                })
            );
        }
        let finish = parse(include_str!("../../fixtures/push/masssendjobfinish.xml")).unwrap();
        assert_eq!(
            finish.msg_id, None,
            "MsgID is the mass send's, not a message id"
        );
        assert_eq!(
            finish.event,
            Event::MassSendJobFinish(MassSendFinish {
                msg_id: Some(1_000_001_625),
                status: Some("err(30003)".to_owned()),
                total_count: Some(0),
                filter_count: Some(0),
                sent_count: Some(0),
                error_count: Some(0),
            })
        );
    }

    #[test]
    fn every_fixture_parses_to_its_variant() {
        let cases: &[(&str, &str)] = &[
            (
                "card_pass_check",
                include_str!("../../fixtures/push/card_pass_check.xml"),
            ),
            (
                "card_not_pass_check",
                include_str!("../../fixtures/push/card_not_pass_check.xml"),
            ),
            ("user_get_card", GET_CARD_OFFICIAL),
            (
                "user_gifting_card",
                include_str!("../../fixtures/push/user_gifting_card.xml"),
            ),
            (
                "user_del_card",
                include_str!("../../fixtures/push/user_del_card.xml"),
            ),
            (
                "user_consume_card",
                include_str!("../../fixtures/push/user_consume_card.xml"),
            ),
            (
                "user_pay_from_pay_cell",
                include_str!("../../fixtures/push/user_pay_from_pay_cell.xml"),
            ),
            (
                "user_view_card",
                include_str!("../../fixtures/push/user_view_card.xml"),
            ),
            (
                "user_enter_session_from_card",
                include_str!("../../fixtures/push/user_enter_session_from_card.xml"),
            ),
            (
                "update_member_card",
                include_str!("../../fixtures/push/update_member_card.xml"),
            ),
            (
                "card_sku_remind",
                include_str!("../../fixtures/push/card_sku_remind.xml"),
            ),
            (
                "card_pay_order",
                include_str!("../../fixtures/push/card_pay_order.xml"),
            ),
            (
                "submit_membercard_user_info",
                include_str!("../../fixtures/push/submit_membercard_user_info.xml"),
            ),
        ];
        for (name, xml) in cases {
            let m = parse(xml).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(m.event.name(), Some(*name));
            assert!(!matches!(m.event, Event::Unknown { .. }), "{name}");
        }
    }

    #[test]
    fn fields_of_the_other_events() {
        let m = parse(include_str!("../../fixtures/push/user_consume_card.xml")).unwrap();
        let Event::UserConsumeCard(e) = m.event else {
            panic!()
        };
        assert_eq!(e.consume_source.as_deref(), Some("FROM_API"));
        assert_eq!(e.outer_str.as_deref(), Some("xxxxx"));
        assert_eq!(e.location_name, None);
        let m = parse(include_str!(
            "../../fixtures/push/user_pay_from_pay_cell.xml"
        ))
        .unwrap();
        let Event::UserPayFromPayCell(e) = m.event else {
            panic!()
        };
        assert_eq!(
            (e.fee, e.original_fee, e.location_id),
            (Some(10000), Some(10000), Some(291710000))
        );
        let m = parse(include_str!("../../fixtures/push/card_pay_order.xml")).unwrap();
        let Event::CardPayOrder(e) = m.event else {
            panic!()
        };
        assert_eq!(e.free_coin_count, Some(200));
        assert_eq!(e.memo.as_deref(), Some("开通账户奖励"));
        let m = parse(include_str!("../../fixtures/push/user_gifting_card.xml")).unwrap();
        let Event::UserGiftingCard(e) = m.event else {
            panic!()
        };
        assert_eq!(
            e.friend_user_name.unwrap().as_str(),
            "obLatjlNerkb62HtSdQUx66C4NTU"
        );
        let m = parse(include_str!("../../fixtures/push/update_member_card.xml")).unwrap();
        let Event::UpdateMemberCard(e) = m.event else {
            panic!()
        };
        assert_eq!((e.modify_bonus, e.modify_balance), (Some(3), Some(0)));
    }

    #[test]
    fn edge_cases_of_real_pushes() {
        let m = parse(include_str!(
            "../../fixtures/push/user_get_card_source_scene_no_outer_str.xml"
        ))
        .unwrap();
        let Event::UserGetCard(e) = m.event else {
            panic!()
        };
        assert_eq!((e.outer_id.as_str(), e.outer_str.as_deref()), ("1", None));
        assert_eq!(e.source_scene.as_deref(), Some("SOURCE_SCENE_QRCODE"));

        let m = parse(include_str!(
            "../../fixtures/push/user_get_card_restore.xml"
        ))
        .unwrap();
        let Event::UserGetCard(e) = m.event else {
            panic!()
        };
        assert!(e.is_restore_member_card);
        assert_eq!(e.outer_str, None);

        let m = parse(include_str!("../../fixtures/push/user_get_card_gift.xml")).unwrap();
        let Event::UserGetCard(e) = m.event else {
            panic!()
        };
        assert!(e.is_give_by_friend);
        assert!(e.old_user_card_code.is_some() && e.friend_user_name.is_some());

        let m = parse(include_str!(
            "../../fixtures/push/user_get_card_no_outer_id.xml"
        ))
        .unwrap();
        let Event::UserGetCard(e) = m.event else {
            panic!()
        };
        assert_eq!((e.outer_id.as_str(), e.outer_str), ("0", None));

        let m = parse(include_str!(
            "../../fixtures/push/user_get_card_unicode.xml"
        ))
        .unwrap();
        let Event::UserGetCard(e) = m.event else {
            panic!()
        };
        assert_eq!(e.outer_str.as_deref(), Some("门店12号桌"));
    }

    #[test]
    fn unknown_events_and_messages_are_kept() {
        let m = parse(include_str!("../../fixtures/push/unknown_event.xml")).unwrap();
        assert!(
            matches!(&m.event, Event::Unknown { event: Some(e), .. } if e == "giftcard_pay_done")
        );
        let text = "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>hi</Content><MsgId>12345</MsgId></xml>";
        let m = parse(text).unwrap();
        assert_eq!((m.msg_id, m.event.name()), (Some(12345), None));
    }

    #[test]
    fn missing_and_malformed_fields_are_named_and_the_push_still_parses() {
        let base = |inner: &str| {
            format!("<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><MsgType>event</MsgType>{inner}</xml>")
        };
        let named = |xml: String| {
            let m = parse(&xml).unwrap_or_else(|e| panic!("{xml}: {e}"));
            let named: Vec<(&str, &str)> = m.unparsed.iter().map(|u| (u.field, u.reason)).collect();
            (m, named)
        };
        // (the XML, the fields named, then a check of what was kept)
        let cases: Vec<(String, Vec<(&str, &str)>)> = vec![
            (base(""), vec![("CreateTime", "missing")]),
            (base("<CreateTime>-1</CreateTime>"), vec![("CreateTime", "out of range")]),
            (
                base("<CreateTime>99999999999999</CreateTime>"),
                vec![("CreateTime", "out of range")],
            ),
            (base("<CreateTime>x</CreateTime>"), vec![("CreateTime", "not an integer")]),
            (
                base("<CreateTime>1</CreateTime><Event>user_get_card</Event><UserCardCode>1</UserCardCode>"),
                vec![("CardId", "missing")],
            ),
            (
                base("<CreateTime>1</CreateTime><Event>user_get_card</Event><CardId>c</CardId>"),
                vec![("UserCardCode", "missing")],
            ),
            (
                base("<CreateTime>1</CreateTime><Event>user_get_card</Event><CardId>c</CardId><UserCardCode>1</UserCardCode><OuterId>abc</OuterId><IsGiveByFriend>yes</IsGiveByFriend>"),
                vec![("IsGiveByFriend", "not an integer"), ("OuterId", "not an integer of at most 60 digits")],
            ),
            (
                base("<CreateTime>1</CreateTime><Event>user_consume_card</Event><CardId>c</CardId><LocationId>L-1</LocationId>"),
                vec![("LocationId", "not an integer")],
            ),
            (
                base("<CreateTime>1</CreateTime><Event>update_member_card</Event><CardId>c</CardId><ModifyBonus>9223372036854775807</ModifyBonus><ModifyBalance>-3</ModifyBalance>"),
                vec![("ModifyBonus", "out of range")],
            ),
        ];
        for (xml, expected) in cases {
            let (_, got) = named(xml.clone());
            assert_eq!(got, expected, "{xml}");
        }
        let no_sender =
            "<xml><CreateTime>1</CreateTime><MsgType>event</MsgType><Event>x</Event></xml>";
        let (m, got) = named(no_sender.to_owned());
        assert_eq!(
            (m.from_user_name.as_str(), got),
            ("", vec![("FromUserName", "missing")])
        );

        // What did parse is kept: the card, the code, the sender; a bad channel is no channel.
        let (m, _) = named(base(
            "<CreateTime>1</CreateTime><Event>user_get_card</Event><CardId>c</CardId><UserCardCode>1</UserCardCode><OuterId>1x</OuterId><OuterStr>s</OuterStr>",
        ));
        let Event::UserGetCard(e) = m.event else {
            panic!("{:?}", m.event)
        };
        assert_eq!(
            (
                e.card_id.as_str(),
                e.code.as_str(),
                e.outer_id.as_str(),
                e.outer_str.as_deref()
            ),
            ("c", "1", "0", Some("s"))
        );
        // A card event without its card stays a named, untyped event.
        let (m, _) = named(base(
            "<CreateTime>1</CreateTime><Event>user_del_card</Event><UserCardCode>9</UserCardCode>",
        ));
        assert!(
            matches!(&m.event, Event::Unknown { event: Some(e), code: Some(c), .. } if e == "user_del_card" && c.as_str() == "9")
        );
        assert_eq!(label(&m), "user_del_card");
        // A 25-digit OuterId is a channel like any other.
        let (m, got) = named(base(
            "<CreateTime>1</CreateTime><Event>user_get_card</Event><CardId>c</CardId><UserCardCode>1</UserCardCode><OuterId>1234567890123456789012345</OuterId>",
        ));
        let Event::UserGetCard(e) = m.event else {
            panic!()
        };
        assert_eq!(
            (e.outer_id.as_str(), got),
            ("1234567890123456789012345", vec![])
        );
        // Only XML that is not well-formed is refused.
        assert!(matches!(
            parse("<xml><CardId>a</xml>"),
            Err(ProtocolError::BadXml(_))
        ));
    }
}
