//! The durable jobs: the payload of each kind (`payload.rs`) and the rules that queue them for a push
//! (`card_rules.rs`). The worker runs them (`worker/`); `store::jobs` keeps their rows.

pub mod card_rules;
pub mod payload;

pub use card_rules::{for_member, CardRules};
pub use payload::JobPayload;
