//! Typed settings: embedded defaults → config file → `CARDHOOK_*` environment (`__` nests); `validate()`.

use std::path::Path;

use chrono::FixedOffset;
use figment::providers::{Env, Format, Toml};
use figment::Figment;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::wechat::crypto::AesKey;
use crate::wechat::Mode;

const DEFAULTS: &str = include_str!("../config/default.toml");

/// The largest `database.batch_max`: a transaction's pages stay in SQLite's cache until it commits.
const MAX_BATCH: usize = 1024;

/// A configuration problem, naming the key and where it came from.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(String),
    #[error("configuration key `{key}`: {reason}")]
    Invalid { key: String, reason: String },
}

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    pub admin: AdminSettings,
    pub database: DatabaseSettings,
    pub stats: StatsSettings,
    pub wechat: WechatSettings,
    pub log: LogSettings,
    pub worker: WorkerSettings,
    pub web: WebSettings,
    /// How the H5 page sends its SMS codes; None: not configured.
    pub sms: Option<SmsSettings>,
    #[serde(default)]
    pub accounts: Vec<AccountSettings>,
    #[serde(default)]
    pub cards: Vec<CardSettings>,
    /// The merchant's systems that hear every domain event (`webhooks`).
    #[serde(default)]
    pub webhooks: Vec<WebhookSettings>,
    /// Member levels put into WeChat user tags (`members tag`).
    #[serde(default)]
    pub member_tags: Vec<MemberTagSettings>,
}

/// `[[member_tags]]`: the members of a level (the import's `level` column) go under a WeChat user
/// tag, e.g. `{ level = "gold", tag = "金卡会员" }` (按会员标签群发).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberTagSettings {
    pub level: String,
    pub tag: String,
}

/// The longest name of a WeChat user tag (`/cgi-bin/tags/create`), in bytes.
pub const TAG_NAME_MAX: usize = 30;

