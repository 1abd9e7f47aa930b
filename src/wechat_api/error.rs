//! The one error type of the outbound API boundary, and how the worker should react to each.

/// What went wrong with one WeChat API call. No variant carries a URL, a token or a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiCallError {
    #[error("WeChat API call timed out")]
    Timeout,
    #[error("WeChat API unreachable: {0}")]
    Transport(String),
    #[error("WeChat API answered HTTP {0}")]
    Status(u16),
    #[error("WeChat API errcode {errcode}{}: {errmsg}", meaning(*errcode))]
    Api { errcode: i64, errmsg: String },
    #[error("WeChat API answer could not be decoded: {0}")]
    Decode(String),
}

/// The worker's reaction to a failed call (reference §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// The access_token was refused: invalidate that token, refresh, retry once at once.
    RefreshToken,
    /// Transient: retry later on the schedule.
    Later,
    /// The account's daily quota is used up (45009): pause its jobs until the next day.
    QuotaExhausted,
    /// Retrying cannot help: the job is dead.
    Never,
    /// Not classified by the documentation: ask WeChat whether the card is active before deciding.
    Unknown,
}

/// Token errors: 40001 (invalid credential), 40014 (invalid access_token), 42001 (expired).
const TOKEN_ERRORS: [i64; 3] = [40001, 40014, 42001];
/// -1 system busy, 45011 too frequent.
const TRANSIENT: [i64; 2] = [-1, 45011];
/// Card errors no retry can fix: bad code, consumed, bad code, deleted/gifting, bad card_id,
/// bad card state, no API permission for the card, invalid appid.
const TERMINAL: [i64; 10] = [
    40056, 40099, 40116, 40127, 40073, 40078, 45030, 40013, 45015, 43004,
];
const DAILY_QUOTA: i64 = 45009;

/// What the documentation says an errcode means (reference §5.3), for the operator's message.
fn meaning(errcode: i64) -> String {
    let text = match errcode {
        -1 => "system busy, retry later",
        40001 | 40014 | 42001 => "access_token invalid or expired",
        40009 => "image file too large",
        40013 => "invalid AppID",
        40053 => "invalid action_info",
        40056 | 40116 => "invalid code",
        40071 => "invalid card_type",
        40072 => "invalid code_type",
        40073 => "invalid card_id",
        40078 => "invalid card status",
        40079 | 40100 => "invalid time or time range",
        40080 => "invalid cardExt",
        40099 => "code already consumed",
        40109 => "no codes, or more than 100 codes in one call",
        40127 => "card deleted by the user or being gifted",
        41011 => "a required field is missing",
        41012 => "card_id is missing",
        40124 => "too many custom_field entries on the member card",
        43009 => "no custom-code permission",
        43010 => "no stored-value (balance) permission",
        43004 => "the user does not follow the account",
        45015 => "the customer-service window has closed (48 hours after the user last interacted)",
        45028 => "no mass-send quota left",
        45009 => "daily API quota used up",
        45011 => "API called too often",
        45021 => "a field is too long",
        45030 => "no API permission for this card_id",
        45031 => "out of stock",
        45033 => "the user reached the card's get_limit",
        _ => return String::new(),
    };
    format!(" ({text})")
}

impl ApiCallError {
    pub fn from_reqwest(e: reqwest::Error) -> Self {
        if e.is_timeout() {
            Self::Timeout
        } else {
            // Never keep the URL: it carries access_token (or the AppSecret for /cgi-bin/token).
            Self::Transport(e.without_url().to_string())
        }
    }

    pub fn retry(&self) -> Retry {
        match self {
            Self::Timeout | Self::Transport(_) => Retry::Later,
            Self::Status(status) if *status >= 500 || *status == 429 => Retry::Later,
            Self::Status(_) | Self::Decode(_) => Retry::Unknown,
            Self::Api { errcode, .. } if TOKEN_ERRORS.contains(errcode) => Retry::RefreshToken,
            Self::Api { errcode, .. } if TRANSIENT.contains(errcode) => Retry::Later,
            Self::Api { errcode, .. } if TERMINAL.contains(errcode) => Retry::Never,
            Self::Api { errcode, .. } if *errcode == DAILY_QUOTA => Retry::QuotaExhausted,
            Self::Api { .. } => Retry::Unknown,
        }
    }

    /// A bounded label for metrics and logs.
    pub fn code_label(&self) -> String {
        match self {
            Self::Timeout => "timeout".to_owned(),
            Self::Transport(_) => "transport".to_owned(),
            Self::Status(s) => format!("http_{s}"),
            Self::Api { errcode, .. } => errcode.to_string(),
            Self::Decode(_) => "decode".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(errcode: i64) -> Retry {
        ApiCallError::Api {
            errcode,
            errmsg: String::new(),
        }
        .retry()
    }

    #[test]
    fn messages_name_the_documented_meaning() {
        let out_of_stock = ApiCallError::Api {
            errcode: 45031,
            errmsg: "stock is zero".into(),
        };
        assert_eq!(
            out_of_stock.to_string(),
            "WeChat API errcode 45031 (out of stock): stock is zero"
        );
        let undocumented = ApiCallError::Api {
            errcode: 40145,
            errmsg: "x".into(),
        };
        assert_eq!(undocumented.to_string(), "WeChat API errcode 40145: x");
    }

    #[test]
    fn every_documented_errcode_is_classified() {
        for code in [40001, 40014, 42001] {
            assert_eq!(api(code), Retry::RefreshToken, "{code}");
        }
        for code in [-1, 45011] {
            assert_eq!(api(code), Retry::Later, "{code}");
        }
        for code in [40056, 40099, 40116, 40127, 40073, 40078, 45030, 40013] {
            assert_eq!(api(code), Retry::Never, "{code}");
        }
        assert_eq!(api(45009), Retry::QuotaExhausted);
        assert_eq!(api(40145), Retry::Unknown);
        assert_eq!(ApiCallError::Timeout.retry(), Retry::Later);
        assert_eq!(ApiCallError::Status(502).retry(), Retry::Later);
        assert_eq!(
            ApiCallError::Transport("reset".into()).retry(),
            Retry::Later
        );
    }
}
