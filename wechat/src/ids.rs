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
