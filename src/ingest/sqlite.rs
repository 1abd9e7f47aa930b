//! The SQLite writer: one thread, one connection of its own, one transaction per batch.
//!
//! The connection is SQLite's stock one (default VFS) in WAL mode at `synchronous = FULL`: its
//! COMMIT returns only after SQLite has fsynced the WAL, and a batch's pushes are answered only
//! after that COMMIT returned. That fsync is the durability point; cardhook adds none of its own.
//! A commit becomes visible to the other connections (the worker's, the admin API's) only after
//! its fsync, so nothing acts on a row that is not on disk.
//!
//! The WAL, managed here and nowhere else. SQLite's automatic checkpoint would run inside COMMIT,
//! before a batch is answered, and stall every batch behind it: the writer turns it off on its own
//! connection. Instead a checkpointer thread with a connection of its own, at the lowest CPU
//! priority, runs a PASSIVE checkpoint (copy the WAL back into the database file, fsync that) after
//! commits, at most every [`CHECKPOINT_EVERY`]; it never blocks the writer. Under steady load the
//! writer keeps appending while it copies, so the WAL never comes to an end it could start over
//! from: once it holds [`RESTART_PAGES`] pages the writer runs one PASSIVE checkpoint itself between
//! batches (only the tail is left to copy), the next commit starts the WAL over, and
//! `journal_size_limit` truncates the file back to [`WAL_KEEP_BYTES`].

use std::cell::Cell;
use std::path::Path;
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{
    answer, batch_from, next_batch, one_by_one, Ingest, IngestConfig, IngestError, QueuedPush,
};
use crate::store::db::{Granting, TurnRequests};
use crate::store::push::{Incoming, Stored};
use crate::store::{self, sqlite_batch, DatabaseFile, StoreError};

/// The writer's thread, as `top -H` and profiles show it (the kernel keeps 15 bytes).
pub const WRITER_THREAD: &str = "cardhook-writer";

/// The writer starts the WAL over once it holds this many pages (4 KiB each): 256 MiB. A restart
/// costs the next batch the copy of the tail and an fsync of the database file, so it is kept rare.
pub const RESTART_PAGES: i32 = 64_000;

/// The checkpointer copies the WAL back at most this often.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(50);

/// The checkpointer's thread.
const CHECKPOINTER_THREAD: &str = "cardhook-checkpoint";

/// What `journal_size_limit` leaves of the WAL file when the WAL starts over.
const WAL_KEEP_BYTES: i64 = 320 * 1024 * 1024;

thread_local! {
    /// Pages in the WAL after the writer's last commit (SQLite's WAL hook, on the writer's thread).
    static WAL_PAGES: Cell<i32> = const { Cell::new(0) };
}

fn note_wal_pages(_: &rusqlite::hooks::Wal, pages: std::ffi::c_int) -> rusqlite::Result<()> {
    WAL_PAGES.with(|wal| wal.set(pages));
    Ok(())
}