#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    pub listen: String,
    pub max_body_bytes: usize,
    pub timestamp_tolerance_secs: u64,
    pub body_timeout_secs: u64,
    pub storage_timeout_ms: u64,
    pub workers: usize,
    /// Proxies (CIDRs or addresses) whose X-Forwarded-For / X-Real-IP name the client.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Requests one client address may have in progress at once (bodies arriving, answers pending).
    pub max_requests_per_client: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AdminSettings {
    pub listen: String,
    pub token: Option<SecretString>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    /// May carry a password (PostgreSQL): never logged.
    pub url: SecretString,
    pub max_connections: u32,
    pub busy_timeout_ms: u64,
    pub statement_timeout_ms: u64,
    pub batch_max: usize,
    /// Group-commit writers (1 on SQLite; several on PostgreSQL).
    pub writers: usize,
    pub queue_capacity: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StatsSettings {
    pub utc_offset: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WechatSettings {
    pub api_base: String,
    /// The host of WeChat's OAuth2 authorize page (reference 002).
    pub oauth_base: String,
}

/// The public pages (H5 activation, JS-SDK signatures) on the callback listener.
#[derive(Debug, Clone, Deserialize)]
pub struct WebSettings {
    /// The origin customers reach cardhook at (`https://hooks.example.com`): the pages' and the OAuth
    /// redirect_uri's.
    pub public_url: Option<String>,
    /// Signs the OAuth state, the session cookie and the forms' CSRF token: at least 32 characters.
    pub session_secret: Option<SecretString>,
    /// Pages (origins) allowed to ask for JS-SDK signatures.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// OAuth2 sign-ins (code exchanges) one client address may make a minute.
    pub sign_ins_per_minute: u32,
}

/// `[[webhooks]]`: an endpoint of the merchant's that gets the domain events as Standard Webhooks.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// How the CLI, the admin API and the metrics name it (letters, digits, `-`, `_`).
    pub name: String,
    /// `http(s)://…`; redirects are not followed.
    pub url: String,
    /// `whsec_…` (base64 after the prefix).
    pub secret: SecretString,
    /// The event types it gets; empty: every type.
    #[serde(default)]
    pub types: Vec<String>,
    /// Only this account's events; none: every account's.
    pub appid: Option<String>,
    /// One event at a time in seq order (the next waits while one is retried); false: a window of
    /// events at once.
    #[serde(default = "default_true")]
    pub ordered: bool,
    /// How long an answer may take.
    #[serde(default = "default_webhook_timeout")]
    pub timeout_secs: u64,
    /// Waits before the tries after a failure; past its end the endpoint is marked failing.
    #[serde(default = "default_webhook_schedule")]
    pub retry_schedule_secs: Vec<u64>,
    /// How long one instance holds the endpoint (several instances on PostgreSQL): a killed
    /// holder's endpoint is taken over after this. More than twice `timeout_secs`.
    #[serde(default = "default_webhook_lease")]
    pub lease_secs: u64,
}

fn default_true() -> bool {
    true
}

fn default_webhook_timeout() -> u64 {
    15
}

/// 5 s, 30 s, 2 min, 10 min, 1 h, 4 h, then every 8 h for 3 days.
fn default_webhook_schedule() -> Vec<u64> {
    let mut schedule = vec![5, 30, 120, 600, 3600, 14_400];
    schedule.extend([28_800; 9]);
    schedule
}

fn default_webhook_lease() -> u64 {
    60
}

impl WebhookSettings {
    fn validate(
        &self,
        i: usize,
        names: &mut std::collections::HashSet<String>,
    ) -> Result<(), ConfigError> {
        let key = |field: &str| format!("webhooks[{i}].{field}");
        let name_ok = (1..=64).contains(&self.name.len())
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !name_ok {
            return Err(invalid(
                &key("name"),
                "must be 1 to 64 letters, digits, - or _",
            ));
        }
        if !names.insert(self.name.clone()) {
            return Err(invalid(
                &key("name"),
                &format!("{} is configured twice", self.name),
            ));
        }
        let url = url::Url::parse(&self.url)
            .map_err(|e| invalid(&key("url"), &format!("is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(invalid(&key("url"), "must be an http:// or https:// URL"));
        }
        if standardwebhooks::Webhook::new(self.secret.expose_secret()).is_err()
            || !self.secret.expose_secret().starts_with("whsec_")
        {
            return Err(invalid(
                &key("secret"),
                "must be a whsec_ secret (whsec_ and base64)",
            ));
        }
        for t in &self.types {
            if crate::event_type::EventType::parse(t).is_none() {
                return Err(invalid(
                    &key("types"),
                    &format!("{t:?} is not an event type"),
                ));
            }
        }
        if !(1..=300).contains(&self.timeout_secs) {
            return Err(invalid(&key("timeout_secs"), "must be 1 to 300"));
        }
        if self.retry_schedule_secs.is_empty() || self.retry_schedule_secs.contains(&0) {
            return Err(invalid(
                &key("retry_schedule_secs"),
                "must list at least one wait of 1 s or more",
            ));
        }
        // A post starts only while the lease outlasts its timeout, and the lease is renewed at half
        // its length: twice the timeout leaves room for one post after each renewal.
        if self.lease_secs <= 2 * self.timeout_secs || self.lease_secs > 3600 {
            return Err(invalid(
                &key("lease_secs"),
                "must be more than twice timeout_secs, and at most 3600",
            ));
        }
        Ok(())
    }
}

/// `[sms]`: the sender of the H5 page's one-time codes, which prove a phone before it binds a member.
#[derive(Debug, Clone, Deserialize)]
pub struct SmsSettings {
    pub provider: SmsProvider,
    /// How long a code is good for.
    #[serde(default = "default_code_ttl")]
    pub code_ttl_secs: u64,
    /// Wrong tries that burn a code.
    #[serde(default = "default_max_tries")]
    pub max_tries: u32,
    /// Tencent Cloud SMS (API 3.0, `SendSms` of version 2021-01-11).
    #[serde(default = "default_tencent_endpoint")]
    pub endpoint: String,
    #[serde(default = "default_tencent_region")]
    pub region: String,
    pub secret_id: Option<SecretString>,
    pub secret_key: Option<SecretString>,
    pub sdk_app_id: Option<String>,
    pub sign_name: Option<String>,
    pub template_id: Option<String>,
    /// The merchant's own gateway: a POST signed as Standard Webhooks are.
    pub url: Option<String>,
    /// `whsec_…` (base64 after the prefix).
    pub secret: Option<SecretString>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmsProvider {
    Tencent,
    Webhook,
}

fn default_code_ttl() -> u64 {
    300
}

fn default_max_tries() -> u32 {
    5
}

fn default_tencent_endpoint() -> String {
    "https://sms.tencentcloudapi.com".to_owned()
}

fn default_tencent_region() -> String {
    "ap-guangzhou".to_owned()
}

/// The largest points or balance (fen) a member may hold: WeChat's member card fields are 32-bit
/// integers. Values are checked where they enter (config, CSV, the admin API, pushes), so the sums
/// the stores compute cannot overflow.
pub const MAX_MEMBER_VALUE: i64 = i32::MAX as i64;

/// Points or a balance WeChat accepts (0 to [`MAX_MEMBER_VALUE`]); why not, when not.
pub fn check_member_value(value: i64) -> Result<(), String> {
    if (0..=MAX_MEMBER_VALUE).contains(&value) {
        return Ok(());
    }
    Err(format!("must be between 0 and {MAX_MEMBER_VALUE}"))
}

/// The shortest `web.session_secret` accepted.
pub const MIN_SESSION_SECRET: usize = 32;

/// The shortest `admin.token` accepted: a bearer token guessed online must be out of reach.
pub const MIN_ADMIN_TOKEN: usize = 24;

#[derive(Debug, Clone, Deserialize)]
pub struct WorkerSettings {
    pub enabled: bool,
    pub concurrency: usize,
    pub poll_interval_ms: u64,
    pub lease_secs: u64,
    pub api_timeout_ms: u64,
    pub retry_schedule_secs: Vec<u64>,
    pub retry_jitter: f64,
    pub drain_timeout_secs: u64,
    pub token_refresh_margin_secs: u64,
    pub token_lease_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    pub format: LogFormat,
    pub level: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AccountSettings {
    pub appid: String,
    pub token: Option<SecretString>,
    pub encoding_aes_key: Option<SecretString>,
    pub app_secret: Option<SecretString>,
    #[serde(default = "default_mode")]
    pub mode: Mode,
    #[serde(default)]
    pub token_endpoint: TokenEndpoint,
}

/// Where an account's access_token comes from (reference §5.1, §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenEndpoint {
    /// `POST /cgi-bin/stable_token` (force_refresh=false): idempotent, shared safely by many callers.
    #[default]
    Stable,
    /// `GET /cgi-bin/token`: each call invalidates the previous token after 5 minutes.
    Classic,
}

fn default_mode() -> Mode {
    Mode::Safe
}

#[derive(Debug, Clone, Deserialize)]
pub struct CardSettings {
    pub card_id: String,
    #[serde(default = "default_activation")]
    pub activation: Activation,
    #[serde(default = "default_membership_number")]
    pub membership_number: String,
    #[serde(default)]
    pub init_bonus: i64,
    #[serde(default)]
    pub init_balance: i64,
    pub init_bonus_record: Option<String>,
    pub init_custom_field_value1: Option<String>,
    pub init_custom_field_value2: Option<String>,
    pub init_custom_field_value3: Option<String>,
    pub background_pic_url: Option<String>,
    pub activate_begin_time: Option<i64>,
    pub activate_end_time: Option<i64>,
    /// How a card finds the merchant's member it belongs to (unset: it does not).
    pub bind_by: Option<BindBy>,
    /// What a phone with no member gets.
    #[serde(default)]
    pub unknown_member: UnknownMember,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// When the card is got (`user_get_card`), with the membership number template.
    OnGet,
    /// When the one-click form is submitted (`submit_membercard_user_info`).
    OnSubmit,
    /// On cardhook's H5 activation page, after the customer gives a phone number.
    H5,
    /// Jump-style one-click (跳转型一键激活): after WeChat's own form, WeChat sends the customer to
    /// cardhook's `/h5/{appid}/activated` with a ticket to the form's answers.
    Jump,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BindBy {
    /// The member whose phone the customer gives (the H5 page) or submitted (the one-click form).
    Phone,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownMember {
    /// A new member, numbered by the card's `membership_number` template, with its `init_bonus` and
    /// `init_balance`.
    #[default]
    Create,
    /// Nothing is activated, and the customer is told.
    Refuse,
}

fn default_activation() -> Activation {
    Activation::OnGet
}

fn default_membership_number() -> String {
    "{code}".to_owned()
}

impl Settings {
    /// Layer the embedded defaults, the file (`path`, or `./cardhook.toml` if present) and the environment.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULTS));
        match path {
            Some(path) if !path.exists() => {
                return Err(ConfigError::Load(format!(
                    "config file {} does not exist",
                    path.display()
                )))
            }
            Some(path) => figment = figment.merge(Toml::file(path)),
            None if Path::new("cardhook.toml").exists() => {
                figment = figment.merge(Toml::file("cardhook.toml"))
            }
            None => {}
        }
        Self::load_from(figment.merge(Env::prefixed("CARDHOOK_").split("__")))
    }

    /// Extract from any figment (tests build theirs in code and never touch the environment).
    pub fn load_from(figment: Figment) -> Result<Self, ConfigError> {
        figment
            .extract()
            .map_err(|e| ConfigError::Load(e.to_string()))
    }

    /// The embedded defaults alone, with no file and no environment.
    pub fn defaults() -> Result<Self, ConfigError> {
        Self::load_from(Figment::from(Toml::string(DEFAULTS)))
    }

    /// Check what serde cannot: keys, offsets, and every account's secrets.
    /// `server.trusted_proxies`, parsed.
    pub fn trusted_proxies(&self) -> Result<crate::client_address::TrustedProxies, ConfigError> {
        crate::client_address::TrustedProxies::parse(&self.server.trusted_proxies).map_err(
            |entry| {
                invalid(
                    "server.trusted_proxies",
                    &format!("`{entry}` is not an address or a CIDR such as 10.0.0.0/8"),
                )
            },
        )
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.stats_offset()?;
        if !(1..=MAX_BATCH).contains(&self.database.batch_max) {
            return Err(invalid(
                "database.batch_max",
                &format!(
                    "must be between 1 and {MAX_BATCH} (a batch's pages stay in memory until it commits)"
                ),
            ));
        }
        if self.database.queue_capacity == 0 {
            return Err(invalid("database.queue_capacity", "must be at least 1"));
        }
        let postgres = self.database.url.expose_secret().starts_with("postgres");
        if postgres && self.database.max_connections < 2 {
            return Err(invalid(
                "database.max_connections",
                "must be at least 2 on PostgreSQL (a migration holds one for its lock)",
            ));
        }
        let writers = self.database.writers;
        if writers == 0 || (!postgres && writers > 1) {
            return Err(invalid(
                "database.writers",
                "must be 1 on SQLite (one writer at a time) and at least 1 on PostgreSQL",
            ));
        }
        if usize::try_from(self.database.max_connections).is_ok_and(|pool| writers >= pool) {
            return Err(invalid(
                "database.writers",
                "must be below database.max_connections (the worker and the admin API need one)",
            ));
        }
        self.trusted_proxies()?;
        if self.server.max_requests_per_client == 0 {
            return Err(invalid(
                "server.max_requests_per_client",
                "must be at least 1",
            ));
        }
        if let Some(token) = &self.admin.token {
            if token.expose_secret().chars().count() < MIN_ADMIN_TOKEN {
                return Err(invalid(
                    "admin.token",
                    &format!("must be at least {MIN_ADMIN_TOKEN} characters (or unset: the admin API then refuses everything)"),
                ));
            }
        }
        self.validate_worker()?;
        if let Some(sms) = &self.sms {
            sms.validate()?;
        }
        self.validate_cards()?;
        self.validate_member_tags()?;
        let mut names = std::collections::HashSet::new();
        for (i, webhook) in self.webhooks.iter().enumerate() {
            webhook.validate(i, &mut names)?;
        }
        let mut seen = std::collections::HashSet::new();
        for (i, account) in self.accounts.iter().enumerate() {
            if account.appid.trim().is_empty() {
                return Err(invalid(&format!("accounts[{i}].appid"), "is empty"));
            }
            if !seen.insert(account.appid.as_str()) {
                return Err(invalid(
                    &format!("accounts[{i}].appid"),
                    &format!("account {} is configured twice", account.appid),
                ));
            }
            account.checked(i)?;
        }
        Ok(())
    }

    fn validate_cards(&self) -> Result<(), ConfigError> {
        let mut cards = std::collections::HashSet::new();
        for (i, card) in self.cards.iter().enumerate() {
            if !cards.insert(card.card_id.as_str()) {
                return Err(invalid(
                    &format!("cards[{i}].card_id"),
                    "is configured twice",
                ));
            }
            crate::membership_number::MembershipTemplate::parse(&card.membership_number).map_err(
                |reason| {
                    invalid(
                        &format!("cards[{i}].membership_number (card {})", card.card_id),
                        reason,
                    )
                },
            )?;
            let key = |name: &str| format!("cards[{i}].{name} (card {})", card.card_id);
            for (name, value) in [
                ("init_bonus", card.init_bonus),
                ("init_balance", card.init_balance),
            ] {
                check_member_value(value).map_err(|reason| invalid(&key(name), &reason))?;
            }
            match (card.activation, card.bind_by) {
                (Activation::H5 | Activation::Jump, None) => {
                    return Err(invalid(
                        &key("bind_by"),
                        "must be \"phone\" with activation = \"h5\" or \"jump\" (the page finds the member by phone)",
                    ))
                }
                (Activation::OnGet | Activation::None, Some(_)) => {
                    return Err(invalid(
                        &key("bind_by"),
                        "needs activation = \"h5\" or \"on_submit\" (where the customer gives a phone)",
                    ))
                }
                _ => {}
            }
            if card.activation == Activation::Jump {
                self.validate_public_url(&key("activation"), "jump")?;
            }
            if card.activation == Activation::H5 {
                self.validate_web(&key("activation"))?;
                if self.sms.is_none() {
                    return Err(invalid(
                        "sms.provider",
                        &format!(
                            "is required by {} = \"h5\" with bind_by = \"phone\": the page proves the phone with an SMS code (tencent or webhook)",
                            key("activation")
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// What an H5 card needs: where customers reach cardhook, and a secret to sign their sessions.
    fn validate_web(&self, card: &str) -> Result<(), ConfigError> {
        self.validate_public_url(card, "h5")?;
        let long_enough = self
            .web
            .session_secret
            .as_ref()
            .is_some_and(|s| s.expose_secret().chars().count() >= MIN_SESSION_SECRET);
        if !long_enough {
            return Err(invalid(
                "web.session_secret",
                &format!(
                    "must be set, at least {MIN_SESSION_SECRET} characters, for {card} = \"h5\""
                ),
            ));
        }
        Ok(())
    }

    /// Where customers reach cardhook, which a card of `activation` needs: an http(s) origin.
    fn validate_public_url(&self, card: &str, activation: &str) -> Result<(), ConfigError> {
        let url = self.web.public_url.as_deref().ok_or_else(|| {
            invalid(
                "web.public_url",
                &format!("is required by {card} = \"{activation}\" (the origin customers reach cardhook at)"),
            )
        })?;
        let parsed = url::Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "https" | "http") && u.host().is_some());
        if parsed.is_none() {
            return Err(invalid(
                "web.public_url",
                "must be an http(s) origin such as https://hooks.example.com",
            ));
        }
        Ok(())
    }

    /// Each level once, each tag once, tag names as WeChat takes them.
    fn validate_member_tags(&self) -> Result<(), ConfigError> {
        let (mut levels, mut tags) = (
            std::collections::HashSet::new(),
            std::collections::HashSet::new(),
        );
        for (i, t) in self.member_tags.iter().enumerate() {
            let key = |name: &str| format!("member_tags[{i}].{name}");
            if t.level.trim().is_empty() || !levels.insert(t.level.as_str()) {
                return Err(invalid(&key("level"), "must be set, and each level once"));
            }
            if t.tag.trim().is_empty() || t.tag.len() > TAG_NAME_MAX {
                return Err(invalid(
                    &key("tag"),
                    &format!("must be 1 to {TAG_NAME_MAX} bytes (a Chinese character is 3)"),
                ));
            }
            if !tags.insert(t.tag.as_str()) {
                return Err(invalid(&key("tag"), "names a tag another level has"));
            }
        }
        Ok(())
    }

    /// The WeChat tag of each member level.
    pub fn tag_of_level(&self) -> std::collections::HashMap<String, String> {
        self.member_tags
            .iter()
            .map(|t| (t.level.clone(), t.tag.clone()))
            .collect()
    }

    fn validate_worker(&self) -> Result<(), ConfigError> {
        let w = &self.worker;
        if w.concurrency == 0 {
            return Err(invalid("worker.concurrency", "must be at least 1"));
        }
        // A job makes at most three calls (token, activate, activate again after a token error),
        // and a job claimed ahead first waits for the round in progress (three calls at most): a
        // shorter lease would let a second worker take a job that is still waiting or running.
        if w.lease_secs.saturating_mul(1000) <= w.api_timeout_ms.saturating_mul(6) {
            return Err(invalid(
                "worker.lease_secs",
                "must be longer than six worker.api_timeout_ms (a job claimed ahead waits for a slot, then token, activate, retry)",
            ));
        }
        if !(0.0..1.0).contains(&w.retry_jitter) {
            return Err(invalid("worker.retry_jitter", "must be in 0.0..1.0"));
        }
        Ok(())
    }

    /// The UTC offset in which channel counters are kept per day.
    pub fn stats_offset(&self) -> Result<FixedOffset, ConfigError> {
        parse_offset(&self.stats.utc_offset)
            .ok_or_else(|| invalid("stats.utc_offset", "must look like +08:00 or -05:30"))
    }
}

impl SmsSettings {
    /// What the provider needs, named by key (never echoing a secret).
    fn validate(&self) -> Result<(), ConfigError> {
        if !(60..=1800).contains(&self.code_ttl_secs) {
            return Err(invalid("sms.code_ttl_secs", "must be between 60 and 1800"));
        }
        if !(1..=10).contains(&self.max_tries) {
            return Err(invalid("sms.max_tries", "must be between 1 and 10"));
        }
        let http_url = |key: &str, value: &str| {
            url::Url::parse(value)
                .ok()
                .filter(|u| matches!(u.scheme(), "https" | "http") && u.host().is_some())
                .map(|_| ())
                .ok_or_else(|| invalid(key, "must be an http(s) URL"))
        };
        match self.provider {
            SmsProvider::Tencent => {
                let present = |value: Option<&str>| value.is_some_and(|v| !v.trim().is_empty());
                for (key, value) in [
                    (
                        "sms.secret_id",
                        self.secret_id.as_ref().map(|s| s.expose_secret()),
                    ),
                    (
                        "sms.secret_key",
                        self.secret_key.as_ref().map(|s| s.expose_secret()),
                    ),
                    ("sms.sdk_app_id", self.sdk_app_id.as_deref()),
                    ("sms.sign_name", self.sign_name.as_deref()),
                    ("sms.template_id", self.template_id.as_deref()),
                ] {
                    if !present(value) {
                        return Err(invalid(key, "is required with provider = \"tencent\""));
                    }
                }
                http_url("sms.endpoint", &self.endpoint)
            }
            SmsProvider::Webhook => {
                http_url("sms.url", self.url.as_deref().unwrap_or_default())?;
                let secret = self
                    .secret
                    .as_ref()
                    .map(|s| s.expose_secret())
                    .unwrap_or_default();
                let decodes = secret.strip_prefix("whsec_").is_some_and(|key| {
                    standardwebhooks::Webhook::new(key).is_ok() && key.len() >= 24
                });
                if !decodes {
                    return Err(invalid(
                        "sms.secret",
                        "must be whsec_ followed by base64 of at least 18 bytes (as Standard Webhooks secrets are)",
                    ));
                }
                Ok(())
            }
        }
    }
}

impl AccountSettings {
    /// Check the account's secrets, naming the account and key (never the value) on error; on
    /// success, its token and the AES key derived from its EncodingAESKey.
    pub fn checked(&self, index: usize) -> Result<(SecretString, Option<AesKey>), ConfigError> {
        let key = |name: &str| format!("accounts[{index}].{name} (account {})", self.appid);
        let token = self
            .token
            .clone()
            .filter(|t| !t.expose_secret().is_empty())
            .ok_or_else(|| invalid(&key("token"), "is missing"))?;
        let aes_key = match (&self.encoding_aes_key, self.mode) {
            (None, Mode::Compat | Mode::Safe) => {
                return Err(invalid(
                    &key("encoding_aes_key"),
                    "is required in compat and safe mode",
                ))
            }
            (Some(k), _) => Some(AesKey::from_encoding_aes_key(k.expose_secret()).map_err(
                |_| invalid(&key("encoding_aes_key"), "must be 43 characters of base64"),
            )?),
            (None, Mode::Plain) => None,
        };
        Ok((token, aes_key))
    }
}

fn invalid(key: &str, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        reason: reason.to_owned(),
    }
}

/// `+08:00`, `-05:30`, `Z`.
fn parse_offset(text: &str) -> Option<FixedOffset> {
    if text == "Z" || text == "UTC" {
        return FixedOffset::east_opt(0);
    }
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    if h.abs() > 23 || !(0..60).contains(&m) || rest.len() != 5 {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::providers::Serialized;

    fn with(toml: &str) -> Result<Settings, ConfigError> {
        Settings::load_from(Figment::from(Toml::string(DEFAULTS)).merge(Toml::string(toml)))
    }

    #[test]
    fn defaults_load_and_validate() {
        let s = Settings::defaults().unwrap();
        s.validate().unwrap();
        assert_eq!(s.server.max_body_bytes, 65536);
        assert_eq!(s.server.timestamp_tolerance_secs, 300);
        assert_eq!(
            s.stats_offset().unwrap(),
            FixedOffset::east_opt(8 * 3600).unwrap()
        );
        assert!(s.admin.token.is_none());
    }

    #[test]
    fn missing_token_and_bad_key_name_the_account_and_key() {
        let s = with("[[accounts]]\nappid = \"wxA\"\nmode = \"plain\"\n").unwrap();
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("accounts[0].token") && e.contains("wxA"), "{e}");

        let s =
            with("[[accounts]]\nappid = \"wxB\"\ntoken = \"t\"\nencoding_aes_key = \"short\"\n")
                .unwrap();
        let e = s.validate().unwrap_err().to_string();
        assert!(
            e.contains("accounts[0].encoding_aes_key") && e.contains("wxB") && e.contains("43"),
            "{e}"
        );
        assert!(
            !e.contains("short"),
            "the key itself must not be echoed: {e}"
        );

        let s = with("[[accounts]]\nappid = \"wxC\"\ntoken = \"t\"\nmode = \"safe\"\n").unwrap();
        assert!(s
            .validate()
            .unwrap_err()
            .to_string()
            .contains("required in compat and safe mode"));
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let s = with("[[accounts]]\nappid = \"wxA\"\ntoken = \"tok-secret\"\napp_secret = \"app-secret\"\nencoding_aes_key = \"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG\"\n[admin]\ntoken = \"admin-secret-of-24-characters\"\n").unwrap();
        s.validate().unwrap();
        let debug = format!("{s:?}");
        for secret in [
            "tok-secret",
            "app-secret",
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
            "admin-secret-of-24-characters",
            "cardhook.db",
        ] {
            assert!(!debug.contains(secret), "{secret} leaked into Debug");
        }
    }

    #[test]
    fn environment_style_overrides_nest() {
        let fig = Figment::from(Toml::string(DEFAULTS))
            .merge(Serialized::default("database.url", "sqlite://other.db"))
            .merge(Serialized::default("server.timestamp_tolerance_secs", 0));
        let s = Settings::load_from(fig).unwrap();
        assert_eq!(s.database.url.expose_secret(), "sqlite://other.db");
        assert_eq!(s.server.timestamp_tolerance_secs, 0);
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = with("[server]\nmax_body_bytes = \"big\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("max_body_bytes"), "{e}");
        let s = with("[stats]\nutc_offset = \"8\"\n").unwrap();
        assert!(s
            .validate()
            .unwrap_err()
            .to_string()
            .contains("stats.utc_offset"));
        assert!(with("[[accounts]]\nappid = \"a\"\ntoken = \"t\"\nmode = \"loud\"\n").is_err());
    }

    #[test]
    fn several_writers_only_on_postgres_and_below_the_pool() {
        let check = |toml: &str| with(toml).unwrap().validate();
        let e = check("[database]\nwriters = 2\n").unwrap_err();
        assert!(e.to_string().contains("database.writers"), "{e}");
        let pg = "[database]\nurl = \"postgres://u@h/db\"\nmax_connections = 8\n";
        assert!(check(&format!("{pg}writers = 4\n")).is_ok());
        let e = check(&format!("{pg}writers = 8\n")).unwrap_err();
        assert!(e.to_string().contains("max_connections"), "{e}");
    }

    #[test]
    fn batches_and_the_queue_are_bounded() {
        let check = |toml: &str| with(toml).unwrap().validate();
        for batch in [0, MAX_BATCH + 1] {
            let e = check(&format!("[database]\nbatch_max = {batch}\n")).unwrap_err();
            assert!(e.to_string().contains("database.batch_max"), "{e}");
        }
        assert!(check(&format!("[database]\nbatch_max = {MAX_BATCH}\n")).is_ok());
        let e = check("[database]\nqueue_capacity = 0\n").unwrap_err();
        assert!(e.to_string().contains("database.queue_capacity"), "{e}");
    }

    #[test]
    fn worker_lease_must_outlast_the_api_calls() {
        let e = with("[worker]\nlease_secs = 10\napi_timeout_ms = 5000\n")
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("worker.lease_secs"), "{e}");
        assert!(with("[worker]\nlease_secs = 20\napi_timeout_ms = 5000\n")
            .unwrap()
            .validate()
            .is_err());
        assert!(with("[worker]\nlease_secs = 31\napi_timeout_ms = 5000\n")
            .unwrap()
            .validate()
            .is_ok());
    }

    #[test]
    fn membership_templates_are_checked() {
        let e = with("[[cards]]\ncard_id = \"p1\"\nmembership_number = \"{nope}\"\n")
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("cards[0].membership_number"), "{e}");
    }

    #[test]
    fn an_h5_card_needs_the_public_url_and_a_long_session_secret() {
        let card = "[[cards]]\ncard_id = \"pH5\"\nactivation = \"h5\"\nbind_by = \"phone\"\n";
        let e = with(card).unwrap().validate().unwrap_err().to_string();
        assert!(e.contains("web.public_url") && e.contains("pH5"), "{e}");
        let short = format!(
            "{card}[web]\npublic_url = \"https://h.example.com\"\nsession_secret = \"short\"\n"
        );
        let e = with(&short).unwrap().validate().unwrap_err().to_string();
        assert!(e.contains("web.session_secret") && e.contains("32"), "{e}");
        assert!(!e.contains("short\""), "the secret is not echoed: {e}");
        let good = format!(
            "{card}[web]\npublic_url = \"https://h.example.com\"\nsession_secret = \"{}\"\n\
             [sms]\nprovider = \"webhook\"\nurl = \"https://gw.example\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n",
            "s".repeat(32)
        );
        with(&good).unwrap().validate().unwrap();
        let bad_url = good.replace("https://h.example.com", "h.example.com");
        let e = with(&bad_url).unwrap().validate().unwrap_err().to_string();
        assert!(e.contains("web.public_url"), "{e}");
    }

    #[test]
    fn an_h5_card_needs_an_sms_sender_that_is_fully_configured() {
        let web = format!(
            "[web]\npublic_url = \"https://h.example.com\"\nsession_secret = \"{}\"\n",
            "s".repeat(32)
        );
        let card = "[[cards]]\ncard_id = \"pH5\"\nactivation = \"h5\"\nbind_by = \"phone\"\n";
        let e = with(&format!("{card}{web}"))
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(e.contains("sms.provider") && e.contains("pH5"), "{e}");
        let webhook = "[sms]\nprovider = \"webhook\"\nurl = \"https://gw.example/sms\"\n";
        let e = with(&format!("{card}{web}{webhook}secret = \"plain-text\"\n"))
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(e.contains("sms.secret") && !e.contains("plain-text"), "{e}");
        with(&format!(
            "{card}{web}{webhook}secret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n"
        ))
        .unwrap()
        .validate()
        .unwrap();
        let tencent = "[sms]\nprovider = \"tencent\"\nsecret_id = \"AKID\"\nsecret_key = \"k\"\nsdk_app_id = \"1400\"\nsign_name = \"s\"\n";
        let e = with(&format!("{card}{web}{tencent}"))
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(e.contains("sms.template_id"), "{e}");
        with(&format!("{card}{web}{tencent}template_id = \"1\"\n"))
            .unwrap()
            .validate()
            .unwrap();
    }

    #[test]
    fn trusted_proxies_must_be_addresses_or_cidrs() {
        let e = with("[server]\ntrusted_proxies = [\"10.0.0.0/8\", \"proxy.local\"]\n")
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("server.trusted_proxies") && e.contains("proxy.local"),
            "{e}"
        );
        with("[server]\ntrusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\", \"::1\"]\n")
            .unwrap()
            .validate()
            .unwrap();
    }

    #[test]
    fn bind_by_needs_a_way_to_ask_for_the_phone() {
        let e = with("[[cards]]\ncard_id = \"pH5\"\nactivation = \"h5\"\n")
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(e.contains("cards[0].bind_by"), "{e}");
        let e = with("[[cards]]\ncard_id = \"pG\"\nbind_by = \"phone\"\n")
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cards[0].bind_by") && e.contains("on_submit"),
            "{e}"
        );
        let one_click = "[[cards]]\ncard_id = \"pO\"\nactivation = \"on_submit\"\nbind_by = \"phone\"\nunknown_member = \"refuse\"\n";
        with(one_click).unwrap().validate().unwrap();
        assert!(with("[[cards]]\ncard_id = \"pX\"\nunknown_member = \"ask\"\n").is_err());
    }

    #[test]
    fn a_jump_card_needs_a_phone_to_bind_by_and_a_public_url() {
        let error = |toml: &str| with(toml).unwrap().validate().unwrap_err().to_string();
        let jump = "[[cards]]\ncard_id = \"pJ\"\nactivation = \"jump\"\n";
        assert!(error(jump).contains("cards[0].bind_by"));
        let jump = format!("{jump}bind_by = \"phone\"\n");
        let e = error(&jump);
        assert!(e.contains("web.public_url") && e.contains("jump"), "{e}");
        let served = format!("[web]\npublic_url = \"https://hooks.example.com\"\n{jump}");
        with(&served).unwrap().validate().unwrap();
    }

    #[test]
    fn a_short_admin_token_stops_start_up() {
        let e = with("[admin]\ntoken = \"short-token\"\n")
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(e.contains("admin.token") && e.contains("24"), "{e}");
        assert!(!e.contains("short-token"), "the token is not echoed: {e}");
        with(&format!("[admin]\ntoken = \"{}\"\n", "t".repeat(24)))
            .unwrap()
            .validate()
            .unwrap();
    }

    #[test]
    fn offsets() {
        assert_eq!(parse_offset("+08:00"), FixedOffset::east_opt(28800));
        assert_eq!(parse_offset("-05:30"), FixedOffset::east_opt(-19800));
        assert_eq!(parse_offset("Z"), FixedOffset::east_opt(0));
        for bad in ["8", "+8:00", "+24:00", "+08:60", "", "+08:00:00"] {
            assert_eq!(parse_offset(bad), None, "{bad}");
        }
    }
}
