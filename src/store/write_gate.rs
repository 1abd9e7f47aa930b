//! Turns at SQLite's one write lock for the writers of this process: the ingest writer and the
//! activation worker.
//!
//! Under load the ingest writer commits batch after batch, and the gaps between them are a few
//! microseconds. A worker transaction that meets the lock taken waits in SQLite's busy handler,
//! which sleeps 1, 2, 5, 10 … ms between tries and so rarely lands in a gap: activations slowed
//! to half their rate (docs/PERFORMANCE.md). Here whoever wants to write waits for its turn in
//! first-come order (tokio's mutex is fair), so a worker transaction goes right after the batch
//! being committed. PostgreSQL locks rows, not the database: no gate.

use std::sync::Arc;

use tokio::sync::{Mutex, MutexGuard};

#[derive(Clone, Default)]
pub struct WriteGate(Option<Arc<Mutex<()>>>);

impl WriteGate {
    /// A gate for SQLite; none for PostgreSQL.
    pub fn new(sqlite: bool) -> Self {
        Self(sqlite.then(Arc::default))
    }

    /// Wait for this writer's turn; the turn ends when the guard is dropped.
    pub async fn turn(&self) -> Option<MutexGuard<'_, ()>> {
        match &self.0 {
            Some(gate) => Some(gate.lock().await),
            None => None,
        }
    }
}