/// Start the writer on the (migrated) database `file`; the handle finishes when it has stopped.
pub fn spawn(
    file: DatabaseFile,
    busy_timeout: Duration,
    config: IngestConfig,
    mut turns: TurnRequests,
) -> Result<(Ingest, JoinHandle<()>), StoreError> {
    let opened = |path| open(path, busy_timeout).map_err(|e| StoreError::Busy(e.to_string()));
    let conn = opened(file.path())?;
    let checkpointer = spawn_checkpointer(opened(file.path())?, config.clone())?;
    let (ingest, mut rx) = Ingest::with_queue(&config);
    let runtime = tokio::runtime::Handle::current();
    let (stopped, on_stop) = tokio::sync::oneshot::channel();
    let mut writer = Writer {
        conn,
        file,
        config,
        checkpointer,
    };
    std::thread::Builder::new()
        .name(WRITER_THREAD.into())
        .spawn(move || {
            let max = writer.config.batch_max;
            // A write of the rest of serve may hold the writer's turn for half the storage
            // timeout, so pushes waiting meanwhile are still answered in time.
            let turn_limit = writer.config.timeout / 2;
            let mut after_turn = false;
            // Between batches the writer hands its turn to a write of the rest of serve that asked
            // for it (`store::db`), and writes nothing until it comes back.
            while let Some(work) = runtime.block_on(next_work(&mut rx, &mut turns, max, after_turn))
            {
                after_turn = matches!(work, Work::Turn(_));
                let batch = match work {
                    Work::Pushes(batch) => batch,
                    Work::Turn(turn) => {
                        if !runtime.block_on(turn.grant(turn_limit)) {
                            tracing::warn!(
                                limit_ms = turn_limit.as_millis() as u64,
                                "a write held the writer's turn past its limit; the writer goes on"
                            );
                        }
                        continue;
                    }
                };
                let started = Instant::now();
                let pushes: Vec<&Incoming> = batch.iter().map(|queued| &queued.push).collect();
                let whole = writer.store(&pushes);
                let results = if one_by_one(&whole, pushes.len()) {
                    pushes
                        .iter()
                        .map(|push| writer.store(std::slice::from_ref(push)))
                        .collect()
                } else {
                    vec![whole]
                };
                drop(pushes);
                answer(batch, results, started, &writer.config);
                writer.checkpoint_if_due();
            }
            let _ = stopped.send(());
        })?;
    let handle = tokio::spawn(async move {
        // An error means the thread panicked: it has stopped all the same.
        let _ = on_stop.await;
    });
    Ok((ingest, handle))
}

/// What the writer does next: store a batch of pushes, or hand its turn to another write.
enum Work {
    Pushes(Vec<QueuedPush>),
    Turn(Granting),
}

/// The next work. Turns and batches alternate while both wait: a write waits at most one batch for
/// its turn, and right after a turn the pushes already waiting go first, so writes that keep
/// asking cannot hold pushes back. None once no push can come any more.
async fn next_work(
    rx: &mut mpsc::Receiver<QueuedPush>,
    turns: &mut TurnRequests,
    max: usize,
    after_turn: bool,
) -> Option<Work> {
    if after_turn {
        if let Ok(first) = rx.try_recv() {
            return Some(Work::Pushes(batch_from(first, rx, max)));
        }
    }
    tokio::select! {
        biased;
        Some(turn) = turns.next() => Some(Work::Turn(turn)),
        batch = next_batch(rx, max) => batch.map(Work::Pushes),
    }
}

/// The writer's connection: stock SQLite, WAL, `synchronous = FULL`, no automatic checkpoint.
pub fn open(path: &Path, busy_timeout: Duration) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(busy_timeout)?;
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
         PRAGMA temp_store = MEMORY; PRAGMA journal_size_limit = {WAL_KEEP_BYTES}; PRAGMA cache_size = -16384;"
    ))?;
    // The hook takes the place of SQLite's automatic checkpoint (they share one slot).
    conn.wal_hook(Some(note_wal_pages));
    Ok(conn)
}

struct Writer {
    conn: Connection,
    file: DatabaseFile,
    config: IngestConfig,
    /// Nudges the checkpointer after a commit; it stops when this is dropped.
    checkpointer: SyncSender<()>,
}

impl Writer {
    /// Store `pushes` in one transaction; committed (and so on disk) when this returns Ok.
    fn store(&mut self, pushes: &[&Incoming]) -> Result<Stored, IngestError> {
        let health = &self.config.health;
        if health.halted() {
            return Err(IngestError::Halted(health.failure().unwrap_or_default()));
        }
        if let Err(reason) = self.file.check() {
            // Open connections would write on into the unlinked file and lose everything at the
            // next start: refuse (503, WeChat retries) until an operator restores it and restarts.
            tracing::error!(reason = %reason, "refusing to store pushes");
            return Err(StoreError::Busy(reason).into());
        }
        self.transaction(pushes).map_err(|e| self.classify(e))
    }

