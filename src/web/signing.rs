//! What the H5 pages sign with `web.session_secret` (HMAC-SHA256), pure: the OAuth2 `state`, the
//! session cookie that carries the customer's OpenID, the forms' CSRF token, and the keyed hashes
//! of a phone and of an SMS code. Each names its purpose and its account inside the MAC, so no
//! value can stand in for another.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// How long an OAuth2 round trip may take (WeChat's own `code` lives 5 minutes, reference 002).
pub const STATE_SECS: i64 = 300;
/// How long a session lasts after the customer's OpenID was learnt.
pub const SESSION_SECS: i64 = 1800;

#[derive(Clone)]
pub struct Signer {
    /// SHA-256 of the secret, zero-padded to SHA-256's block (HMAC pads any key so).
    key: [u8; 64],
}

/// Why a signed value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Malformed,
    Forged,
    Expired,
}

impl Signer {
    pub fn new(secret: &str) -> Self {
        let mut key = [0; 64];
        key[..32].copy_from_slice(&Sha256::digest(secret.as_bytes()));
        Self { key }
    }

    /// The MAC of `parts`, each length-prefixed so that no two lists read the same.
    fn mac(&self, parts: &[&str]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new(&self.key.into());
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        mac
    }

    fn sign(&self, parts: &[&str]) -> String {
        hex::encode(self.mac(parts).finalize().into_bytes())
    }

    fn verify(&self, parts: &[&str], signature: &str) -> bool {
        hex::decode(signature).is_ok_and(|bytes| self.mac(parts).verify_slice(&bytes).is_ok())
    }

    /// The OAuth2 `state` of a round trip that returns to `return_to`, started in the browser
    /// holding the cookie nonce `browser` (the state is good for that browser only): `a-zA-Z0-9`
    /// only, ≤ 128 bytes, as WeChat requires (reference 002). `state_id` makes it single use
    /// (`store::oauth`).
    pub fn state(
        &self,
        appid: &str,
        return_to: &str,
        browser: &str,
        now: i64,
        state_id: u64,
    ) -> String {
        let (expires, id) = (
            format!("{:x}", now + STATE_SECS),
            format!("{state_id:016x}"),
        );
        let mac = self.sign(&["state", appid, return_to, browser, &expires, &id]);
        format!("{expires}x{id}x{mac}")
    }

