//! The one integration test binary: the real app, real SQLite files, pushes sealed as WeChat sends them.
// The whole crate is test code: a failed unwrap is a failed test (clippy.toml allows it inside #[test] fns only).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod activation;
mod admin;
mod batch;
mod catalogue;
mod channels;
mod cli;
mod crash;
mod dedupe;
mod distribution;
mod durability;
mod faults;
mod feed;
mod h5_trust;
mod jump;
mod layers;
mod member_sync;
mod member_tags;
mod members;
mod messages;
mod migrations;
mod one_writer;
mod power_loss;
mod push_modes;
mod push_vectors;
mod rejections;
mod scale_out;
mod secrets;
mod shutdown;
mod support;
mod till;
mod unparsed;
mod verify;
mod web_jssdk;
mod webhooks;
