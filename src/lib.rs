//! cardhook: the server URL of a WeChat Official Account for card and member-card events.
#![forbid(unsafe_code)]

pub mod accounts;
pub mod api_schema;
pub mod app;
pub mod cli;
pub mod client_address;
pub mod clock;
pub mod config;
pub mod credentials;
pub mod distribution;
pub mod event_type;
pub mod html;
pub mod http;
pub mod ingest;
pub mod jobs;
pub mod loadgen;
pub mod members;
pub mod membership_number;
pub mod metrics;
pub mod report;
pub mod retry_schedule;
pub mod services;
pub mod shutdown;
pub mod sms;
pub mod standard_webhooks;
pub mod storage_health;
pub mod store;
pub mod telemetry;
pub mod web;
pub mod webhooks;
pub use cardhook_wechat as wechat;
pub mod wechat_api;
pub mod worker;
