//! Newtypes for the identifiers that travel together and must never be swapped.

use serde::{Deserialize, Serialize};

macro_rules! id_newtype {
    ($(#[$doc:meta] $name:ident),* $(,)?) => {$(
        #[$doc]
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }
    )*};
}

id_newtype!(
    /// An Official Account's AppID (`wx…`).
    AppId,
    /// A user's OpenID within one Official Account (`FromUserName` of a push).
    OpenId,
    /// A card template's id (`CardId`).
    CardId,
    /// One issued card's code (`UserCardCode`), plaintext in pushes.
    Code,
);

/// A channel's integer id (`outer_id` of a QR code or `cardExt`, `OuterId` of `user_get_card`):
/// "整型, 长度限制为60位数字" (reference 002), so far beyond `i64`. Kept as its decimal digits
/// (leading zeros dropped, `0` for none); ordered as the number it is; JSON writes it as a number
/// with exactly these digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OuterId(String);

impl OuterId {
    /// The most digits WeChat allows.
    pub const MAX_DIGITS: usize = 60;

    /// No channel.
    pub fn zero() -> Self {
        Self("0".to_owned())
    }

    /// `text` as an outer_id: an optional `-` and 1 to 60 digits; None for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        if digits.is_empty()
            || digits.len() > Self::MAX_DIGITS
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let significant = digits.trim_start_matches('0');
        Some(match (significant.is_empty(), negative) {
            (true, _) => Self::zero(),
            (false, false) => Self(significant.to_owned()),
            (false, true) => Self(format!("-{significant}")),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_zero(&self) -> bool {
        self.0 == "0"
    }

    fn is_negative(&self) -> bool {
        self.0.starts_with('-')
    }

    /// Above zero: what a channel created in cardhook may carry.
    pub fn is_positive(&self) -> bool {
        !self.is_zero() && !self.is_negative()
    }

    /// The digits without the sign.
    fn magnitude(&self) -> &str {
        self.0.trim_start_matches('-')
    }
}

impl Default for OuterId {
    fn default() -> Self {
        Self::zero()
    }
}

impl From<i64> for OuterId {
    fn from(n: i64) -> Self {
        Self(n.to_string())
    }
}

impl std::str::FromStr for OuterId {
    type Err = &'static str;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text).ok_or("must be an integer of at most 60 digits")
    }
}

impl std::fmt::Display for OuterId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Ord for OuterId {
    /// As numbers: canonical digits order by sign, then length, then text.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let by_magnitude = self
            .magnitude()
            .len()
            .cmp(&other.magnitude().len())
            .then_with(|| self.magnitude().cmp(other.magnitude()));
        match (self.is_negative(), other.is_negative()) {
            (false, false) => by_magnitude,
            (true, true) => by_magnitude.reverse(),
            (true, false) => std::cmp::Ordering::Less,
            (false, true) => std::cmp::Ordering::Greater,
        }
    }
}

impl PartialOrd for OuterId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Serialize for OuterId {
    /// A JSON number with exactly the stored digits (beyond 64 bits too).
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if let Ok(n) = self.0.parse::<i64>() {
            return serializer.serialize_i64(n);
        }
        if let Ok(n) = self.0.parse::<u64>() {
            return serializer.serialize_u64(n);
        }
        serde_json::value::RawValue::from_string(self.0.clone())
            .map_err(serde::ser::Error::custom)?
            .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for OuterId {
    /// A JSON integer, or a string of up to 60 digits (a larger number than JSON readers keep).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = OuterId;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an integer of at most 60 digits (a number, or a string of digits)")
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<OuterId, E> {
                Ok(OuterId::from(n))
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<OuterId, E> {
                Ok(OuterId(n.to_string()))
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<OuterId, E> {
                OuterId::parse(text).ok_or_else(|| E::custom("not an integer of at most 60 digits"))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outer_ids_keep_sixty_digits_and_order_as_numbers() {
        let sixty = "9".repeat(60);
        assert_eq!(OuterId::parse(&sixty).unwrap().as_str(), sixty);
        assert_eq!(OuterId::parse(&"9".repeat(61)), None);
        for bad in ["", "-", "1.5", "1e3", " 1", "+1", "０"] {
            assert_eq!(OuterId::parse(bad), None, "{bad}");
        }
        assert_eq!(OuterId::parse("007").unwrap().as_str(), "7");
        assert_eq!(OuterId::parse("-0").unwrap(), OuterId::zero());
        assert!(OuterId::parse("000").unwrap().is_zero());
        let mut ids: Vec<OuterId> = ["10", "9", "-3", "0", "-20", "12345678901234567890123"]
            .iter()
            .map(|t| OuterId::parse(t).unwrap())
            .collect();
        ids.sort();
        let sorted: Vec<&str> = ids.iter().map(OuterId::as_str).collect();
        assert_eq!(
            sorted,
            ["-20", "-3", "0", "9", "10", "12345678901234567890123"]
        );
    }

    #[test]
    fn outer_ids_are_json_numbers_with_their_digits() {
        let big = OuterId::parse("123456789012345678901234567890").unwrap();
        assert_eq!(
            serde_json::to_string(&big).unwrap(),
            "123456789012345678901234567890"
        );
        assert_eq!(serde_json::to_string(&OuterId::from(-5)).unwrap(), "-5");
        let back: OuterId = serde_json::from_str("\"123456789012345678901234567890\"").unwrap();
        assert_eq!(back, big);
        let small: OuterId = serde_json::from_str("42").unwrap();
        assert_eq!(small.as_str(), "42");
        assert!(serde_json::from_str::<OuterId>("1.5").is_err());
        assert!(serde_json::from_str::<OuterId>("\"abc\"").is_err());
    }
}
