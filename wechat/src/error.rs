//! The one error type of the pure protocol layer.
//!
//! `Display` never contains a secret (token, key) nor the offending payload: it names the problem.

/// Why a callback request could not be accepted at the protocol level.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("query parameter `{0}` is missing")]
    MissingParam(&'static str),
    #[error("query parameter `{0}` is given more than once")]
    DuplicateParam(&'static str),
    #[error("query parameter `{name}` is malformed: {reason}")]
    BadParam {
        name: &'static str,
        reason: &'static str,
    },
    #[error("signature does not match")]
    BadSignature,
    #[error("msg_signature does not match")]
    BadMsgSignature,
    #[error("timestamp is outside the accepted window")]
    StaleTimestamp,
    #[error("this account accepts only encrypted pushes (compat and safe mode)")]
    PlaintextRejected,
    #[error("this account has no EncodingAESKey configured, so it cannot decrypt this push")]
    NoAesKey,
    #[error("Encrypt is not valid base64")]
    BadBase64,
    #[error("ciphertext is empty or not a whole number of AES blocks")]
    BadCiphertext,
    #[error("PKCS#7 padding is invalid")]
    BadPadding,
    #[error("declared message length does not fit the decrypted buffer")]
    BadLength,
    #[error("decrypted message is not UTF-8")]
    BadUtf8,
    #[error("decrypted message belongs to another AppID")]
    AppIdMismatch,
    #[error("XML declares a DOCTYPE or entity, which is refused")]
    DoctypeRejected,
    #[error("XML is malformed: {0}")]
    BadXml(String),
    #[error("XML field `{field}` is invalid: {reason}")]
    Xml {
        field: &'static str,
        reason: &'static str,
    },
    #[error("EncodingAESKey must be 43 characters of base64")]
    BadAesKey,
}

impl ProtocolError {
    /// A stable snake_case name of the reason, used in the JSON error body and as a metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::MissingParam(_) => "missing_param",
            Self::DuplicateParam(_) => "duplicate_param",
            Self::BadParam { .. } => "bad_param",
            Self::BadSignature => "bad_signature",
            Self::BadMsgSignature => "bad_msg_signature",
            Self::StaleTimestamp => "stale_timestamp",
            Self::PlaintextRejected => "plaintext_rejected",
            Self::NoAesKey => "no_aes_key",
            Self::BadBase64 => "bad_base64",
            Self::BadCiphertext => "bad_ciphertext",
            Self::BadPadding => "bad_padding",
            Self::BadLength => "bad_length",
            Self::BadUtf8 => "bad_utf8",
            Self::AppIdMismatch => "appid_mismatch",
            Self::DoctypeRejected => "doctype_rejected",
            Self::BadXml(_) => "bad_xml",
            Self::Xml { .. } => "bad_xml_field",
            Self::BadAesKey => "bad_aes_key",
        }
    }

    /// True when the request failed authentication (HTTP 401) rather than being malformed (400).
    pub fn is_authentication(&self) -> bool {
        matches!(
            self,
            Self::BadSignature
                | Self::BadMsgSignature
                | Self::StaleTimestamp
                | Self::PlaintextRejected
                | Self::NoAesKey
                | Self::AppIdMismatch
        )
    }
}
