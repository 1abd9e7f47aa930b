//! The injectable clock: seconds since the epoch, real in production, fixed in tests.

use std::sync::Arc;

#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> i64 + Send + Sync>);

impl Clock {
    pub fn system() -> Self {
        Self(Arc::new(|| chrono::Utc::now().timestamp()))
    }

    pub fn fixed(now: i64) -> Self {
        Self(Arc::new(move || now))
    }

    pub fn now(&self) -> i64 {
        (self.0)()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clock({})", self.now())
    }
}
