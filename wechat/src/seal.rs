//! The sender's side: sign (and encrypt) a message exactly as WeChat pushes it (reference §1.2, §2).
//!
//! Used by `cardhook replay`, `cardhook bench` and the tests, so the receiver is exercised by the
//! same bytes WeChat would send.

use super::crypto::{self, AesKey};
use super::signature::sign_string;
use super::{xml, Mode, ProtocolError};

/// What WeChat would send: the query string (without `?`) and the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedPush {
    pub query: String,
    pub body: String,
}

/// The account side of a seal: its token, AppID and (for compat/safe) AES key.
#[derive(Debug, Clone, Copy)]
pub struct Sealer<'a> {
    pub token: &'a str,
    pub appid: &'a str,
    pub aes_key: Option<&'a AesKey>,
}

impl Sealer<'_> {
    /// Seal `message_xml` for `mode`, stamped with `timestamp` and `nonce`, encrypted with the
    /// 16-byte `random` prefix.
    pub fn seal(
        &self,
        message_xml: &str,
        mode: Mode,
        timestamp: i64,
        nonce: &str,
        random: &[u8; 16],
    ) -> Result<SealedPush, ProtocolError> {
        let (raw, _) = xml::parse_message(message_xml)?;
        let timestamp = timestamp.to_string();
        let mut query = form_urlencoded::Serializer::new(String::new());
        query
            .append_pair("signature", &sign_string(&[self.token, &timestamp, nonce]))
            .append_pair("timestamp", &timestamp)
            .append_pair("nonce", nonce);
        if let Some(openid) = raw.from_user_name.and_then(xml::non_empty) {
            query.append_pair("openid", &openid);
        }
        if mode == Mode::Plain {
            return Ok(SealedPush {
                query: query.finish(),
                body: message_xml.to_owned(),
            });
        }
        let key = self.aes_key.ok_or(ProtocolError::NoAesKey)?;
        let encrypt = crypto::encrypt(key, random, message_xml, self.appid);
        let msg_signature = sign_string(&[self.token, &timestamp, nonce, &encrypt]);
        query
            .append_pair("encrypt_type", "aes")
            .append_pair("msg_signature", &msg_signature);
        let encrypt_element = format!("<Encrypt><![CDATA[{encrypt}]]></Encrypt>");
        let body = match mode {
            // Compatible mode carries the plaintext fields and the ciphertext side by side.
            Mode::Compat => match message_xml.rfind("</xml>") {
                Some(end) => format!(
                    "{}{encrypt_element}{}",
                    &message_xml[..end],
                    &message_xml[end..]
                ),
                None => return Err(ProtocolError::BadXml("no closing </xml>".to_owned())),
            },
            _ => {
                let to_user = raw
                    .to_user_name
                    .and_then(xml::non_empty)
                    .unwrap_or_default();
                format!(
                    "<xml><ToUserName><![CDATA[{to_user}]]></ToUserName>{encrypt_element}</xml>"
                )
            }
        };
        Ok(SealedPush {
            query: query.finish(),
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{events, query, signature};
    use proptest::prelude::*;

    const GET_CARD: &str = include_str!("../../fixtures/push/user_get_card.xml");

    fn open(sealed: &SealedPush, token: &str, key: &AesKey, appid: &str) -> String {
        let q = query::parse(&sealed.query).unwrap();
        signature::verify_signature(&q.signature, token, &q.timestamp, &q.nonce).unwrap();
        if !q.encrypted {
            return sealed.body.clone();
        }
        let encrypt = xml::parse_envelope(&sealed.body).unwrap().encrypt.unwrap();
        let ms = q.msg_signature.as_deref().unwrap();
        signature::verify_msg_signature(ms, token, &q.timestamp, &q.nonce, &encrypt).unwrap();
        crypto::decrypt(key, &encrypt, appid).unwrap()
    }

    #[test]
    fn every_mode_opens_to_the_same_message() {
        let key =
            AesKey::from_encoding_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG").unwrap();
        let sealer = Sealer {
            token: "tok",
            appid: "wx1234567890abcdef",
            aes_key: Some(&key),
        };
        for mode in [Mode::Plain, Mode::Compat, Mode::Safe] {
            let sealed = sealer
                .seal(GET_CARD, mode, 1_700_000_000, "42", &[9; 16])
                .unwrap();
            assert!(sealed.query.contains("openid=oZI8Fj040-be6rlDohc6gkoPOQTQ"));
            assert_eq!(
                sealed.query.contains("encrypt_type=aes"),
                mode != Mode::Plain
            );
            assert_eq!(
                open(&sealed, "tok", &key, "wx1234567890abcdef"),
                GET_CARD,
                "{mode:?}"
            );
        }
        let compat = sealer
            .seal(GET_CARD, Mode::Compat, 1, "n", &[0; 16])
            .unwrap();
        assert!(compat.body.contains("<CardId>") && compat.body.contains("<Encrypt>"));
        let safe = sealer.seal(GET_CARD, Mode::Safe, 1, "n", &[0; 16]).unwrap();
        assert!(!safe.body.contains("<CardId>"));
    }

    #[test]
    fn encrypted_modes_need_a_key() {
        let sealer = Sealer {
            token: "tok",
            appid: "wx1",
            aes_key: None,
        };
        assert_eq!(
            sealer.seal(GET_CARD, Mode::Safe, 1, "n", &[0; 16]),
            Err(ProtocolError::NoAesKey)
        );
    }

    proptest! {
        #[test]
        fn sealed_random_messages_parse_back(openid in "[A-Za-z0-9_-]{1,28}", code in "[0-9]{1,20}", outer in "\\PC{0,40}") {
            let outer = outer.replace("]]>", "");
            let xml = format!("<xml><ToUserName><![CDATA[gh_x]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName><CreateTime>1</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[user_get_card]]></Event><CardId><![CDATA[c]]></CardId><UserCardCode><![CDATA[{code}]]></UserCardCode><OuterStr><![CDATA[{outer}]]></OuterStr></xml>");
            let key = AesKey::from_encoding_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG").unwrap();
            let sealer = Sealer { token: "t", appid: "wxapp", aes_key: Some(&key) };
            let sealed = sealer.seal(&xml, Mode::Safe, 5, "nonce", &[1; 16]).unwrap();
            let opened = open(&sealed, "t", &key, "wxapp");
            let m = events::parse(&opened).unwrap();
            prop_assert_eq!(m.from_user_name.as_str(), openid.as_str());
            prop_assert_eq!(m.event.code().map(|c| c.as_str().to_owned()), Some(code));
        }
    }
}
