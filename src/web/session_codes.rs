//! The card codes each H5 session has read from WeChat (`/card/code/decrypt` + `/card/code/get`),
//! kept for the session: a page load, an SMS request and a submit cost those two calls once per
//! card and code, and a session may look up only a few distinct codes at all. In memory, bounded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Distinct codes one session may have read from WeChat.
pub const LOOKUPS_PER_SESSION: u32 = 3;
/// Sessions remembered at once; the oldest go first.
const MAX_SESSIONS: usize = 20_000;

#[derive(Clone, Default)]
pub struct SessionCodes(Arc<Mutex<HashMap<String, Session>>>);

struct Session {
    expires: i64,
    lookups: u32,
    /// (card_id, encrypt_code) → the plaintext code, owned by the session's OpenID.
    codes: HashMap<(String, String), String>,
}

/// What a session may do about a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Read before: here it is.
    Known(String),
    /// Not read yet: one lookup is counted; read it from WeChat.
    Allowed,
    /// The session has read its share: start again.
    Exhausted,
}

impl SessionCodes {
    /// The code of `(card_id, encrypt_code)` for `session` (which lives until `expires`).
    pub fn lookup(
        &self,
        session: &str,
        expires: i64,
        card_id: &str,
        encrypt_code: &str,
        now: i64,
    ) -> Lookup {
        let Ok(mut sessions) = self.0.lock() else {
            return Lookup::Exhausted;
        };
        if !sessions.contains_key(session) && sessions.len() >= MAX_SESSIONS {
            sessions.retain(|_, s| s.expires >= now);
            if sessions.len() >= MAX_SESSIONS {
                let oldest = sessions
                    .iter()
                    .min_by_key(|(_, s)| s.expires)
                    .map(|(id, _)| id.clone());
                if let Some(oldest) = oldest {
                    sessions.remove(&oldest);
                }
            }
        }
        let entry = sessions
            .entry(session.to_owned())
            .or_insert_with(|| Session {
                expires,
                lookups: 0,
                codes: HashMap::new(),
            });
        if let Some(code) = entry
            .codes
            .get(&(card_id.to_owned(), encrypt_code.to_owned()))
        {
            return Lookup::Known(code.clone());
        }
        if entry.lookups >= LOOKUPS_PER_SESSION {
            return Lookup::Exhausted;
        }
        entry.lookups += 1;
        Lookup::Allowed
    }

    /// Remember what WeChat said the code is (only when it belongs to the session's OpenID).
    pub fn remember(&self, session: &str, card_id: &str, encrypt_code: &str, code: &str) {
        if let Ok(mut sessions) = self.0.lock() {
            if let Some(entry) = sessions.get_mut(session) {
                entry.codes.insert(
                    (card_id.to_owned(), encrypt_code.to_owned()),
                    code.to_owned(),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_read_once_and_a_session_reads_a_few() {
        let codes = SessionCodes::default();
        let now = 1_700_000_000;
        assert_eq!(
            codes.lookup("s1", now + 60, "p", "e1", now),
            Lookup::Allowed
        );
        codes.remember("s1", "p", "e1", "100");
        assert_eq!(
            codes.lookup("s1", now + 60, "p", "e1", now),
            Lookup::Known("100".into())
        );
        assert_eq!(
            codes.lookup("s1", now + 60, "p", "e2", now),
            Lookup::Allowed
        );
        assert_eq!(
            codes.lookup("s1", now + 60, "p", "e3", now),
            Lookup::Allowed
        );
        assert_eq!(
            codes.lookup("s1", now + 60, "p", "e4", now),
            Lookup::Exhausted
        );
        // Another session has its own share; a known code stays readable.
        assert_eq!(
            codes.lookup("s2", now + 60, "p", "e4", now),
            Lookup::Allowed
        );
        assert_eq!(
            codes.lookup("s1", now + 60, "p", "e1", now),
            Lookup::Known("100".into())
        );
    }
}
