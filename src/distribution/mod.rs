//! The operator's calls, behind both the CLI and the admin API: one small context, [`Distribution`]
//! (database, credentials, clock, which account to act for), and a module per topic reached from
//! it — `catalogue` (cards), `channels` (named channels, landing pages, card QR codes in `qrcode`),
//! `codes` (custom-code deposits), `jssdk` (signatures for H5 pages), `messages` (cards by
//! message, mass sends, the test whitelist). The WeChat calls go through the shared access_token
//! (refreshed once when WeChat refuses it).

pub mod backfill;
pub mod card_sync;
pub mod catalogue;
pub mod channels;
pub mod codes;
pub mod jssdk;
pub mod messages;
pub mod qrcode;
pub mod till;

use chrono::FixedOffset;

use crate::clock::Clock;
use crate::credentials::{TokenError, TokenProvider};
use crate::store::Db;
use crate::store::StoreError;
use crate::wechat_api::ApiCallError;

/// The one error type of the distribution boundary; `http/error.rs` maps it to a status.
#[derive(Debug, thiserror::Error)]
pub enum DistributionError {
    /// The request itself is wrong; the message names the field.
    #[error("{0}")]
    Invalid(String),
    #[error("no account with an app_secret is configured for AppID {0}")]
    UnknownAccount(String),
    #[error("name the account: several accounts with an app_secret are configured (or none is)")]
    AmbiguousAccount,
    #[error(transparent)]
    Credential(#[from] TokenError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the deposit stopped after {done} of {total} codes reached WeChat: {source}; run the same deposit again to resume")]
    DepositInterrupted {
        done: usize,
        total: usize,
        source: TokenError,
    },
    /// WeChat refused a code at the till (40099, 40127, 40056): the errcode goes in the answer.
    #[error("WeChat refused the code: errcode {errcode} ({})", refusal_text(*refusal))]
    Refused {
        refusal: till::Refusal,
        errcode: i64,
    },
    /// Another request with the same idempotency key is consuming the code; retry to get its answer.
    #[error("a consume with this idempotency_key is in progress; retry to get its answer")]
    InProgress,
    /// A retry of a consume whose first answer was lost found the code consumed: maybe by that
    /// first attempt, maybe elsewhere.
    #[error("WeChat says the code is consumed: this key's earlier attempt, whose answer was lost, may have consumed it (check the card's holder before refusing the customer)")]
    MaybeConsumed,
    #[error("the mass send stopped after {done} of {total} calls: {source}; what was sent is recorded as send {id} (`cardhook mass list`)")]
    MassInterrupted {
        id: i64,
        done: usize,
        total: usize,
        source: TokenError,
    },
}

fn refusal_text(refusal: till::Refusal) -> &'static str {
    match refusal {
        till::Refusal::Consumed => "the code is consumed already",
        till::Refusal::Gone => {
            "the code was deleted by its holder, is being gifted, expired or was made unavailable"
        }
        till::Refusal::Unknown => "no such code",
    }
}

impl From<ApiCallError> for DistributionError {
    fn from(e: ApiCallError) -> Self {
        Self::Credential(TokenError::Api(e))
    }
}

/// What every operator call works with; each topic is reached through it (`catalogue()`, …).
/// Cheap to clone.
#[derive(Clone)]
pub struct Distribution {
    db: Db,
    tokens: TokenProvider,
    clock: Clock,
    /// The statistics' time zone: a counter the till adds goes to its day there.
    offset: FixedOffset,
}

fn required(field: &str, value: &str) -> Result<(), DistributionError> {
    if value.trim().is_empty() {
        return Err(DistributionError::Invalid(format!("{field} is required")));
    }
    Ok(())
}

impl Distribution {
    pub fn new(db: Db, tokens: TokenProvider, clock: Clock, offset: FixedOffset) -> Self {
        Self {
            db,
            tokens,
            clock,
            offset,
        }
    }

    /// The account to act for: the one named (it needs an app_secret), else the only one.
    pub fn appid(&self, named: Option<&str>) -> Result<String, DistributionError> {
        match named {
            Some(appid) if self.tokens.has_secret(appid) => Ok(appid.to_owned()),
            Some(appid) => Err(DistributionError::UnknownAccount(appid.to_owned())),
            None => self
                .tokens
                .single_appid()
                .map(str::to_owned)
                .ok_or(DistributionError::AmbiguousAccount),
        }
    }

    fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The statistics' day of `at`.
    fn day(&self, at: i64) -> String {
        crate::store::push::day_of(at, self.offset)
    }

    /// The card catalogue.
    pub fn catalogue(&self) -> catalogue::Catalogue<'_> {
        catalogue::Catalogue { op: self }
    }

    /// Named channels, landing pages and card QR codes.
    pub fn channels(&self) -> channels::Channels<'_> {
        channels::Channels { op: self }
    }

    /// Custom-code deposits.
    pub fn codes(&self) -> codes::Codes<'_> {
        codes::Codes { op: self }
    }

    /// JS-SDK signatures.
    pub fn jssdk(&self) -> jssdk::JsSdk<'_> {
        jssdk::JsSdk { op: self }
    }

    /// Bindings WeChat knows and the ledger lacks (after an outage).
    pub fn backfill(&self) -> backfill::Backfill<'_> {
        backfill::Backfill { op: self }
    }

    /// The till: check, consume, take back and re-code codes.
    pub fn till(&self) -> till::Till<'_> {
        till::Till { op: self }
    }

    /// Cards by message, mass sends and the test whitelist.
    pub fn messages(&self) -> messages::Messages<'_> {
        messages::Messages { op: self }
    }
}
