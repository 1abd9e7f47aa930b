//! Typed card and member-card events (reference §3), built from the flat XML fields.
//!
//! Every event of the card event page gets its variant with all its fields; any other event or
//! message type is [`Event::Unknown`]: stored with its raw XML and acknowledged like the others.

use super::ids::{CardId, Code, OpenId};
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
}

/// `card_pass_check` / `card_not_pass_check` (card event page §2.1).
#[derive(Debug, Clone, PartialEq)]
pub struct CardCheck {
    pub card_id: CardId,
    pub refuse_reason: Option<String>,
}

/// `user_get_card` (§2.2): the code→OpenID binding and the channel it came through.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UserGetCard {
    pub card_id: CardId,
    pub code: Code,
    pub is_give_by_friend: bool,
    /// The giver's OpenID when `is_give_by_friend`.
    pub friend_user_name: Option<OpenId>,
    /// The giver's code before the gift (WeChat issues the receiver a new code).
    pub old_user_card_code: Option<Code>,
    /// Legacy integer channel (`outer_id` of the QR code); absent and 0 mean none.
    pub outer_id: i64,
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
#[derive(Debug, Clone, PartialEq)]
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
#[derive(Debug, Clone, PartialEq)]
pub struct CardCode {
    pub card_id: CardId,
    pub code: Option<Code>,
}

/// `user_consume_card` (§2.5). Its OuterStr is the *consumption* channel, not the distribution one.
#[derive(Debug, Clone, PartialEq)]
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
#[derive(Debug, Clone, PartialEq)]
pub struct UserPayFromPayCell {
    pub card_id: CardId,
    pub code: Option<Code>,
    pub trans_id: Option<String>,
    pub location_id: Option<i64>,
    pub fee: Option<i64>,
    pub original_fee: Option<i64>,
}

/// `user_view_card` (§2.7).
#[derive(Debug, Clone, PartialEq)]
pub struct UserViewCard {
    pub card_id: CardId,
    pub code: Option<Code>,
    pub outer_str: Option<String>,
}

/// `update_member_card` (§2.9).
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateMemberCard {
    pub card_id: CardId,
    pub code: Option<Code>,
    pub modify_bonus: Option<i64>,
    pub modify_balance: Option<i64>,
}

/// `card_sku_remind` (§2.10): stock is running out.
#[derive(Debug, Clone, PartialEq)]
pub struct CardSkuRemind {
    pub card_id: CardId,
    pub detail: Option<String>,
}

/// `card_pay_order` (§2.11, 券点流水): no CardId.
#[derive(Debug, Clone, PartialEq)]
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
#[derive(Debug, Clone, PartialEq)]
pub struct FollowScan {
    pub scene: Option<String>,
    pub ticket: Option<String>,
}

/// `MASSSENDJOBFINISH`: how a mass send ended (reference "Sending cards").
#[derive(Debug, Clone, PartialEq)]
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
pub fn parse(xml_text: &str) -> Result<Message, ProtocolError> {
    let mut raw = xml::parse_message(xml_text)?;
    let to_user_name = required(raw.to_user_name.take(), "ToUserName")?;
    let from_user_name = OpenId(required(raw.from_user_name.take(), "FromUserName")?);
    let create_time = int(raw.create_time.take(), "CreateTime")?.ok_or(ProtocolError::Xml {
        field: "CreateTime",
        reason: "missing",
    })?;
    if !(0..=MAX_CREATE_TIME).contains(&create_time) {
        return Err(ProtocolError::Xml {
            field: "CreateTime",
            reason: "out of range",
        });
    }
    let msg_type = required(raw.msg_type.take(), "MsgType")?;
    let msg_id = int(raw.msg_id.take(), "MsgId")?;
    let event = if msg_type.eq_ignore_ascii_case("event") {
        typed_event(raw)?
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
    })
}

