//! The shared WeChat credentials: each account's access_token and its two JS-SDK tickets (the card
//! `api_ticket` and the `jsapi_ticket`, reference §5.4). Read from the database, refreshed ahead of
//! expiry by exactly one refresher holding a lease, re-read after taking it (reference §5).
//!
//! All three live in the `access_token` table: the access_token under the AppID, a ticket under
//! `AppID/wx_card` or `AppID/jsapi` — the same lease, the same cache, never fetched per request.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::config::{AccountSettings, ConfigError, Settings, TokenEndpoint, WorkerSettings};
use crate::metrics::Metrics;
use crate::store::Db;
use crate::store::{self, StoreError};
use crate::wechat_api::ticket::TicketKind;
use crate::wechat_api::token::FetchedToken;
use crate::wechat_api::{ApiCallError, Retry, WechatApi};

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("account {0} has no app_secret configured")]
    NoSecret(String),
    #[error(transparent)]
    Api(#[from] ApiCallError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("another process is refreshing the token; try again later")]
    Busy,
}

impl TokenError {
    /// Whether the call surely changed nothing at WeChat: it was never made, or WeChat answered it
    /// with an errcode. (A timeout or a lost answer may have landed.)
    pub fn refused_by_wechat(&self) -> bool {
        match self {
            Self::NoSecret(_) | Self::Store(_) | Self::Busy => true,
            Self::Api(api) => matches!(api, ApiCallError::Api { .. }),
        }
    }
}

#[derive(Clone)]
pub struct TokenProvider {
    db: Db,
    api: WechatApi,
    owner: String,
    margin: i64,
    lease: i64,
    secrets: Arc<HashMap<String, (SecretString, TokenEndpoint)>>,
    metrics: Metrics,
    /// This process's copy of each token and its expiry: the database stays the shared source.
    cache: Arc<std::sync::Mutex<HashMap<String, (String, i64)>>>,
}

/// One cached credential: an account's access_token, or one of its tickets.
struct Credential<'a> {
    appid: &'a str,
    ticket: Option<TicketKind>,
}

impl<'a> Credential<'a> {
    fn token(appid: &'a str) -> Self {
        Self {
            appid,
            ticket: None,
        }
    }

    /// The row's key in the `access_token` table (and in this process's cache).
    fn stored_key(&self) -> String {
        match self.ticket {
            None => self.appid.to_owned(),
            Some(kind) => format!("{}/{}", self.appid, kind.as_str()),
        }
    }

    /// A bounded label: access_token, wx_card or jsapi.
    fn kind(&self) -> &'static str {
        self.ticket.map_or("access_token", TicketKind::as_str)
    }
}

/// How long a caller waits for another refresher before giving up (retry later).
const WAIT_STEP: Duration = Duration::from_millis(25);
const WAIT_STEPS: u32 = 400;

impl TokenProvider {
    /// The API client of `wechat.api_base` and a provider over it, as the settings say.
    pub fn from_settings(
        settings: &Settings,
        db: Db,
        metrics: Metrics,
    ) -> Result<Self, ConfigError> {
        let timeout = Duration::from_millis(settings.worker.api_timeout_ms);
        let api = WechatApi::new(&settings.wechat.api_base, timeout).map_err(|e| {
            ConfigError::Invalid {
                key: "wechat.api_base".to_owned(),
                reason: e.to_string(),
            }
        })?;
        Ok(Self::new(
            db,
            api,
            &settings.accounts,
            &settings.worker,
            metrics,
        ))
    }

    /// The API client the credentials are fetched with.
    pub fn api(&self) -> &WechatApi {
        &self.api
    }

    /// Whether `appid` has an AppSecret configured (without one, no credential can be fetched).
    pub fn has_secret(&self, appid: &str) -> bool {
        self.secrets.contains_key(appid)
    }

    /// The OpenID of the customer an OAuth2 `code` of `appid` was given to (reference 002). The web
    /// access_token that comes with it is not kept.
    pub async fn oauth_openid(&self, appid: &str, code: &str) -> Result<String, TokenError> {
        let (secret, _) = self
            .secrets
            .get(appid)
            .ok_or_else(|| TokenError::NoSecret(appid.to_owned()))?;
        Ok(self
            .api
            .oauth_openid(appid, secret.expose_secret(), code)
            .await?)
    }

    /// The one account with an AppSecret, when exactly one is configured.
    pub fn single_appid(&self) -> Option<&str> {
        let mut appids = self.secrets.keys();
        match (appids.next(), appids.next()) {
            (Some(only), None) => Some(only),
            _ => None,
        }
    }

    pub fn new(
        db: Db,
        api: WechatApi,
        accounts: &[AccountSettings],
        w: &WorkerSettings,
        metrics: Metrics,
    ) -> Self {
        use rand::Rng;
        let secrets = accounts
            .iter()
            .filter_map(|a| Some((a.appid.clone(), (a.app_secret.clone()?, a.token_endpoint))))
            .collect();
        Self {
            db,
            api,
            owner: format!("{:016x}", rand::thread_rng().gen::<u64>()),
            margin: i64::try_from(w.token_refresh_margin_secs).unwrap_or(300),
            lease: i64::try_from(w.token_lease_secs).unwrap_or(30),
            secrets: Arc::new(secrets),
            metrics,
            cache: Arc::default(),
        }
    }

