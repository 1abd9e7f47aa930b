//! The query string of a callback request (reference §1.1, §1.2), parsed strictly.
//!
//! Each known parameter may appear once; `signature`, `timestamp` and `nonce` are required on
//! every request, `echostr` on the handshake, `msg_signature` when `encrypt_type=aes`.

use super::ProtocolError;

/// The parameters WeChat puts on the callback URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackQuery {
    pub signature: String,
    /// Kept as sent: signatures are computed over the text, not the number.
    pub timestamp: String,
    pub timestamp_secs: i64,
    pub nonce: String,
    pub openid: Option<String>,
    /// `Some(msg_signature)` when the push is encrypted (`encrypt_type=aes`).
    pub msg_signature: Option<String>,
    pub encrypted: bool,
    pub echostr: Option<String>,
}

const KNOWN: [&str; 7] = [
    "signature",
    "timestamp",
    "nonce",
    "openid",
    "encrypt_type",
    "msg_signature",
    "echostr",
];

/// Parse a raw (still percent-encoded) query string. Unknown parameters are ignored.
pub fn parse(raw: &str) -> Result<CallbackQuery, ProtocolError> {
    let mut values: [Option<String>; 7] = Default::default();
    for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
        if let Some(i) = KNOWN.iter().position(|k| *k == key) {
            if values[i].is_some() {
                return Err(ProtocolError::DuplicateParam(KNOWN[i]));
            }
            values[i] = Some(value.into_owned());
        }
    }
    let [signature, timestamp, nonce, openid, encrypt_type, msg_signature, echostr] = values;
    let signature = signature.ok_or(ProtocolError::MissingParam("signature"))?;
    let timestamp = timestamp.ok_or(ProtocolError::MissingParam("timestamp"))?;
    let nonce = nonce.ok_or(ProtocolError::MissingParam("nonce"))?;
    let timestamp_secs = parse_timestamp(&timestamp)?;
    // Plain mode sends no encrypt_type (some accounts send `raw`); safe and compatible send `aes`.
    let encrypted = match encrypt_type.as_deref() {
        None | Some("raw") => false,
        Some("aes") => true,
        Some(_) => {
            return Err(ProtocolError::BadParam {
                name: "encrypt_type",
                reason: "must be `aes` or `raw`",
            })
        }
    };
    if encrypted && msg_signature.is_none() {
        return Err(ProtocolError::MissingParam("msg_signature"));
    }
    Ok(CallbackQuery {
        signature,
        timestamp,
        timestamp_secs,
        nonce,
        openid,
        msg_signature: if encrypted { msg_signature } else { None },
        encrypted,
        echostr,
    })
}

fn parse_timestamp(text: &str) -> Result<i64, ProtocolError> {
    let digits = !text.is_empty() && text.len() <= 18 && text.bytes().all(|b| b.is_ascii_digit());
    digits
        .then(|| text.parse::<i64>().ok())
        .flatten()
        .ok_or(ProtocolError::BadParam {
            name: "timestamp",
            reason: "must be a decimal number of seconds",
        })
}

/// Reject a timestamp further than `tolerance_secs` from `now` (0 turns the check off).
/// WeChat does not specify a replay window (reference §1.2); this one is cardhook's choice.
pub fn check_freshness(timestamp: i64, now: i64, tolerance_secs: u64) -> Result<(), ProtocolError> {
    if tolerance_secs == 0 || timestamp.abs_diff(now) <= tolerance_secs {
        Ok(())
    } else {
        Err(ProtocolError::StaleTimestamp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn official_safe_mode_query_parses() {
        let q = parse("signature=6c5c811b55cc85e0e1b54100749188c20beb3f5d&timestamp=1714112445&nonce=415670741&openid=o9AgO5Kd5ggOC-bXrbNODIiE3bGY&encrypt_type=aes&msg_signature=046e02f8204d34f8ba5fa3b1db94908f3df2e9b3").unwrap();
        assert!(q.encrypted);
        assert_eq!(q.timestamp_secs, 1714112445);
        assert_eq!(
            q.msg_signature.as_deref(),
            Some("046e02f8204d34f8ba5fa3b1db94908f3df2e9b3")
        );
        assert_eq!(q.openid.as_deref(), Some("o9AgO5Kd5ggOC-bXrbNODIiE3bGY"));
    }

    #[test]
    fn missing_duplicate_and_malformed_parameters_are_named() {
        let full = "signature=a&timestamp=1&nonce=n";
        assert_eq!(
            parse("timestamp=1&nonce=n"),
            Err(ProtocolError::MissingParam("signature"))
        );
        assert_eq!(
            parse("signature=a&nonce=n"),
            Err(ProtocolError::MissingParam("timestamp"))
        );
        assert_eq!(
            parse("signature=a&timestamp=1"),
            Err(ProtocolError::MissingParam("nonce"))
        );
        assert_eq!(
            parse(&format!("{full}&nonce=m")),
            Err(ProtocolError::DuplicateParam("nonce"))
        );
        assert_eq!(
            parse(&format!("{full}&encrypt_type=aes")),
            Err(ProtocolError::MissingParam("msg_signature"))
        );
        assert!(matches!(
            parse(&format!("{full}&encrypt_type=des")),
            Err(ProtocolError::BadParam {
                name: "encrypt_type",
                ..
            })
        ));
        for ts in ["", "-5", "12a", "99999999999999999999", "+5", "1%200"] {
            let q = format!("signature=a&timestamp={ts}&nonce=n");
            assert!(
                matches!(
                    parse(&q),
                    Err(ProtocolError::BadParam {
                        name: "timestamp",
                        ..
                    })
                ),
                "{ts}"
            );
        }
        assert!(parse(full).is_ok());
        assert!(parse(&format!("{full}&encrypt_type=raw&x=1")).is_ok());
    }

    #[test]
    fn percent_encoding_is_decoded() {
        let q = parse("signature=a&timestamp=1&nonce=n%2Bm&echostr=12%2034").unwrap();
        assert_eq!(q.nonce, "n+m");
        assert_eq!(q.echostr.as_deref(), Some("12 34"));
    }

    #[test]
    fn freshness_window() {
        assert!(check_freshness(1000, 1300, 300).is_ok());
        assert!(check_freshness(1300, 1000, 300).is_ok());
        assert_eq!(
            check_freshness(1000, 1301, 300),
            Err(ProtocolError::StaleTimestamp)
        );
        assert_eq!(
            check_freshness(0, i64::MAX, 300),
            Err(ProtocolError::StaleTimestamp)
        );
        assert!(check_freshness(0, i64::MAX, 0).is_ok());
    }
}
