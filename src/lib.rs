//! cardhook: the server URL of a WeChat Official Account for card and member-card events.
#![forbid(unsafe_code)]

pub mod wechat;