    /// An access_token valid for at least the refresh margin: from this process's cache, else the
    /// shared database, else fetched by the one refresher holding the lease.
    pub async fn get(&self, appid: &str, now: i64) -> Result<String, TokenError> {
        let (secret, endpoint) = self
            .secrets
            .get(appid)
            .ok_or_else(|| TokenError::NoSecret(appid.to_owned()))?;
        let fetch = || async {
            Ok(self
                .api
                .fetch_token(*endpoint, appid, secret.expose_secret())
                .await?)
        };
        self.cached_or_shared(&Credential::token(appid), now, fetch)
            .await
    }

    /// A JS-SDK ticket, cached and shared like the access_token.
    pub async fn ticket(
        &self,
        appid: &str,
        kind: TicketKind,
        now: i64,
    ) -> Result<String, TokenError> {
        let credential = Credential {
            appid,
            ticket: Some(kind),
        };
        let api = &self.api;
        let fetch = || {
            self.with_token(appid, now, move |token| async move {
                api.fetch_ticket(&token, kind).await
            })
        };
        self.cached_or_shared(&credential, now, fetch).await
    }

    /// Call the API with the shared access_token; when WeChat refuses the token (40001, 40014,
    /// 42001), invalidate it, refresh, and call once more (reference §5.3).
    pub async fn with_token<T, F, Fut>(
        &self,
        appid: &str,
        now: i64,
        call: F,
    ) -> Result<T, TokenError>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<T, ApiCallError>>,
    {
        let token = self.get(appid, now).await?;
        match call(token.clone()).await {
            Err(e) if e.retry() == Retry::RefreshToken => {
                self.invalidate(appid, &token).await?;
                let fresh = self.get(appid, now).await?;
                Ok(call(fresh).await?)
            }
            other => Ok(other?),
        }
    }

    async fn cached_or_shared<F, Fut>(
        &self,
        credential: &Credential<'_>,
        now: i64,
        fetch: F,
    ) -> Result<String, TokenError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<FetchedToken, TokenError>>,
    {
        let key = credential.stored_key();
        if let Some(value) = self.cached(&key, now) {
            return Ok(value);
        }
        let (value, expires_at) = self.shared(credential, now, fetch).await?;
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(key, (value.clone(), expires_at));
        }
        Ok(value)
    }

    fn cached(&self, key: &str, now: i64) -> Option<String> {
        let cache = self.cache.lock().ok()?;
        let (value, expires_at) = cache.get(key)?;
        (*expires_at > now + self.margin).then(|| value.clone())
    }

    /// The shared value if it is valid; else wait for the lease, and fetch it as the one refresher.
    async fn shared<F, Fut>(
        &self,
        credential: &Credential<'_>,
        now: i64,
        fetch: F,
    ) -> Result<(String, i64), TokenError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<FetchedToken, TokenError>>,
    {
        let key = credential.stored_key();
        let key = key.as_str();
        let mut waited = 0;
        loop {
            if let Some(valid) = store::tokens::valid(&self.db, key, now + self.margin).await? {
                return Ok(valid);
            }
            if store::tokens::try_lease(&self.db, key, &self.owner, now, self.lease).await? {
                break;
            }
            waited += 1;
            if waited == WAIT_STEPS {
                return Err(TokenError::Busy);
            }
            tokio::time::sleep(WAIT_STEP).await;
        }
        // Someone may have refreshed between our read and our lease: read again first.
        if let Some(valid) = store::tokens::valid(&self.db, key, now + self.margin).await? {
            store::tokens::release(&self.db, key, &self.owner).await?;
            return Ok(valid);
        }
        let fetched = match fetch().await {
            Ok(fetched) => fetched,
            Err(e) => {
                store::tokens::release(&self.db, key, &self.owner).await?;
                return Err(e);
            }
        };
        self.metrics
            .observe_token_refresh(credential.appid, credential.kind());
        let expires_at = now + fetched.expires_in;
        store::tokens::store(&self.db, key, &self.owner, &fetched.value, expires_at, now).await?;
        tracing::info!(
            appid = credential.appid,
            credential = credential.kind(),
            expires_in = fetched.expires_in,
            "credential refreshed"
        );
        Ok((fetched.value, expires_at))
    }

    /// The API refused `used`: forget it here and in the database (only if it is still the one
    /// cached, so a token another worker already refreshed is kept).
    pub async fn invalidate(&self, appid: &str, used: &str) -> Result<(), TokenError> {
        if let Ok(mut cache) = self.cache.lock() {
            if cache.get(appid).is_some_and(|(token, _)| token == used) {
                cache.remove(appid);
            }
        }
        Ok(store::tokens::invalidate(&self.db, appid, used).await?)
    }
}
