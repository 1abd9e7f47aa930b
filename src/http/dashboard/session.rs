//! The dashboard's sign-in, pure: a session cookie and the forms' CSRF token, both HMAC-SHA256
//! under a key derived from `admin.token` (a new token ends every session; no other secret to
//! keep), and a bound on wrong tokens per client address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// How long a sign-in lasts.
pub const SESSION_SECS: i64 = 8 * 3600;
/// The cookie that carries the session.
pub const COOKIE: &str = "cardhook_dashboard";

/// Signs and checks sessions; cheap to clone.
#[derive(Clone)]
pub struct SessionStore {
    /// SHA-256 of the admin token (with this purpose), zero-padded to SHA-256's block.
    key: [u8; 64],
}

/// A signed-in browser: its session's random nonce (the CSRF token is derived from it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    nonce: String,
}

impl SessionStore {
    pub fn new(admin_token: &str) -> Self {
        let mut hash = Sha256::new();
        hash.update(b"cardhook dashboard sessions\0");
        hash.update(admin_token.as_bytes());
        let mut key = [0; 64];
        key[..32].copy_from_slice(&hash.finalize());
        Self { key }
    }

    fn mac(&self, purpose: &str, parts: &[&str]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new(&self.key.into());
        for part in std::iter::once(purpose).chain(parts.iter().copied()) {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        mac
    }

    /// A new session's cookie value: `expires.nonce.mac`, `nonce` 16 random bytes in hex.
    pub fn issue(&self, nonce: [u8; 16], now: i64) -> String {
        let expires = (now + SESSION_SECS).to_string();
        let nonce = hex::encode(nonce);
        let mac = hex::encode(
            self.mac("session", &[&expires, &nonce])
                .finalize()
                .into_bytes(),
        );
        format!("{expires}.{nonce}.{mac}")
    }

    /// The session a cookie value carries, if this key signed it and it has not expired.
    pub fn check(&self, cookie: &str, now: i64) -> Option<Session> {
        let mut parts = cookie.splitn(3, '.');
        let (expires, nonce, mac) = (parts.next()?, parts.next()?, parts.next()?);
        let mac = hex::decode(mac).ok()?;
        self.mac("session", &[expires, nonce])
            .verify_slice(&mac)
            .ok()?;
        (expires.parse::<i64>().ok()? > now).then(|| Session {
            nonce: nonce.to_owned(),
        })
    }

    /// The CSRF token of the session's forms.
    pub fn csrf(&self, session: &Session) -> String {
        hex::encode(self.mac("csrf", &[&session.nonce]).finalize().into_bytes())
    }

    /// Whether `token` is the session's CSRF token (compared in constant time).
    pub fn csrf_ok(&self, session: &Session, token: &str) -> bool {
        hex::decode(token).is_ok_and(|bytes| {
            self.mac("csrf", &[&session.nonce])
                .verify_slice(&bytes)
                .is_ok()
        })
    }
}

/// Wrong tokens allowed per client address in a window.
pub const WRONG_TOKENS: u32 = 10;
/// The window, in seconds.
pub const WRONG_TOKEN_WINDOW: i64 = 300;
/// Addresses remembered at most (the oldest windows are forgotten first).
const REMEMBERED: usize = 10_000;

/// Wrong sign-ins per client address: after [`WRONG_TOKENS`] in [`WRONG_TOKEN_WINDOW`] seconds the
/// address is refused until the window ends. An IPv6 client counts by its /64 (one host holds the
/// whole block); once [`REMEMBERED`] addresses are counted, every new one shares one count, so
/// many addresses buy no more tries. Cheap to clone (shared).
#[derive(Clone, Default)]
pub struct SignInThrottle {
    /// Address → (window start, wrong tokens in it).
    wrong: Arc<Mutex<HashMap<IpAddr, (i64, u32)>>>,
}

/// The count an address's wrong tokens go to.
fn key(client: IpAddr) -> IpAddr {
    match client {
        IpAddr::V4(_) => client,
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(prefix.into())
        }
    }
}

/// Where new addresses count once the map is full.
const SHARED: IpAddr = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);

