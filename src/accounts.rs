//! The configured Official Accounts, ready for the request path: tokens and derived AES keys.

use std::collections::HashMap;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use crate::config::{AccountSettings, ConfigError};
use crate::wechat::crypto::AesKey;
use crate::wechat::ids::AppId;
use crate::wechat::seal::Sealer;
use crate::wechat::Mode;

/// One account's callback credentials. `Debug` shows no secret.
#[derive(Debug)]
pub struct Account {
    pub appid: AppId,
    pub mode: Mode,
    token: SecretString,
    aes_key: Option<AesKey>,
}

impl Account {
    pub fn token(&self) -> &str {
        self.token.expose_secret()
    }

    pub fn aes_key(&self) -> Option<&AesKey> {
        self.aes_key.as_ref()
    }

    /// The sender's side for this account (replay, bench, tests).
    pub fn sealer(&self) -> Sealer<'_> {
        Sealer {
            token: self.token(),
            appid: self.appid.as_str(),
            aes_key: self.aes_key(),
        }
    }
}

/// Every configured account, by AppID.
#[derive(Debug, Clone, Default)]
pub struct Accounts {
    by_appid: HashMap<String, Arc<Account>>,
}

impl Accounts {
    /// Build from settings, checking each account's secrets (`AccountSettings::checked`).
    pub fn from_settings(settings: &[AccountSettings]) -> Result<Self, ConfigError> {
        let mut by_appid = HashMap::new();
        for (i, s) in settings.iter().enumerate() {
            let (token, aes_key) = s.checked(i)?;
            let account = Account {
                appid: AppId(s.appid.clone()),
                mode: s.mode,
                token,
                aes_key,
            };
            by_appid.insert(s.appid.clone(), Arc::new(account));
        }
        Ok(Self { by_appid })
    }

    pub fn get(&self, appid: &str) -> Option<&Arc<Account>> {
        self.by_appid.get(appid)
    }

    /// The account `/wechat` (without AppID) serves: defined only when exactly one is configured.
    pub fn single(&self) -> Option<&Arc<Account>> {
        match self.by_appid.len() {
            1 => self.by_appid.values().next(),
            _ => None,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Account>> {
        self.by_appid.values()
    }

    pub fn appids(&self) -> impl Iterator<Item = &str> {
        self.by_appid.keys().map(String::as_str)
    }
}
