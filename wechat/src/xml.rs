//! XML of pushes (quick-xml + serde): the refusal of declarations, the outer envelope, the flat message.
//!
//! Card pushes are one flat `<xml>` element of leaf fields. Official samples put whitespace around
//! CDATA (`<ToUserName> <![CDATA[gh_…]]> </ToUserName>`) and send the same field with or without
//! CDATA (reference §2.6): every value is trimmed, and an empty value counts as absent.

use std::sync::LazyLock;

use memchr::memmem::Finder;
use serde::Deserialize;

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

/// The outer body of a push. In safe mode it holds only `ToUserName` and `Encrypt`; in compatible
/// mode the plaintext fields as well, which are ignored: only the decrypted message counts.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    #[serde(rename = "Encrypt", default)]
    pub encrypt: Option<String>,
}

/// Parse the outer body; `Encrypt` is trimmed of the whitespace around its CDATA.
pub fn parse_envelope(body: &str) -> Result<Envelope, ProtocolError> {
    reject_declarations(body)?;
    let mut envelope: Envelope = from_xml(body)?;
    envelope.encrypt = envelope.encrypt.and_then(non_empty);
    Ok(envelope)
}

fn from_xml<'de, T: Deserialize<'de>>(xml: &'de str) -> Result<T, ProtocolError> {
    quick_xml::de::from_str(xml).map_err(|e| ProtocolError::BadXml(describe(&e)))
}

/// Name the problem without echoing the payload.
fn describe(e: &quick_xml::DeError) -> String {
    match e {
        quick_xml::DeError::Custom(msg) => msg.clone(),
        quick_xml::DeError::InvalidXml(inner) => inner.to_string(),
        quick_xml::DeError::UnexpectedEof => "unexpected end of document".to_owned(),
        quick_xml::DeError::UnexpectedStart(_) => "unexpected nested element".to_owned(),
        other => other.to_string().chars().take(120).collect(),
    }
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

/// Every field any card event (reference §3) or ordinary message carries, as trimmed text.
/// Unknown elements are skipped; the raw XML is what gets stored, so nothing is lost.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RawMessage {
    pub to_user_name: Option<String>,
    pub from_user_name: Option<String>,
    pub create_time: Option<String>,
    pub msg_type: Option<String>,
    pub event: Option<String>,
    pub msg_id: Option<String>,
    pub card_id: Option<String>,
    pub refuse_reason: Option<String>,
    pub is_give_by_friend: Option<String>,
    pub friend_user_name: Option<String>,
    pub user_card_code: Option<String>,
    pub old_user_card_code: Option<String>,
    pub outer_id: Option<String>,
    pub outer_str: Option<String>,
    pub is_restore_member_card: Option<String>,
    pub is_recommend_by_friend: Option<String>,
    pub union_id: Option<String>,
    pub source_scene: Option<String>,
    pub is_return_back: Option<String>,
    pub is_chat_room: Option<String>,
    pub consume_source: Option<String>,
    pub location_name: Option<String>,
    pub staff_open_id: Option<String>,
    pub verify_code: Option<String>,
    pub remark_amount: Option<String>,
    pub location_id: Option<String>,
    pub trans_id: Option<String>,
    pub fee: Option<String>,
    pub original_fee: Option<String>,
    pub modify_bonus: Option<String>,
    pub modify_balance: Option<String>,
    pub detail: Option<String>,
    pub order_id: Option<String>,
    pub status: Option<String>,
    pub create_order_time: Option<String>,
    pub pay_finish_time: Option<String>,
    pub desc: Option<String>,
    pub free_coin_count: Option<String>,
    pub pay_coin_count: Option<String>,
    pub refund_free_coin_count: Option<String>,
    pub refund_pay_coin_count: Option<String>,
    pub order_type: Option<String>,
    pub memo: Option<String>,
    pub receipt_info: Option<String>,
}

/// Parse a decrypted (or plaintext) message into its raw fields.
pub fn parse_message(xml: &str) -> Result<RawMessage, ProtocolError> {
    reject_declarations(xml)?;
    from_xml(xml)
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
        for bad in [
            "",
            "<xml>",
            "<xml><A>1</B></xml>",
            "not xml",
            "<xml><CardId>a</CardId><CardId>b</CardId></xml>",
        ] {
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
            "<xml><CardId>{}{}</CardId></xml>",
            "<a>".repeat(depth),
            "</a>".repeat(depth)
        );
        assert!(parse_message(&xml).is_err());
    }
}