fn typed_event(mut raw: RawMessage) -> Result<Event, ProtocolError> {
    let name = text(raw.event.take()).unwrap_or_default();
    // Event names are lower case, but one SDK documents `User_pay_from_pay_cell` (reference §3.6).
    let event = match name.to_ascii_lowercase().as_str() {
        "card_pass_check" => Event::CardPassCheck(card_check(raw)?),
        "card_not_pass_check" => Event::CardNotPassCheck(card_check(raw)?),
        "user_get_card" => Event::UserGetCard(user_get_card(raw)?),
        "user_gifting_card" => Event::UserGiftingCard(UserGiftingCard {
            card_id: card_id(&mut raw)?,
            code: text(raw.user_card_code).map(Code),
            friend_user_name: text(raw.friend_user_name).map(OpenId),
            is_return_back: flag(raw.is_return_back, "IsReturnBack")?,
            is_chat_room: flag(raw.is_chat_room, "IsChatRoom")?,
        }),
        "user_del_card" => Event::UserDelCard(card_code(raw)?),
        "user_consume_card" => Event::UserConsumeCard(UserConsumeCard {
            card_id: card_id(&mut raw)?,
            code: text(raw.user_card_code).map(Code),
            consume_source: text(raw.consume_source),
            location_name: text(raw.location_name),
            staff_open_id: text(raw.staff_open_id),
            verify_code: text(raw.verify_code),
            remark_amount: text(raw.remark_amount),
            outer_str: text(raw.outer_str),
            location_id: int(raw.location_id, "LocationId")?,
        }),
        "user_pay_from_pay_cell" => Event::UserPayFromPayCell(UserPayFromPayCell {
            card_id: card_id(&mut raw)?,
            code: text(raw.user_card_code).map(Code),
            trans_id: text(raw.trans_id),
            location_id: int(raw.location_id, "LocationId")?,
            fee: int(raw.fee, "Fee")?,
            original_fee: int(raw.original_fee, "OriginalFee")?,
        }),
        "user_view_card" => Event::UserViewCard(UserViewCard {
            card_id: card_id(&mut raw)?,
            code: text(raw.user_card_code).map(Code),
            outer_str: text(raw.outer_str),
        }),
        "user_enter_session_from_card" => Event::UserEnterSessionFromCard(card_code(raw)?),
        "update_member_card" => Event::UpdateMemberCard(UpdateMemberCard {
            card_id: card_id(&mut raw)?,
            code: text(raw.user_card_code).map(Code),
            modify_bonus: int(raw.modify_bonus, "ModifyBonus")?,
            modify_balance: int(raw.modify_balance, "ModifyBalance")?,
        }),
        "card_sku_remind" => Event::CardSkuRemind(CardSkuRemind {
            card_id: card_id(&mut raw)?,
            detail: text(raw.detail),
        }),
        "card_pay_order" => Event::CardPayOrder(card_pay_order(raw)?),
        "submit_membercard_user_info" => Event::SubmitMembercardUserInfo(card_code(raw)?),
        "subscribe" => Event::Subscribe(follow_scan(raw, "qrscene_")),
        "scan" => Event::Scan(follow_scan(raw, "")),
        "masssendjobfinish" => Event::MassSendJobFinish(MassSendFinish {
            msg_id: int(raw.mass_msg_id, "MsgID")?,
            status: text(raw.status),
            total_count: int(raw.total_count, "TotalCount")?,
            filter_count: int(raw.filter_count, "FilterCount")?,
            sent_count: int(raw.sent_count, "SentCount")?,
            error_count: int(raw.error_count, "ErrorCount")?,
        }),
        _ => Event::Unknown {
            event: (!name.is_empty()).then_some(name),
            card_id: text(raw.card_id).map(CardId),
            code: text(raw.user_card_code).map(Code),
        },
    };
    Ok(event)
}

