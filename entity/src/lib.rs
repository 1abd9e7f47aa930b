//! sea-orm entities of the cardhook schema (see `migration/`). Regenerable: no behaviour here.

pub mod access_token;
pub mod backfill_progress;
pub mod card;
pub mod card_binding;
pub mod card_event;
pub mod card_sequence;
pub mod channel;
pub mod channel_day;
pub mod code_consume;
pub mod code_deposit;
pub mod domain_event;
pub mod job;
pub mod mass_send;
pub mod mass_send_msg;
pub mod member;
pub mod oauth_state;
pub mod sms_code;
pub mod sms_send;
pub mod webhook_delivery;
