//! Whether storage can be trusted: why the last commit failed, and whether a failure stopped
//! cardhook for good (fail-stop, `ingest` module doc).
//!
//! A commit that failed for want of room or a lock is retried (the push gets 503, WeChat sends it
//! again). One that failed on the disk itself — a failed write or fsync, a corrupt page — is not:
//! after a failed fsync the kernel may have dropped the pages it could not write, so nothing read
//! back from the page cache proves anything. The ingest writer, the worker and readiness share one
//! [`StorageHealth`]; the first disk failure halts it, and the app exits non-zero so that its
//! supervisor restarts it on what is really on disk.

use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use crate::store::StoreError;

/// Why the last commit failed (readiness shows it until a commit succeeds), and whether a failure
/// halted cardhook for good.
#[derive(Clone)]
pub struct StorageHealth {
    last_failure: Arc<Mutex<Option<String>>>,
    halt: CancellationToken,
}

impl StorageHealth {
    /// `halt` is cancelled when a failure stops the writers for good.
    pub fn new(halt: CancellationToken) -> Self {
        Self {
            last_failure: Arc::default(),
            halt,
        }
    }

    /// The reason the last commit failed, if it did.
    pub fn failure(&self) -> Option<String> {
        self.last_failure.lock().ok().and_then(|last| last.clone())
    }

    /// Whether a failure stopped the writers for good.
    pub fn halted(&self) -> bool {
        self.halt.is_cancelled()
    }

    pub(crate) fn record(&self, failure: Option<String>) {
        if let Ok(mut last) = self.last_failure.lock() {
            // A halt is never cleared.
            if !self.halted() {
                *last = failure;
            }
        }
    }

    /// Halt when `error` is a disk failure (see the module doc); other errors are left to retry.
    pub fn note(&self, error: &StoreError) {
        if let StoreError::Disk(reason) = error {
            self.halt(reason);
        }
    }

    /// Stop acknowledging anything, for good, and tell the app to exit (one log line says why).
    pub fn halt(&self, reason: &str) {
        self.record(Some(reason.to_owned()));
        if !self.halted() {
            tracing::error!(
                reason,
                "storage failed: no push is acknowledged from now on; cardhook exits so that its supervisor restarts it"
            );
        }
        self.halt.cancel();
    }
}
