//! The WeChat callback protocol, pure: no I/O, no runtime, no framework, no database.
//!
//! Everything here takes bytes or strings and returns typed values or [`ProtocolError`]; the
//! facts it implements are in `shared/reference/wechat-protocol.md` (cited as "reference §N").

pub mod crypto;
pub mod error;
pub mod events;
pub mod ids;
pub mod jssdk;
pub mod query;
pub mod seal;
pub mod signature;
pub mod xml;

pub use error::ProtocolError;

/// The published vectors of `fixtures/vectors/`, for the unit tests of this module.
#[cfg(test)]
pub(crate) mod vectors {
    use std::collections::HashMap;

    pub const A: &str = include_str!("../../fixtures/vectors/vector_a.txt");
    pub const B: &str = include_str!("../../fixtures/vectors/vector_b.txt");
    pub const C: &str = include_str!("../../fixtures/vectors/vector_c.txt");
    pub const D: &str = include_str!("../../fixtures/vectors/vector_d.txt");
    pub const SIGNATURES: &str = include_str!("../../fixtures/vectors/signatures.txt");

    /// `key = value` lines; `#` starts a comment line.
    pub fn load(text: &str) -> HashMap<&str, &str> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once(" = "))
            .collect()
    }
}

/// How an account exchanges pushes (reference §1.2): the console's 明文 / 兼容 / 安全 mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Plaintext pushes, signed with `signature` only.
    Plain,
    /// Plaintext and ciphertext side by side; cardhook reads only the ciphertext.
    Compat,
    /// Ciphertext only; an account in safe mode refuses plaintext pushes.
    Safe,
}