impl SignInThrottle {
    /// Whether `client` may try a token now.
    pub fn allows(&self, client: IpAddr, now: i64) -> bool {
        let wrong = self.wrong.lock().unwrap_or_else(|e| e.into_inner());
        let open = |key: &IpAddr| {
            wrong
                .get(key)
                .is_none_or(|&(start, n)| now - start >= WRONG_TOKEN_WINDOW || n < WRONG_TOKENS)
        };
        let key = key(client);
        match wrong.contains_key(&key) || wrong.len() < REMEMBERED {
            true => open(&key),
            false => open(&SHARED),
        }
    }

    /// Count a wrong token from `client`.
    pub fn wrong(&self, client: IpAddr, now: i64) {
        let mut wrong = self.wrong.lock().unwrap_or_else(|e| e.into_inner());
        let mut key = key(client);
        if wrong.len() >= REMEMBERED && !wrong.contains_key(&key) {
            wrong.retain(|_, &mut (start, _)| now - start < WRONG_TOKEN_WINDOW);
            if wrong.len() >= REMEMBERED {
                key = SHARED;
            }
        }
        let entry = wrong.entry(key).or_insert((now, 0));
        if now - entry.0 >= WRONG_TOKEN_WINDOW {
            *entry = (now, 0);
        }
        entry.1 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_good_until_it_expires_and_only_under_its_token() {
        let sessions = SessionStore::new("admin-token-of-24-characters");
        let cookie = sessions.issue([7; 16], 1000);
        let session = sessions
            .check(&cookie, 1000 + SESSION_SECS - 1)
            .expect("fresh");
        assert_eq!(
            sessions.check(&cookie, 1000 + SESSION_SECS),
            None,
            "expired"
        );
        let other = SessionStore::new("another-token-of-24-chars!");
        assert_eq!(
            other.check(&cookie, 1000),
            None,
            "a new admin token ends it"
        );
        let (expires, rest) = cookie.split_once('.').unwrap();
        let later = format!("{}.{rest}", expires.parse::<i64>().unwrap() + 3600);
        assert_eq!(
            sessions.check(&later, 1000),
            None,
            "a longer life is forged"
        );
        for bad in ["", "1.2", "x.y.z", "99999999999.00.zz"] {
            assert_eq!(sessions.check(bad, 0), None, "{bad}");
        }
        let csrf = sessions.csrf(&session);
        assert!(sessions.csrf_ok(&session, &csrf));
        let other_session = sessions
            .check(&sessions.issue([8; 16], 1000), 1000)
            .unwrap();
        assert!(
            !sessions.csrf_ok(&other_session, &csrf),
            "another session's token"
        );
        assert!(!sessions.csrf_ok(&session, "") && !sessions.csrf_ok(&session, "zz"));
    }

    #[test]
    fn wrong_tokens_are_bounded_per_address_and_window() {
        let throttle = SignInThrottle::default();
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        for _ in 0..WRONG_TOKENS {
            assert!(throttle.allows(a, 100));
            throttle.wrong(a, 100);
        }
        assert!(!throttle.allows(a, 100 + WRONG_TOKEN_WINDOW - 1));
        assert!(throttle.allows(b, 100), "another address tries on");
        assert!(throttle.allows(a, 100 + WRONG_TOKEN_WINDOW), "a new window");
        // An IPv6 host counts by its /64.
        for i in 0..WRONG_TOKENS {
            throttle.wrong(format!("2001:db8::{i}").parse().unwrap(), 100);
        }
        assert!(!throttle.allows("2001:db8::ffff".parse().unwrap(), 100));
        assert!(throttle.allows("2001:db8:0:1::1".parse().unwrap(), 100));
    }

    #[test]
    fn many_addresses_buy_no_more_tries() {
        let throttle = SignInThrottle::default();
        for i in 1..=REMEMBERED as u32 {
            throttle.wrong(IpAddr::from(i.to_be_bytes()), 100);
        }
        let fresh = |i: u32| IpAddr::from((u32::MAX - i).to_be_bytes());
        for i in 0..WRONG_TOKENS {
            assert!(throttle.allows(fresh(i), 100));
            throttle.wrong(fresh(i), 100);
        }
        assert!(
            !throttle.allows(fresh(99), 100),
            "new addresses share one count once full"
        );
        assert!(throttle.allows(fresh(99), 100 + WRONG_TOKEN_WINDOW));
    }
}
