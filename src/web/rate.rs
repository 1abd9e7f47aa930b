//! Requests per client address a minute, in memory (one instance's view): the JS-SDK routes and the
//! H5 page's sign-ins.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// At most `per_minute` requests per client address in each clock minute.
#[derive(Clone)]
pub struct RateLimiter {
    per_minute: u32,
    seen: Arc<Mutex<HashMap<IpAddr, (i64, u32)>>>,
}

impl RateLimiter {
    pub fn per_minute(per_minute: u32) -> Self {
        Self {
            per_minute,
            seen: Arc::default(),
        }
    }

    /// Whether `address` may make one more request at `now`.
    pub fn allow(&self, address: IpAddr, now: i64) -> bool {
        let minute = now / 60;
        let Ok(mut seen) = self.seen.lock() else {
            return false;
        };
        if seen.len() > 10_000 {
            seen.retain(|_, (at, _)| *at == minute);
        }
        let entry = seen.entry(address).or_insert((minute, 0));
        if entry.0 != minute {
            *entry = (minute, 0);
        }
        entry.1 += 1;
        entry.1 <= self.per_minute
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_has_its_own_minute() {
        let limiter = RateLimiter::per_minute(2);
        let (a, b) = (
            IpAddr::from([198, 51, 100, 1]),
            IpAddr::from([198, 51, 100, 2]),
        );
        let now = 1_700_000_040;
        assert!(limiter.allow(a, now) && limiter.allow(a, now));
        assert!(!limiter.allow(a, now));
        assert!(limiter.allow(b, now));
        assert!(limiter.allow(a, now + 60), "a new minute");
    }
}
