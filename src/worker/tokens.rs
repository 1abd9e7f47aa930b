//! The shared access_token: read from the database, refreshed ahead of expiry by exactly one
//! refresher holding a lease, re-read after taking it (reference §5).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use secrecy::{ExposeSecret, SecretString};

use crate::config::{AccountSettings, TokenEndpoint, WorkerSettings};
use crate::metrics::Metrics;
use crate::store::{self, StoreError};
use crate::wechat_api::{ApiCallError, WechatApi};

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

#[derive(Clone)]
pub struct TokenProvider {
    db: DatabaseConnection,
    api: WechatApi,
    owner: String,
    margin: i64,
    lease: i64,
    secrets: Arc<HashMap<String, (SecretString, TokenEndpoint)>>,
    metrics: Metrics,
    /// This process's copy of each token and its expiry: the database stays the shared source.
    cache: Arc<std::sync::Mutex<HashMap<String, (String, i64)>>>,
}

/// How long a caller waits for another refresher before giving up (retry later).
const WAIT_STEP: Duration = Duration::from_millis(25);
const WAIT_STEPS: u32 = 400;

impl TokenProvider {
    pub fn new(
        db: DatabaseConnection,
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

    /// A token valid for at least the refresh margin: from this process's cache, else the shared
    /// database, else fetched by the one refresher holding the lease.
    pub async fn get(&self, appid: &str, now: i64) -> Result<String, TokenError> {
        if let Some(token) = self.cached(appid, now) {
            return Ok(token);
        }
        let (token, expires_at) = self.shared(appid, now).await?;
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(appid.to_owned(), (token.clone(), expires_at));
        }
        Ok(token)
    }

    fn cached(&self, appid: &str, now: i64) -> Option<String> {
        let cache = self.cache.lock().ok()?;
        let (token, expires_at) = cache.get(appid)?;
        (*expires_at > now + self.margin).then(|| token.clone())
    }

    async fn shared(&self, appid: &str, now: i64) -> Result<(String, i64), TokenError> {
        let (secret, endpoint) = self
            .secrets
            .get(appid)
            .ok_or_else(|| TokenError::NoSecret(appid.to_owned()))?;
        for _ in 0..WAIT_STEPS {
            if let Some(valid) = store::tokens::valid(&self.db, appid, now + self.margin).await? {
                return Ok(valid);
            }
            if store::tokens::try_lease(&self.db, appid, &self.owner, now, self.lease).await? {
                // Someone may have refreshed between our read and our lease: read again first.
                if let Some(valid) =
                    store::tokens::valid(&self.db, appid, now + self.margin).await?
                {
                    store::tokens::release(&self.db, appid, &self.owner).await?;
                    return Ok(valid);
                }
                let fetched = match self
                    .api
                    .fetch_token(*endpoint, appid, secret.expose_secret())
                    .await
                {
                    Ok(fetched) => fetched,
                    Err(e) => {
                        store::tokens::release(&self.db, appid, &self.owner).await?;
                        return Err(e.into());
                    }
                };
                self.metrics.observe_token_refresh(appid);
                let expires_at = now + fetched.expires_in;
                store::tokens::store(
                    &self.db,
                    appid,
                    &self.owner,
                    &fetched.access_token,
                    expires_at,
                    now,
                )
                .await?;
                tracing::info!(
                    appid,
                    expires_in = fetched.expires_in,
                    "access_token refreshed"
                );
                return Ok((fetched.access_token, expires_at));
            }
            tokio::time::sleep(WAIT_STEP).await;
        }
        Err(TokenError::Busy)
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