    /// The state's id and expiry, when it is this account's, for `return_to`, from `browser`, and
    /// not expired.
    pub fn check_state(
        &self,
        state: &str,
        appid: &str,
        return_to: &str,
        browser: &str,
        now: i64,
    ) -> Result<(String, i64), Refused> {
        let mut parts = state.split('x');
        let (Some(expires), Some(id), Some(mac), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Refused::Malformed);
        };
        let deadline = i64::from_str_radix(expires, 16).map_err(|_| Refused::Malformed)?;
        if !self.verify(&["state", appid, return_to, browser, expires, id], mac) {
            return Err(Refused::Forged);
        }
        if now > deadline {
            return Err(Refused::Expired);
        }
        Ok((id.to_owned(), deadline))
    }

    /// The session cookie's value: the customer's OpenID for `appid` and the session's id, until
    /// it expires.
    pub fn session(&self, appid: &str, openid: &str, session_id: &str, now: i64) -> String {
        let expires = (now + SESSION_SECS).to_string();
        let openid = URL_SAFE_NO_PAD.encode(openid);
        let mac = self.sign(&["session", appid, &openid, session_id, &expires]);
        format!("{openid}.{session_id}.{expires}.{mac}")
    }

    /// The OpenID, the session id and the end of a valid session cookie of `appid`.
    pub fn check_session(
        &self,
        cookie: &str,
        appid: &str,
        now: i64,
    ) -> Result<(String, String, i64), Refused> {
        let mut parts = cookie.split('.');
        let (Some(openid), Some(session_id), Some(expires), Some(mac), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(Refused::Malformed);
        };
        if !self.verify(&["session", appid, openid, session_id, expires], mac) {
            return Err(Refused::Forged);
        }
        let deadline: i64 = expires.parse().map_err(|_| Refused::Malformed)?;
        if now > deadline {
            return Err(Refused::Expired);
        }
        let openid = URL_SAFE_NO_PAD
            .decode(openid)
            .map_err(|_| Refused::Malformed)?;
        let openid = String::from_utf8(openid).map_err(|_| Refused::Malformed)?;
        Ok((openid, session_id.to_owned(), deadline))
    }

    /// A phone as `sms_code` and `sms_send` keep it: a keyed hash, never the number.
    pub fn phone_key(&self, appid: &str, phone: &str) -> String {
        self.sign(&["phone", appid, phone])
    }

    /// An SMS code as `sms_code` keeps it: keyed (six digits are no secret against a plain hash),
    /// bound to its account and phone.
    pub fn code_hash(&self, appid: &str, phone: &str, code: &str) -> String {
        self.sign(&["sms-code", appid, phone, code])
    }

    /// A form's CSRF token: good for `openid`'s session of `appid` only.
    pub fn csrf(&self, appid: &str, openid: &str, now: i64) -> String {
        let expires = (now + SESSION_SECS).to_string();
        let mac = self.sign(&["csrf", appid, openid, &expires]);
        format!("{expires}.{mac}")
    }

    pub fn check_csrf(&self, token: &str, appid: &str, openid: &str, now: i64) -> bool {
        let Some((expires, mac)) = token.split_once('.') else {
            return false;
        };
        let fresh = expires.parse::<i64>().is_ok_and(|deadline| now <= deadline);
        fresh && self.verify(&["csrf", appid, openid, expires], mac)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn signer() -> Signer {
        Signer::new("a-session-secret-of-32-characters!")
    }

    #[test]
    fn a_state_is_short_alphanumeric_and_bound_to_its_return_and_browser() {
        let s = signer();
        let back = "/h5/wxA/activate?card_id=c&encrypt_code=e";
        let state = s.state("wxA", back, "n0nce", NOW, 7);
        assert!(state.len() <= 128 && state.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(
            s.check_state(&state, "wxA", back, "n0nce", NOW + 10),
            Ok(("0000000000000007".to_owned(), NOW + STATE_SECS))
        );
        for (appid, back_to, browser) in [
            ("wxA", "/h5/wxA/activate?card_id=other", "n0nce"),
            ("wxB", back, "n0nce"),
            // Another browser (login CSRF): the state is not its own.
            ("wxA", back, "other-nonce"),
            ("wxA", back, ""),
        ] {
            assert_eq!(
                s.check_state(&state, appid, back_to, browser, NOW),
                Err(Refused::Forged),
                "{appid} {back_to} {browser}"
            );
        }
        assert_eq!(
            s.check_state(&state, "wxA", back, "n0nce", NOW + STATE_SECS + 1),
            Err(Refused::Expired)
        );
        let other = Signer::new("another-secret-of-32-characters!!!");
        assert_eq!(
            other.check_state(&state, "wxA", back, "n0nce", NOW),
            Err(Refused::Forged)
        );
        let tampered = state.replacen('1', "2", 1);
        assert!(s.check_state(&tampered, "wxA", back, "n0nce", NOW).is_err());
        assert_eq!(
            s.check_state("nope", "wxA", back, "n0nce", NOW),
            Err(Refused::Malformed)
        );
    }

    #[test]
    fn phones_and_codes_are_keyed_per_account() {
        let s = signer();
        assert_eq!(
            s.phone_key("wxA", "13800000000"),
            s.phone_key("wxA", "13800000000")
        );
        assert_ne!(
            s.phone_key("wxA", "13800000000"),
            s.phone_key("wxB", "13800000000")
        );
        assert!(!s.phone_key("wxA", "13800000000").contains("13800000000"));
        assert_ne!(
            s.code_hash("wxA", "13800000000", "123456"),
            s.code_hash("wxA", "13800000001", "123456")
        );
        let other = Signer::new("another-secret-of-32-characters!!!");
        assert_ne!(
            s.code_hash("wxA", "13800000000", "123456"),
            other.code_hash("wxA", "13800000000", "123456")
        );
    }

    #[test]
    fn a_session_carries_the_openid_of_its_account_until_it_expires() {
        let s = signer();
        let cookie = s.session("wxA", "oOPEN-id_1", "s1d", NOW);
        assert_eq!(
            s.check_session(&cookie, "wxA", NOW + 5),
            Ok((
                "oOPEN-id_1".to_owned(),
                "s1d".to_owned(),
                NOW + SESSION_SECS
            ))
        );
        assert_eq!(s.check_session(&cookie, "wxB", NOW), Err(Refused::Forged));
        assert_eq!(
            s.check_session(&cookie, "wxA", NOW + SESSION_SECS + 1),
            Err(Refused::Expired)
        );
        // Another OpenID cannot be swapped in.
        let (_, rest) = cookie.split_once('.').unwrap();
        let swapped = format!("{}.{rest}", URL_SAFE_NO_PAD.encode("oOTHER"));
        assert_eq!(s.check_session(&swapped, "wxA", NOW), Err(Refused::Forged));
        // A state or a CSRF token is not a session.
        assert!(s
            .check_session(&s.csrf("wxA", "o", NOW), "wxA", NOW)
            .is_err());
    }

    #[test]
    fn a_csrf_token_is_good_for_its_session_only() {
        let s = signer();
        let token = s.csrf("wxA", "o1", NOW);
        assert!(s.check_csrf(&token, "wxA", "o1", NOW));
        assert!(!s.check_csrf(&token, "wxA", "o2", NOW));
        assert!(!s.check_csrf(&token, "wxB", "o1", NOW));
        assert!(!s.check_csrf(&token, "wxA", "o1", NOW + SESSION_SECS + 1));
        assert!(!s.check_csrf("", "wxA", "o1", NOW));
    }
}