fn user_get_card(mut raw: RawMessage) -> Result<UserGetCard, ProtocolError> {
    Ok(UserGetCard {
        card_id: card_id(&mut raw)?,
        code: Code(required(raw.user_card_code, "UserCardCode")?),
        is_give_by_friend: flag(raw.is_give_by_friend, "IsGiveByFriend")?,
        friend_user_name: text(raw.friend_user_name).map(OpenId),
        old_user_card_code: text(raw.old_user_card_code).map(Code),
        outer_id: int(raw.outer_id, "OuterId")?.unwrap_or(0),
        outer_str: text(raw.outer_str),
        is_restore_member_card: flag(raw.is_restore_member_card, "IsRestoreMemberCard")?,
        is_recommend_by_friend: flag(raw.is_recommend_by_friend, "IsRecommendByFriend")?,
        union_id: text(raw.union_id),
        source_scene: text(raw.source_scene),
    })
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

fn card_check(mut raw: RawMessage) -> Result<CardCheck, ProtocolError> {
    Ok(CardCheck {
        card_id: card_id(&mut raw)?,
        refuse_reason: text(raw.refuse_reason),
    })
}

fn card_code(mut raw: RawMessage) -> Result<CardCode, ProtocolError> {
    Ok(CardCode {
        card_id: card_id(&mut raw)?,
        code: text(raw.user_card_code).map(Code),
    })
}

fn card_pay_order(raw: RawMessage) -> Result<CardPayOrder, ProtocolError> {
    Ok(CardPayOrder {
        order_id: text(raw.order_id),
        status: text(raw.status),
        create_order_time: int(raw.create_order_time, "CreateOrderTime")?,
        pay_finish_time: int(raw.pay_finish_time, "PayFinishTime")?,
        desc: text(raw.desc),
        free_coin_count: int(raw.free_coin_count, "FreeCoinCount")?,
        pay_coin_count: int(raw.pay_coin_count, "PayCoinCount")?,
        refund_free_coin_count: int(raw.refund_free_coin_count, "RefundFreeCoinCount")?,
        refund_pay_coin_count: int(raw.refund_pay_coin_count, "RefundPayCoinCount")?,
        order_type: text(raw.order_type),
        memo: text(raw.memo),
        receipt_info: text(raw.receipt_info),
    })
}

fn card_id(raw: &mut RawMessage) -> Result<CardId, ProtocolError> {
    required(raw.card_id.take(), "CardId").map(CardId)
}

fn text(value: Option<String>) -> Option<String> {
    value.and_then(xml::non_empty)
}

fn required(value: Option<String>, field: &'static str) -> Result<String, ProtocolError> {
    text(value).ok_or(ProtocolError::Xml {
        field,
        reason: "missing",
    })
}

fn int(value: Option<String>, field: &'static str) -> Result<Option<i64>, ProtocolError> {
    text(value)
        .map(|v| {
            v.parse::<i64>().map_err(|_| ProtocolError::Xml {
                field,
                reason: "not an integer",
            })
        })
        .transpose()
}

/// WeChat's 0/1 flags; absent means 0.
fn flag(value: Option<String>, field: &'static str) -> Result<bool, ProtocolError> {
    Ok(int(value, field)?.is_some_and(|v| v != 0))
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
        assert_eq!(e.outer_id, 0);
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
        assert_eq!((e.outer_id, e.outer_str.as_deref()), (1, None));
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
        assert_eq!((e.outer_id, e.outer_str), (0, None));

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
    fn missing_and_malformed_fields_are_named() {
        let base = |inner: &str| {
            format!("<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><MsgType>event</MsgType>{inner}</xml>")
        };
        let err = |xml: String| parse(&xml).unwrap_err();
        assert_eq!(
            err(base("")),
            ProtocolError::Xml {
                field: "CreateTime",
                reason: "missing"
            }
        );
        assert_eq!(
            err(base("<CreateTime>-1</CreateTime>")),
            ProtocolError::Xml {
                field: "CreateTime",
                reason: "out of range"
            }
        );
        assert_eq!(
            err(base("<CreateTime>99999999999999</CreateTime>")),
            ProtocolError::Xml {
                field: "CreateTime",
                reason: "out of range"
            }
        );
        assert_eq!(
            err(base("<CreateTime>x</CreateTime>")),
            ProtocolError::Xml {
                field: "CreateTime",
                reason: "not an integer"
            }
        );
        let get = |inner: &str| {
            base(&format!(
                "<CreateTime>1</CreateTime><Event>user_get_card</Event>{inner}"
            ))
        };
        assert_eq!(
            err(get("<UserCardCode>1</UserCardCode>")),
            ProtocolError::Xml {
                field: "CardId",
                reason: "missing"
            }
        );
        assert_eq!(
            err(get("<CardId>c</CardId>")),
            ProtocolError::Xml {
                field: "UserCardCode",
                reason: "missing"
            }
        );
        assert_eq!(
            err(get(
                "<CardId>c</CardId><UserCardCode>1</UserCardCode><OuterId>abc</OuterId>"
            )),
            ProtocolError::Xml {
                field: "OuterId",
                reason: "not an integer"
            }
        );
    }
}
