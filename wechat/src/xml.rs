//! XML of pushes (quick-xml): the refusal of declarations, the outer envelope, the flat message.
//!
//! Card pushes are one flat `<xml>` element of leaf fields. Official samples put whitespace around
//! CDATA (`<ToUserName> <![CDATA[gh_…]]> </ToUserName>`) and send the same field with or without
//! CDATA (reference §2.6): every value is trimmed, and an empty value counts as absent.

use std::sync::LazyLock;

use memchr::memmem::Finder;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::Reader;

use super::ProtocolError;

/// The searchers of [`reject_declarations`], built once: `memmem::find` builds one per call, and a
/// push has a dozen CDATA sections (that was ~5% of the HTTP workers' time).
static MARKUP: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"<!"));
static CDATA_END: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"]]>"));
static COMMENT_END: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"-->"));

/// Refuse any markup declaration (`<!DOCTYPE`, `<!ENTITY`, `<!ELEMENT`, …) before parsing: no
/// external entities, no entity expansion (XXE, billion laughs). CDATA sections and comments are
/// skipped whole, so a channel name containing `<!` inside CDATA is still accepted.
pub fn reject_declarations(xml: &str) -> Result<(), ProtocolError> {
    let bytes = xml.as_bytes();
    let mut at = 0;
    while let Some(pos) = MARKUP.find(&bytes[at..]) {
        let rest = &bytes[at + pos..];
        let skip_to = |open: &[u8], close: &Finder<'static>| {
            rest.starts_with(open).then(|| {
                close
                    .find(&rest[open.len()..])
                    .map(|end| open.len() + end + close.needle().len())
            })
        };
        match skip_to(b"<![CDATA[", &CDATA_END).or_else(|| skip_to(b"<!--", &COMMENT_END)) {
            Some(Some(len)) => at += pos + len,
            // An unterminated CDATA or comment is malformed: let the parser say so.
            Some(None) => return Ok(()),
            None => return Err(ProtocolError::DoctypeRejected),
        }
    }
    Ok(())
}