    fn transaction(&mut self, pushes: &[&Incoming]) -> rusqlite::Result<Stored> {
        let (offset, jobs) = (self.config.offset, Arc::clone(&self.config.jobs));
        let txn = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let stored = sqlite_batch::record_batch(&txn, pushes, offset, jobs.as_ref())?;
        let committing = Instant::now();
        // Writes the batch's WAL frames and fsyncs the WAL; an error rolls back on drop.
        txn.commit()?;
        self.config
            .metrics
            .observe_wal_sync(committing.elapsed().as_secs_f64());
        Ok(stored)
    }

    /// An I/O error halts the writer (module doc of `ingest`); anything else is a 503 to retry.
    fn classify(&self, e: rusqlite::Error) -> IngestError {
        let reason = e.to_string();
        if is_io_failure(&e) {
            self.config.health.halt(&reason);
            return IngestError::Halted(reason);
        }
        StoreError::Busy(reason).into()
    }

    /// Between batches: nudge the checkpointer, and start the WAL over once it is long (module doc).
    fn checkpoint_if_due(&mut self) {
        let pages = WAL_PAGES.with(Cell::get);
        // Full: a nudge is already waiting.
        let _ = self.checkpointer.try_send(());
        if pages < RESTART_PAGES || self.config.health.halted() {
            self.config.metrics.observe_wal(i64::from(pages), None);
            return;
        }
        let started = Instant::now();
        if let Some(left) = checkpoint(&self.conn, &self.config) {
            let took = started.elapsed().as_secs_f64();
            self.config.metrics.observe_wal(left, Some(took));
        }
    }
}

/// A PASSIVE checkpoint on `conn`: the WAL pages it did not copy back (none when it ran to the end).
fn checkpoint(conn: &Connection, config: &IngestConfig) -> Option<i64> {
    let checkpoint = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
    });
    match checkpoint {
        Ok((log, copied)) => Some((log - copied).max(0)),
        Err(e) if is_io_failure(&e) => {
            config.health.halt(&e.to_string());
            None
        }
        Err(e) => {
            tracing::warn!(error.message = %e, "WAL checkpoint failed");
            None
        }
    }
}

/// The checkpointer thread (module doc): a PASSIVE checkpoint on `conn` after each nudge, at most
/// every [`CHECKPOINT_EVERY`], at the lowest CPU priority; it stops when the writer is gone.
fn spawn_checkpointer(
    conn: Connection,
    config: IngestConfig,
) -> Result<SyncSender<()>, StoreError> {
    let (nudge, nudged) = std::sync::mpsc::sync_channel::<()>(1);
    std::thread::Builder::new()
        .name(CHECKPOINTER_THREAD.into())
        .spawn(move || {
            lower_priority();
            while nudged.recv().is_ok() {
                if config.health.halted() {
                    return;
                }
                checkpoint(&conn, &config);
                std::thread::sleep(CHECKPOINT_EVERY);
            }
        })?;
    Ok(nudge)
}

/// Copying WAL pages back is never urgent (the WAL holds them): the checkpointer takes only CPU the
/// writer and the HTTP workers leave (nice 19 — on Linux a thread's own).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        let me = rustix::thread::gettid();
        if let Err(e) = rustix::process::setpriority_process(Some(me), 19) {
            tracing::debug!(error.message = %e, "could not lower the checkpointer's priority");
        }
    }
}

/// Whether `e` means the disk did not take what SQLite wrote (or gave back garbage): SQLITE_IOERR
/// (a failed write, fsync, truncate …), SQLITE_CORRUPT, SQLITE_NOTADB. A full disk is not one:
/// SQLite rolls the transaction back cleanly, and the retry succeeds once there is room.
pub fn is_io_failure(e: &rusqlite::Error) -> bool {
    e.sqlite_error()
        .is_some_and(|e| store::error::is_disk_failure(e.extended_code))
}