/// Declares a struct of text fields read from a flat document, and its [`Fields`] impl: each
/// field's Rust name, then its XML element name.
macro_rules! flat_message {
    ($(#[$meta:meta])* pub struct $name:ident { $($field:ident: $xml:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Default, PartialEq)]
        // The tests compare the reader with quick-xml's serde deserializer.
        #[cfg_attr(test, derive(serde::Deserialize), serde(default))]
        pub struct $name {
            $(#[cfg_attr(test, serde(rename = $xml))] pub $field: Option<String>,)*
        }

        impl Fields for $name {
            fn slot(&mut self, name: &str) -> Option<(&'static str, &mut Option<String>)> {
                match name {
                    $($xml => Some(($xml, &mut self.$field)),)*
                    _ => None,
                }
            }
        }
    };
}

flat_message! {
    /// The outer body of a push. In safe mode it holds only `ToUserName` and `Encrypt`; in
    /// compatible mode the plaintext fields as well, which are ignored: only the decrypted message
    /// counts.
    pub struct Envelope {
        encrypt: "Encrypt",
    }
}

/// Parse the outer body; `Encrypt` is trimmed of the whitespace around its CDATA. A body whose
/// `Encrypt` cannot be read (repeated, or holding elements) is refused: only one ciphertext can be
/// the one `msg_signature` covers.
pub fn parse_envelope(body: &str) -> Result<Envelope, ProtocolError> {
    let (mut envelope, unparsed): (Envelope, _) = read_flat(body)?;
    if let Some(problem) = unparsed.first() {
        return Err(ProtocolError::Xml {
            field: problem.field,
            reason: problem.reason,
        });
    }
    envelope.encrypt = envelope.encrypt.and_then(non_empty);
    Ok(envelope)
}

/// A field of a well-formed push that is there but could not be read: the push is still stored
/// (its raw XML keeps the field), and this names what was left out and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unparsed {
    /// The XML element name (`OuterId`, `CreateTime`, …).
    pub field: &'static str,
    pub reason: &'static str,
}

pub(crate) fn non_empty(s: String) -> Option<String> {
    let trimmed = s.trim();
    if trimmed.is_empty() {
        None
    } else if trimmed.len() == s.len() {
        Some(s)
    } else {
        Some(trimmed.to_owned())
    }
}

/// A struct filled from the leaf elements of a flat document, by element name.
trait Fields: Default {
    /// The field an element of this name fills (with its name, for errors), if any.
    fn slot(&mut self, name: &str) -> Option<(&'static str, &mut Option<String>)>;
}

/// Read a flat document, after refusing its declarations (`reject_declarations`): the root
/// element (whatever its name) holds leaf elements, each of which fills the field of its name
/// with its text (text, CDATA sections and character or predefined entity references, joined).
/// Elements no field names are skipped whole, however deep (without recursion). A named one that
/// holds elements, or comes again, is well-formed XML all the same: it is skipped (the first
/// value is kept) and named in the returned list; only what is not well-formed is an error.
///
/// quick-xml's pull reader, not its serde deserializer: the deserializer cost ~80 000
/// instructions per `user_get_card` push, 29% of the HTTP workers' time (docs/PERFORMANCE.md).
fn read_flat<T: Fields>(xml: &str) -> Result<(T, Vec<Unparsed>), ProtocolError> {
    reject_declarations(xml)?;
    let mut reader = Reader::from_str(xml);
    let mut fields = T::default();
    let mut unparsed = Vec::new();
    // Find the root: declarations, comments and whitespace may come first.
    loop {
        match reader.read_event().map_err(bad_xml)? {
            Event::Start(_) => break,
            Event::Empty(_) => return Ok((fields, unparsed)),
            Event::Text(text) if text.iter().all(u8::is_ascii_whitespace) => {}
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            Event::DocType(_) => return Err(ProtocolError::DoctypeRejected),
            _ => return Err(ProtocolError::BadXml("no root element".to_owned())),
        }
    }
    loop {
        match reader.read_event().map_err(bad_xml)? {
            Event::Start(element) => match fields.slot(element_name(&element)) {
                Some((name, slot)) => match read_text(&mut reader)? {
                    Leaf::Text(text) => fill(name, slot, text, &mut unparsed),
                    Leaf::Nested => {
                        reader.read_to_end(element.name()).map_err(bad_xml)?;
                        unparsed.push(Unparsed {
                            field: name,
                            reason: "holds elements, not text",
                        });
                    }
                },
                None => {
                    reader.read_to_end(element.name()).map_err(bad_xml)?;
                }
            },
            Event::Empty(element) => {
                if let Some((name, slot)) = fields.slot(element_name(&element)) {
                    fill(name, slot, String::new(), &mut unparsed);
                }
            }
            // The root's end: whatever follows it is not part of the push.
            Event::End(_) => return Ok((fields, unparsed)),
            Event::Eof => return Err(unexpected_eof()),
            Event::DocType(_) => return Err(ProtocolError::DoctypeRejected),
            // Text between the fields, comments, processing instructions.
            _ => {}
        }
    }
}

/// An element's name as text; a name that is not UTF-8 names no field.
fn element_name<'e>(element: &'e BytesStart<'_>) -> &'e str {
    std::str::from_utf8(element.local_name().into_inner()).unwrap_or_default()
}

/// What a named element held.
enum Leaf {
    Text(String),
    /// An element inside: the reader stands just after its start (or its empty tag).
    Nested,
}

/// The text of a leaf element whose start was just read, up to and including its end; or, when it
/// holds an element, [`Leaf::Nested`] with the rest of it unread.
fn read_text(reader: &mut Reader<&[u8]>) -> Result<Leaf, ProtocolError> {
    let mut text = String::new();
    loop {
        match reader.read_event().map_err(bad_xml)? {
            Event::Text(part) => text.push_str(&part.xml_content().map_err(bad_xml)?),
            Event::CData(part) => text.push_str(&part.xml_content().map_err(bad_xml)?),
            Event::GeneralRef(reference) => resolve(&reference, &mut text)?,
            Event::End(_) => return Ok(Leaf::Text(text)),
            Event::Start(nested) => {
                // The nested element is skipped here; the caller skips to the field's own end.
                reader.read_to_end(nested.name()).map_err(bad_xml)?;
                return Ok(Leaf::Nested);
            }
            Event::Empty(_) => return Ok(Leaf::Nested),
            Event::Eof => return Err(unexpected_eof()),
            Event::DocType(_) => return Err(ProtocolError::DoctypeRejected),
            Event::Comment(_) | Event::PI(_) | Event::Decl(_) => {}
        }
    }
}

/// Append what `&…;` stands for: a character reference or one of XML's five predefined entities
/// (declarations are refused, so there are no others).
fn resolve(reference: &BytesRef<'_>, text: &mut String) -> Result<(), ProtocolError> {
    if let Some(ch) = reference.resolve_char_ref().map_err(bad_xml)? {
        text.push(ch);
        return Ok(());
    }
    let name = reference.decode().map_err(bad_xml)?;
    let value = resolve_predefined_entity(&name)
        .ok_or_else(|| ProtocolError::BadXml("unknown entity reference".to_owned()))?;
    text.push_str(value);
    Ok(())
}

/// The reason a field is named when it came more than once (its first value is read).
pub const REPEATED: &str = "repeated";

/// The first value of a field counts; a repeated one is named in `unparsed`.
fn fill(name: &'static str, slot: &mut Option<String>, text: String, unparsed: &mut Vec<Unparsed>) {
    if slot.is_some() {
        unparsed.push(Unparsed {
            field: name,
            reason: REPEATED,
        });
        return;
    }
    *slot = Some(text);
}

fn unexpected_eof() -> ProtocolError {
    ProtocolError::BadXml("unexpected end of document".to_owned())
}

/// Name the problem without echoing the payload (quick-xml's messages quote at most a tag name).
fn bad_xml(e: impl std::fmt::Display) -> ProtocolError {
    ProtocolError::BadXml(e.to_string().chars().take(120).collect())
}

flat_message! {
    /// Every field any card event (reference §3) or ordinary message carries, as text, untrimmed.
    /// Unknown elements are skipped; the raw XML is what gets stored, so nothing is lost.
    pub struct RawMessage {
        to_user_name: "ToUserName",
        from_user_name: "FromUserName",
        create_time: "CreateTime",
        msg_type: "MsgType",
        event: "Event",
        msg_id: "MsgId",
        card_id: "CardId",
        refuse_reason: "RefuseReason",
        is_give_by_friend: "IsGiveByFriend",
        friend_user_name: "FriendUserName",
        user_card_code: "UserCardCode",
        old_user_card_code: "OldUserCardCode",
        outer_id: "OuterId",
        outer_str: "OuterStr",
        is_restore_member_card: "IsRestoreMemberCard",
        is_recommend_by_friend: "IsRecommendByFriend",
        union_id: "UnionId",
        source_scene: "SourceScene",
        is_return_back: "IsReturnBack",
        is_chat_room: "IsChatRoom",
        consume_source: "ConsumeSource",
        location_name: "LocationName",
        staff_open_id: "StaffOpenId",
        verify_code: "VerifyCode",
        remark_amount: "RemarkAmount",
        location_id: "LocationId",
        trans_id: "TransId",
        fee: "Fee",
        original_fee: "OriginalFee",
        modify_bonus: "ModifyBonus",
        modify_balance: "ModifyBalance",
        detail: "Detail",
        order_id: "OrderId",
        status: "Status",
        create_order_time: "CreateOrderTime",
        pay_finish_time: "PayFinishTime",
        desc: "Desc",
        free_coin_count: "FreeCoinCount",
        pay_coin_count: "PayCoinCount",
        refund_free_coin_count: "RefundFreeCoinCount",
        refund_pay_coin_count: "RefundPayCoinCount",
        order_type: "OrderType",
        memo: "Memo",
        receipt_info: "ReceiptInfo",
        event_key: "EventKey",
        ticket: "Ticket",
        // MASSSENDJOBFINISH spells it MsgID, not MsgId (reference "Sending cards").
        mass_msg_id: "MsgID",
        total_count: "TotalCount",
        filter_count: "FilterCount",
        sent_count: "SentCount",
        error_count: "ErrorCount",
    }
}

/// Parse a decrypted (or plaintext) message into its raw fields, and the fields that could not be
/// read.
pub fn parse_message(xml: &str) -> Result<(RawMessage, Vec<Unparsed>), ProtocolError> {
    read_flat(xml)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declarations_are_refused_cdata_and_comments_are_not() {
        let xxe = r#"<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><A>&x;</A></xml>"#;
        assert_eq!(
            reject_declarations(xxe),
            Err(ProtocolError::DoctypeRejected)
        );
        assert_eq!(
            reject_declarations("<xml><!doctype x></xml>"),
            Err(ProtocolError::DoctypeRejected)
        );
        assert_eq!(
            reject_declarations("<xml><!ENTITY a 'b'></xml>"),
            Err(ProtocolError::DoctypeRejected)
        );
        assert_eq!(
            reject_declarations("<!"),
            Err(ProtocolError::DoctypeRejected)
        );
        assert!(
            reject_declarations("<xml><!-- <!x> --><A><![CDATA[<!DOCTYPE x>]]></A></xml>").is_ok()
        );
        assert_eq!(
            reject_declarations("<xml><A><![CDATA[a]]></A><!ENTITY b 'c'></xml>"),
            Err(ProtocolError::DoctypeRejected)
        );
        assert!(reject_declarations("<xml><!-- c --><A><![CDATA[x]]></A></xml>").is_ok());
        assert!(parse_message(xxe).is_err());
    }

    #[test]
    fn whitespace_around_cdata_is_trimmed_and_empty_is_absent() {
        let env = parse_envelope("<xml>\n <ToUserName> <![CDATA[gh]]> </ToUserName>\n <Encrypt> <![CDATA[abc=]]> </Encrypt></xml>").unwrap();
        assert_eq!(env.encrypt.and_then(non_empty).as_deref(), Some("abc="));
        let env = parse_envelope("<xml><Encrypt><![CDATA[ ]]></Encrypt></xml>").unwrap();
        assert_eq!(env.encrypt, None);
    }

    #[test]
    fn malformed_xml_is_named() {
        for bad in ["", "<xml>", "<xml><A>1</B></xml>", "not xml"] {
            assert!(
                matches!(parse_message(bad), Err(ProtocolError::BadXml(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn deep_nesting_does_not_overflow_the_stack() {
        let depth = 50_000;
        let xml = format!(
            "<xml><Unknown>{}{}</Unknown></xml>",
            "<a>".repeat(depth),
            "</a>".repeat(depth)
        );
        assert!(parse_message(&xml).is_ok());
        let xml = format!(
            "<xml><CardId>{}{}</CardId><Event>e</Event></xml>",
            "<a>".repeat(depth),
            "</a>".repeat(depth)
        );
        let (raw, unparsed) = parse_message(&xml).unwrap();
        assert_eq!((raw.card_id, raw.event.as_deref()), (None, Some("e")));
        assert_eq!(unparsed.len(), 1);
    }

    #[test]
    fn references_resolve_and_unknown_ones_are_refused() {
        let raw = parse_message(
            "<xml><OuterStr>a&amp;b&lt;&#x4e2d;&#25991;<![CDATA[&amp;]]></OuterStr></xml>",
        )
        .unwrap();
        assert_eq!(raw.0.outer_str.as_deref(), Some("a&b<中文&amp;"));
        assert!(matches!(
            parse_message("<xml><OuterStr>&nbsp;</OuterStr></xml>"),
            Err(ProtocolError::BadXml(_))
        ));
    }

    #[test]
    fn empty_elements_comments_and_unknown_subtrees() {
        let raw = parse_message(
            "<?xml version=\"1.0\"?><!-- c --><xml><Event/><Extra a=\"1\"><b><c>x</c></b></Extra>\
             <CardId>p<!-- inside -->1</CardId></xml>trailing",
        )
        .unwrap()
        .0;
        assert_eq!(raw.event.as_deref(), Some(""));
        assert_eq!(raw.card_id.as_deref(), Some("p1"));
        assert_eq!(
            parse_message("<xml/>").unwrap(),
            (RawMessage::default(), vec![])
        );
    }

    #[test]
    fn a_repeated_or_nested_field_is_named_not_refused() {
        let (raw, unparsed) =
            parse_message("<xml><CardId>a</CardId><CardId>b</CardId></xml>").unwrap();
        assert_eq!(raw.card_id.as_deref(), Some("a"));
        assert_eq!(
            unparsed,
            [Unparsed {
                field: "CardId",
                reason: "repeated"
            }]
        );
        for nested in [
            "<xml><CardId><b/></CardId><Event>x</Event></xml>",
            "<xml><CardId>p<b>c</b>d</CardId><Event>x</Event></xml>",
            "<xml><CardId><CardId>c</CardId></CardId><Event>x</Event></xml>",
        ] {
            let (raw, unparsed) = parse_message(nested).unwrap();
            assert_eq!(
                (raw.card_id, raw.event.as_deref()),
                (None, Some("x")),
                "{nested}"
            );
            assert_eq!(
                unparsed,
                [Unparsed {
                    field: "CardId",
                    reason: "holds elements, not text"
                }],
                "{nested}"
            );
        }
        // The envelope's one ciphertext must be unambiguous.
        assert!(parse_envelope("<xml><Encrypt>a</Encrypt><Encrypt>b</Encrypt></xml>").is_err());
    }

    /// The reader against quick-xml's serde deserializer, which parsed pushes before it (and
    /// still would, were it not ten times slower): on any flat document they find the same fields.
    mod same_as_serde {
        use super::*;
        use proptest::prelude::*;

        const NAMES: [&str; 8] = [
            "ToUserName",
            "CardId",
            "UserCardCode",
            "OuterStr",
            "CreateTime",
            "SourceScene",
            "Unknown",
            "Another",
        ];

        fn value() -> impl Strategy<Value = String> {
            let text = "[ a-zA-Z0-9_\\-\u{4e00}-\u{4e10}]{0,12}";
            prop_oneof![
                text.prop_map(|t| t.replace('&', "&amp;")),
                text.prop_map(|t| format!(" <![CDATA[{t}]]> ")),
                text.prop_map(|t| format!("{t}&lt;&amp;&#x41;{t}")),
                text.prop_map(|t| format!("<x>{t}</x>")),
            ]
        }

        proptest! {
            #[test]
            fn both_find_the_same_fields(
                names in proptest::sample::subsequence(NAMES.to_vec(), 0..=NAMES.len()),
                values in proptest::collection::vec(value(), NAMES.len()),
                repeat_first in proptest::bool::weighted(0.1),
            ) {
                let repeated = names.first().filter(|_| repeat_first).copied();
                let body: String = names
                    .iter()
                    .chain(repeated.iter())
                    .zip(&values)
                    .map(|(name, value)| format!("\n  <{name}>{value}</{name}>"))
                    .collect();
                let xml = format!("<xml>{body}\n</xml>");
                let ours = parse_message(&xml);
                let serde = quick_xml::de::from_str::<RawMessage>(&xml).map(trimmed);
                // Every document here is well-formed: ours reads each one, and where serde reads
                // it too, the same fields; where serde refuses it, ours names a field it left out.
                let (raw, unparsed) = ours.unwrap_or_else(|e| panic!("{xml}: {e}"));
                match serde {
                    Ok(serde) if unparsed.is_empty() => prop_assert_eq!(trimmed(raw), serde, "{}", xml),
                    Ok(serde) => prop_assert!(false, "{}: ours left out {:?}, serde read {:?}", xml, unparsed, serde),
                    Err(_) => prop_assert!(!unparsed.is_empty(), "{}", xml),
                }
            }
        }

        /// What the events read: values trimmed, empty ones absent.
        fn trimmed(raw: RawMessage) -> Vec<Option<String>> {
            [
                raw.to_user_name,
                raw.card_id,
                raw.user_card_code,
                raw.outer_str,
                raw.create_time,
                raw.source_scene,
            ]
            .into_iter()
            .map(|value| value.and_then(non_empty))
            .collect()
        }
    }
}
