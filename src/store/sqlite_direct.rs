//! The ingest writer's own SQLite connection (rusqlite), used through sea-orm's `ConnectionTrait`
//! so the writer runs the very same store code as on PostgreSQL (`events::record_batch`).
//!
//! Why: sqlx runs every SQLite statement on a worker thread of its own and hands each statement
//! and its answer across threads; a batch of the group-commit writer costs about ten such round
//! trips, each a thread wake-up, and that — not SQLite — was most of the writer's time
//! (docs/PERFORMANCE.md, "Where the time goes"). Here the writer's thread owns the connection: a
//! statement is a call, its prepared form stays cached, and nothing else ever waits on it.
//!
//! The connection opens its WAL through the `wal-coalesce` VFS (crate `wal-coalesce`): a commit's
//! frames reach the file in one write per ~30 frames instead of two writes per frame, which was a
//! third of the writer's time (docs/PERFORMANCE.md). Its commits write the WAL but do not fsync it.
//!
//! Two threads take the rest off the writer's path:
//! - the syncer makes commits durable: with `database.synchronous = "full"` a batch is answered
//!   only after an fsync of the WAL that began after its commit, and every batch committed since
//!   the last fsync shares the next one — FULL's guarantee, without the writer waiting on the disk;
//! - the checkpointer copies the WAL back into the database file after commits (PASSIVE: it never
//!   blocks the writer).
//!
//! The methods are `async` only because the trait is; each one finishes without yielding, so the
//! writer must run on a thread of its own (see `ingest::Ingest::spawn`).

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc::{Sender, SyncSender};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, ToSql};
use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, ExecResult, ProxyExecResult, ProxyRow, QueryResult,
    RuntimeErr, Statement, Value,
};

use super::StoreError;
use crate::config::{DatabaseSettings, SqliteSynchronous};

/// One SQLite connection, opened with the pragmas of the pool (`store::connect`).
pub struct DirectSqlite {
    // The trait wants `Sync`; only the writer's thread ever takes the lock, so it never waits.
    conn: Mutex<Connection>,
    /// Wakes the checkpointer after a commit; it stops when this is dropped.
    checkpoint: SyncSender<()>,
    /// Pages in the WAL at the checkpointer's last checkpoint.
    wal_pages: Arc<AtomicI64>,
    /// The syncer (`database.synchronous = "full"`); it stops when this is dropped.
    syncer: Option<Sender<AfterSync>>,
    /// Told how long each of the syncer's fsyncs took, once set (`observe_syncs`).
    sync_observer: Arc<OnceLock<SyncObserver>>,
}

/// Told the duration of each fsync of the WAL.
pub type SyncObserver = Box<dyn Fn(Duration) + Send + Sync>;

/// What to do once a commit is durable (or is known never to be).
pub type AfterSync = Box<dyn FnOnce(Result<(), String>) + Send>;

impl std::fmt::Debug for DirectSqlite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DirectSqlite")
    }
}

impl DirectSqlite {
    /// Open the (already migrated) database file at `path`, and start its syncer and checkpointer.
    pub fn open(path: &Path, settings: &DatabaseSettings) -> Result<Self, StoreError> {
        let db_err = |e| StoreError::Db(exec_err(e));
        let conn = connect_writer(path, settings).map_err(db_err)?;
        // SQLite's own checkpoint inside COMMIT only as a backstop: the checkpointer copies the WAL
        // back, and the WAL restarts between batches (`restart_wal_if_due`).
        conn.execute_batch(&format!(
            "PRAGMA wal_autocheckpoint = {WRITER_CHECKPOINT_PAGES};"
        ))
        .map_err(db_err)?;
        let wal_pages = Arc::new(AtomicI64::new(0));
        let sync_observer = Arc::new(OnceLock::new());
        let syncer = match settings.synchronous {
            SqliteSynchronous::Full => Some(spawn_syncer(wal_file(path)?, sync_observer.clone())?),
            SqliteSynchronous::Normal => None,
        };
        Ok(Self {
            conn: Mutex::new(conn),
            checkpoint: spawn_checkpointer(
                connect(path, settings).map_err(db_err)?,
                wal_pages.clone(),
            ),
            wal_pages,
            syncer,
            sync_observer,
        })
    }

    /// Tell `observe` how long each fsync of the WAL takes from now on (the first observer set
    /// stays).
    pub fn observe_syncs(&self, observe: SyncObserver) {
        let _ = self.sync_observer.set(observe);
    }

    /// Call `then` once everything committed so far is durable: at once with
    /// `database.synchronous = "normal"`, else after the syncer's next fsync of the WAL.
    pub fn after_durable(&self, then: AfterSync) {
        match &self.syncer {
            None => then(Ok(())),
            Some(syncer) => {
                if let Err(std::sync::mpsc::SendError(then)) = syncer.send(then) {
                    then(Err(
                        "the WAL sync thread has stopped; restart cardhook".into()
                    ));
                }
            }
        }
    }

    /// Begin a write transaction: IMMEDIATE, because a batch (or a claim) reads before it writes.
    pub fn begin_immediate(&self) -> Result<(), StoreError> {
        self.with_conn(|conn| {
            if !conn.is_autocommit() {
                // A transaction a failed COMMIT or ROLLBACK left open: nothing of it was answered.
                conn.execute_batch("ROLLBACK")?;
            }
            conn.execute_batch("BEGIN IMMEDIATE")
        })
        .map_err(StoreError::from)
    }

    /// Commit the transaction, or roll it back when `commit` is false or the commit fails.
    pub fn finish(&self, commit: bool) -> Result<(), StoreError> {
        self.with_conn(|conn| {
            let committed = if commit {
                conn.execute_batch("COMMIT")
            } else {
                Ok(())
            };
            if !conn.is_autocommit() {
                conn.execute_batch("ROLLBACK")?;
            }
            committed
        })
        .map_err(StoreError::from)?;
        if commit {
            // Full: a wake-up is already pending.
            let _ = self.checkpoint.try_send(());
        }
        Ok(())
    }

    /// Between batches, once the WAL has grown past `WAL_RESTART_PAGES`: checkpoint what the
    /// checkpointer has not copied yet, so the next transaction starts the WAL over. Run after a
    /// batch is handed to the syncer, this delays the next batch only, not the one just committed
    /// (SQLite's own automatic checkpoint runs inside COMMIT: it delayed both). True when it ran
    /// to the end.
    pub fn restart_wal_if_due(&self) -> bool {
        if !self.wal_restart_due() {
            return false;
        }
        match self.with_conn(passive_checkpoint) {
            // Done: every page is back in the database. (Busy: the checkpointer is at it; the
            // next batch tries again.)
            Ok((0, pages, copied)) if pages == copied => {
                self.wal_pages.store(0, Ordering::Relaxed);
                true
            }
            Ok(_) => false,
            Err(e) => {
                tracing::warn!(error.message = %e, "WAL checkpoint failed");
                false
            }
        }
    }

    /// Whether the WAL has grown past `WAL_RESTART_PAGES` (see `restart_wal_if_due`).
    pub fn wal_restart_due(&self) -> bool {
        self.wal_pages() >= WAL_RESTART_PAGES
    }

    /// The WAL's length in frames, as the checkpointer last saw it (0 right after a restart).
    pub fn wal_pages(&self) -> i64 {
        self.wal_pages.load(Ordering::Relaxed)
    }

    fn with_conn<T>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, DbErr> {
        let conn = self
            .conn
            .lock()
            .map_err(|_| DbErr::Conn(RuntimeErr::Internal("SQLite connection poisoned".into())))?;
        work(&conn).map_err(exec_err)
    }

    fn rows(&self, statement: &Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.with_conn(|conn| {
            let mut prepared = conn.prepare_cached(&statement.sql)?;
            let columns: Vec<(String, Affinity)> = prepared
                .columns()
                .iter()
                .map(|c| (c.name().to_owned(), Affinity::of(c.decl_type())))
                .collect();
            let mut rows = prepared.query(rusqlite::params_from_iter(bound(statement)))?;
            let mut results = Vec::new();
            while let Some(row) = rows.next()? {
                let mut values = BTreeMap::new();
                for (index, (name, affinity)) in columns.iter().enumerate() {
                    values.insert(name.clone(), affinity.value(name, row.get_ref(index)?)?);
                }
                results.push(QueryResult::from(ProxyRow::new(values)));
            }
            Ok(results)
        })
    }
}

/// The writer's connection: over the `wal-coalesce` VFS, which hands each commit's WAL frames to
/// the kernel in one write instead of two per frame (docs/PERFORMANCE.md), with the pragmas that
/// VFS needs. Its commits' syncs only write the frames out: the syncer makes them durable when the
/// settings ask for FULL, as with any other connection at NORMAL.
fn connect_writer(path: &Path, settings: &DatabaseSettings) -> rusqlite::Result<Connection> {
    let vfs = wal_coalesce::register().map_err(|code| {
        rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(code),
            Some("cannot register the wal-coalesce VFS".into()),
        )
    })?;
    let conn = open_with(path, settings, Some(vfs))?;
    conn.execute_batch(wal_coalesce::CONNECTION_PRAGMAS)?;
    Ok(conn)
}

/// The checkpointer's connection: the pool's pragmas (`store::connect`), at `synchronous =
/// NORMAL` (it commits nothing; in WAL mode its checkpoints still sync the WAL before copying and
/// the database file after).
fn connect(path: &Path, settings: &DatabaseSettings) -> rusqlite::Result<Connection> {
    open_with(path, settings, None)
}

/// Open `path` (over `vfs`, or the default VFS) with the pool's pragmas and room for every statement shape.
fn open_with(
    path: &Path,
    settings: &DatabaseSettings,
    vfs: Option<&std::ffi::CStr>,
) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = match vfs {
        Some(vfs) => Connection::open_with_flags_and_vfs(path, flags, vfs)?,
        None => Connection::open_with_flags(path, flags)?,
    };
    conn.busy_timeout(Duration::from_millis(settings.busy_timeout_ms))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
         PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;",
    )?;
    // Room for every multi-row statement shape (see `statement_chunks`).
    conn.set_prepared_statement_cache_capacity(512);
    Ok(conn)
}

/// The WAL restarts from its beginning once it has this many pages (256 MiB on disk; SQLite's
/// default is 1 000 pages), see `restart_wal_if_due`. A restart costs the next batch a few to
/// ~100 ms (the copy of what the checkpointer has not copied yet, and the database file's fsync,
/// which commits ext4's journal), so it should be rare: at 16 000 pages the full path's p99 was
/// 19–22 ms, at 64 000 11–12 ms (docs/PERFORMANCE.md). The price is disk space and a longer
/// recovery after a crash.
const WAL_RESTART_PAGES: i64 = 64_000;

/// SQLite's own checkpoint inside COMMIT, only should the checkpointer stop working.
const WRITER_CHECKPOINT_PAGES: u32 = 2 * WAL_RESTART_PAGES as u32;

/// `PRAGMA wal_checkpoint(PASSIVE)`: whether it was blocked, the WAL's frames, the frames copied.
fn passive_checkpoint(conn: &Connection) -> rusqlite::Result<(i64, i64, i64)> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
    })
}

/// The WAL's length in frames as a checkpoint found it; none when it was blocked (another
/// connection's checkpoint was running: SQLite then reports -1 frames).
fn wal_length(checkpoint: &rusqlite::Result<(i64, i64, i64)>) -> Option<i64> {
    match checkpoint {
        Ok((0, frames, _)) => Some(*frames),
        _ => None,
    }
}

/// The database's WAL file, to fsync. SQLite keeps it (the same inode) while any connection is
/// open; it may not exist before the first transaction, and SQLite opens an empty one as empty.
fn wal_file(path: &Path) -> std::io::Result<File> {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(wal)
}

/// The syncer thread: one fsync of the WAL for every commit handed over since the last one, then
/// each commit's `AfterSync`. After a failed fsync the kernel may have dropped the pages it could
/// not write, so no later fsync proves anything: from then on every commit is answered as failed
/// (503, WeChat retries) until a restart recovers from the WAL on disk.
fn spawn_syncer(
    wal: File,
    observer: Arc<OnceLock<SyncObserver>>,
) -> std::io::Result<Sender<AfterSync>> {
    let (hand_over, handed) = std::sync::mpsc::channel::<AfterSync>();
    let timed_sync = move || {
        let started = std::time::Instant::now();
        let synced = wal.sync_data();
        if let Some(observe) = observer.get() {
            observe(started.elapsed());
        }
        synced
    };
    std::thread::Builder::new()
        .name("cardhook-wal-sync".into())
        .spawn(move || sync_loop(&handed, timed_sync))?;
    Ok(hand_over)
}

fn sync_loop(
    handed: &std::sync::mpsc::Receiver<AfterSync>,
    sync: impl Fn() -> std::io::Result<()>,
) {
    let mut broken: Option<String> = None;
    while let Ok(first) = handed.recv() {
        let waiting: Vec<AfterSync> = std::iter::once(first).chain(handed.try_iter()).collect();
        if broken.is_none() {
            if let Err(e) = sync() {
                tracing::error!(error.message = %e, "fsync of the SQLite WAL failed; refusing pushes until a restart");
                broken = Some(format!(
                    "an fsync of the SQLite WAL failed ({e}); restart cardhook"
                ));
            }
        }
        for then in waiting {
            then(broken.clone().map_or(Ok(()), Err));
        }
    }
}

/// The checkpointer's nice value: the lowest. Copying WAL pages back is never urgent (the WAL
/// holds them), and at normal priority on 2 cores it took CPU from the writer and the HTTP
/// workers: at 19 the full path took 10–14% more pushes/s (docs/PERFORMANCE.md). What it leaves
/// under sustained load, the writer copies at the next WAL restart (`restart_wal_if_due`).
const CHECKPOINTER_NICE: i32 = 19;

/// Lower the calling thread's priority to `CHECKPOINTER_NICE`. Linux only: on Linux a nice value
/// belongs to a thread, elsewhere to the whole process.
#[cfg(target_os = "linux")]
fn yield_to_the_request_path() {
    let thread = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(thread), CHECKPOINTER_NICE) {
        tracing::info!(error.message = %e, "the checkpoint thread keeps the normal priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn yield_to_the_request_path() {}

/// At most one checkpoint per this interval: each one syncs the database file, and a page
/// dirtied again within it is copied once. At normal priority a longer interval meant longer
/// bursts of copying on the request path's CPU (10 ms was kept for the p99); at `CHECKPOINTER_NICE`
/// 50 ms took 7% more pushes/s than 10 ms with a lower p99 (docs/PERFORMANCE.md).
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(50);

/// A thread that copies committed WAL frames back into the database (a PASSIVE checkpoint: it
/// never blocks the writer) when woken after a commit, so the writer's checkpoint at a WAL
/// restart (`restart_wal_if_due`) finds little left to copy. It publishes the WAL's length for it.
fn spawn_checkpointer(conn: Connection, wal_pages: Arc<AtomicI64>) -> SyncSender<()> {
    let (wake, woken) = std::sync::mpsc::sync_channel::<()>(1);
    let run = move || {
        yield_to_the_request_path();
        let mut failing = false;
        while woken.recv().is_ok() {
            let checkpoint = passive_checkpoint(&conn);
            if let Some(pages) = wal_length(&checkpoint) {
                wal_pages.store(pages, Ordering::Relaxed);
            }
            match checkpoint.map(|_| ()) {
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!("WAL checkpoints succeed again");
                }
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error.message = %e, "WAL checkpoint failed; the writer checkpoints on its own");
                }
                _ => {}
            }
            std::thread::sleep(CHECKPOINT_INTERVAL);
        }
    };
    if let Err(e) = std::thread::Builder::new()
        .name("cardhook-checkpoint".into())
        .spawn(run)
    {
        tracing::warn!(error.message = %e, "no checkpoint thread; the writer checkpoints on its own");
    }
    wake
}

#[async_trait::async_trait]
impl ConnectionTrait for DirectSqlite {
    fn get_database_backend(&self) -> DbBackend {
        DbBackend::Sqlite
    }

    async fn execute_raw(&self, statement: Statement) -> Result<ExecResult, DbErr> {
        self.with_conn(|conn| {
            let mut prepared = conn.prepare_cached(&statement.sql)?;
            let affected = prepared.execute(rusqlite::params_from_iter(bound(&statement)))?;
            Ok(exec_result(conn, affected))
        })
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.with_conn(|conn| {
            conn.execute_batch(sql)?;
            Ok(exec_result(conn, conn.changes()))
        })
    }

    async fn query_one_raw(&self, statement: Statement) -> Result<Option<QueryResult>, DbErr> {
        Ok(self.rows(&statement)?.into_iter().next())
    }

    async fn query_all_raw(&self, statement: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.rows(&statement)
    }
}

fn exec_result(conn: &Connection, affected: impl TryInto<u64>) -> ExecResult {
    ExecResult::from(ProxyExecResult::new(
        u64::try_from(conn.last_insert_rowid()).unwrap_or(0),
        affected.try_into().unwrap_or(u64::MAX),
    ))
}

/// SQLite's message ("database is locked", "database or disk is full") is kept: `StoreError`
/// and readiness read it.
fn exec_err(e: rusqlite::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::Internal(e.to_string()))
}

/// A statement's values as rusqlite parameters.
fn bound(statement: &Statement) -> impl Iterator<Item = Bound<'_>> {
    statement
        .values
        .iter()
        .flat_map(|values| values.0.iter())
        .map(Bound)
}

struct Bound<'a>(&'a Value);

impl ToSql for Bound<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        use rusqlite::types::Value as Owned;
        let integer = |i: Option<i64>| ToSqlOutput::Owned(i.map_or(Owned::Null, Owned::Integer));
        Ok(match self.0 {
            Value::Bool(b) => integer(b.map(i64::from)),
            Value::TinyInt(i) => integer(i.map(i64::from)),
            Value::SmallInt(i) => integer(i.map(i64::from)),
            Value::Int(i) => integer(i.map(i64::from)),
            Value::BigInt(i) => integer(*i),
            Value::TinyUnsigned(i) => integer(i.map(i64::from)),
            Value::SmallUnsigned(i) => integer(i.map(i64::from)),
            Value::Unsigned(i) => integer(i.map(i64::from)),
            Value::BigUnsigned(Some(i)) => {
                integer(Some(i64::try_from(*i).map_err(|e| {
                    rusqlite::Error::ToSqlConversionFailure(Box::new(e))
                })?))
            }
            Value::Double(f) => ToSqlOutput::Owned(f.map_or(Owned::Null, Owned::Real)),
            Value::Float(f) => ToSqlOutput::Owned(f.map_or(Owned::Null, |f| Owned::Real(f.into()))),
            Value::String(Some(s)) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Bytes(Some(b)) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
            Value::BigUnsigned(None) | Value::String(None) | Value::Bytes(None) => {
                ToSqlOutput::Owned(Owned::Null)
            }
            other => {
                return Err(rusqlite::Error::ToSqlConversionFailure(
                    format!("a {other:?} value is not stored by cardhook").into(),
                ))
            }
        })
    }
}

/// How a column's value reads back, from its declared type (SQLite's affinity rules, §3.1 of
/// "Datatypes In SQLite"): sea-orm reads proxy rows by exact `Value` variant, so an `i64` field
/// needs `BigInt`, a `bool` field `Bool`. Every integer column the writer reads is an `i64`.
#[derive(Debug, Clone, Copy)]
enum Affinity {
    Bool,
    Integer,
    Real,
    Text,
    Blob,
    /// An expression: the value's own storage class decides.
    Undeclared,
}

impl Affinity {
    fn of(declared: Option<&str>) -> Self {
        let Some(declared) = declared.map(str::to_ascii_lowercase) else {
            return Self::Undeclared;
        };
        if declared.contains("bool") {
            Self::Bool
        } else if declared.contains("int") {
            Self::Integer
        } else if ["char", "clob", "text"]
            .iter()
            .any(|t| declared.contains(t))
        {
            Self::Text
        } else if declared.contains("blob") {
            Self::Blob
        } else {
            Self::Real
        }
    }

    fn value(self, column: &str, raw: ValueRef<'_>) -> rusqlite::Result<Value> {
        let text = |bytes: &[u8]| {
            String::from_utf8(bytes.to_vec())
                .map_err(|e| rusqlite::Error::Utf8Error(0, e.utf8_error()))
        };
        Ok(match (self, raw) {
            (Self::Bool, ValueRef::Null) => Value::Bool(None),
            (Self::Bool, ValueRef::Integer(i)) => Value::Bool(Some(i != 0)),
            (Self::Integer, ValueRef::Null) => Value::BigInt(None),
            (Self::Integer | Self::Undeclared, ValueRef::Integer(i)) => Value::BigInt(Some(i)),
            (Self::Real, ValueRef::Null) => Value::Double(None),
            (Self::Real | Self::Undeclared, ValueRef::Real(f)) => Value::Double(Some(f)),
            (Self::Text | Self::Undeclared, ValueRef::Null) => Value::String(None),
            (Self::Text | Self::Undeclared, ValueRef::Text(t)) => Value::String(Some(text(t)?)),
            (Self::Blob, ValueRef::Null) => Value::Bytes(None),
            (Self::Blob | Self::Undeclared, ValueRef::Blob(b)) => Value::Bytes(Some(b.to_vec())),
            (affinity, raw) => {
                return Err(rusqlite::Error::InvalidColumnType(
                    0,
                    format!("{column} ({affinity:?} column)"),
                    raw.data_type(),
                ))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    fn opened(dir: &tempfile::TempDir) -> DirectSqlite {
        let path = dir.path().join("direct.db");
        Connection::open(&path)
            .and_then(|c| {
                c.execute_batch(
                    "CREATE TABLE t (b boolean, i bigint, s varchar, r real, x blob, n integer)",
                )
            })
            .unwrap();
        DirectSqlite::open(&path, &Settings::defaults().unwrap().database).unwrap()
    }

    fn statement(sql: &str, values: Vec<Value>) -> Statement {
        Statement::from_sql_and_values(DbBackend::Sqlite, sql, values)
    }

    /// `.cargo/config.toml` builds the bundled SQLite without memory statistics.
    #[test]
    fn sqlite_is_built_without_memory_statistics() {
        let conn = Connection::open_in_memory().unwrap();
        let mut options = conn.prepare("PRAGMA compile_options").unwrap();
        let options: Vec<String> = options
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
            "{options:?}"
        );
    }

    #[tokio::test]
    async fn pragmas_and_the_syncer_follow_the_settings() {
        let dir = tempfile::tempdir().unwrap();
        let db = opened(&dir);
        let journal = db
            .query_one_raw(statement("PRAGMA journal_mode", vec![]))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(journal.try_get_by_index::<String>(0).unwrap(), "wal");
        // Over wal-coalesce: 2 = FULL, whose commit syncs only write the frames out (the syncer
        // fsyncs before any push is answered), real syncs at checkpoints, and no spilled frames.
        assert_eq!(scalar(&db, "PRAGMA synchronous").await, 2);
        assert_eq!(scalar(&db, "PRAGMA checkpoint_fullfsync").await, 1);
        assert_eq!(scalar(&db, "PRAGMA cache_spill").await, 0);
        assert!(db.syncer.is_some());
        assert_eq!(scalar(&db, "PRAGMA foreign_keys").await, 1);
        // 2 = MEMORY: a multi-row statement's journal does not spill to a file.
        assert_eq!(scalar(&db, "PRAGMA temp_store").await, 2);
        assert_eq!(scalar(&db, "PRAGMA busy_timeout").await, 5000);
        assert_eq!(
            scalar(&db, "PRAGMA wal_autocheckpoint").await,
            i64::from(WRITER_CHECKPOINT_PAGES)
        );
        let mut settings = Settings::defaults().unwrap().database;
        settings.synchronous = SqliteSynchronous::Normal;
        let normal = DirectSqlite::open(&dir.path().join("direct.db"), &settings).unwrap();
        // The VFS's pragmas whatever the setting: only the syncer follows it.
        assert_eq!(scalar(&normal, "PRAGMA synchronous").await, 2);
        assert_eq!(scalar(&normal, "PRAGMA cache_spill").await, 0);
        assert!(normal.syncer.is_none());
    }

    /// The first column of the one row `sql` answers.
    async fn scalar(db: &DirectSqlite, sql: &str) -> i64 {
        let row = db
            .query_one_raw(statement(sql, vec![]))
            .await
            .unwrap()
            .unwrap();
        row.try_get_by_index::<i64>(0).unwrap()
    }

    #[tokio::test]
    async fn the_checkpointer_copies_commits_back_into_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let db = opened(&dir);
        let file = dir.path().join("direct.db");
        let before = std::fs::metadata(&file).unwrap().len();
        db.begin_immediate().unwrap();
        db.execute_unprepared(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500) \
             INSERT INTO t (x) SELECT randomblob(1000) FROM n",
        )
        .await
        .unwrap();
        db.finish(true).unwrap();
        // The writer checkpoints only past WAL_RESTART_PAGES (and SQLite on its own past
        // WRITER_CHECKPOINT_PAGES); these ~130 pages reach the database file only through the
        // checkpointer.
        let grown = (0..500).any(|_| {
            std::thread::sleep(Duration::from_millis(10));
            std::fs::metadata(&file).unwrap().len() > before + 400_000
        });
        assert!(grown, "the database file stayed at {before} bytes");
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn the_checkpointer_runs_at_the_lowest_priority() {
        let dir = tempfile::tempdir().unwrap();
        let _db = opened(&dir);
        // Every checkpointer of this test process (tests run side by side) lowers its own priority
        // as it starts; find one that did.
        let niced = (0..500).any(|_| {
            std::thread::sleep(Duration::from_millis(10));
            checkpointer_nice_values().contains(&CHECKPOINTER_NICE)
        });
        assert!(niced, "nice values seen: {:?}", checkpointer_nice_values());
    }

    /// The nice value of each thread of this process named like the checkpointer.
    #[cfg(target_os = "linux")]
    fn checkpointer_nice_values() -> Vec<i32> {
        let tasks = std::fs::read_dir("/proc/self/task").unwrap();
        tasks
            .filter_map(|task| {
                let path = task.ok()?.path();
                let comm = std::fs::read_to_string(path.join("comm")).ok()?;
                // The kernel keeps 15 bytes of a thread's name.
                (comm.trim_end() == "cardhook-checkp").then_some(())?;
                let tid = path.file_name()?.to_str()?.parse().ok()?;
                rustix::process::getpriority_process(rustix::process::Pid::from_raw(tid)).ok()
            })
            .collect()
    }

    /// Run `sync_loop` over `commits` handed over before it starts; returns what each was told
    /// and how many fsyncs it made.
    fn sync_outcomes(commits: usize) -> (Vec<Result<(), String>>, usize) {
        let (hand_over, handed) = std::sync::mpsc::channel::<AfterSync>();
        let (told, outcomes) = std::sync::mpsc::channel();
        for _ in 0..commits {
            let told = told.clone();
            hand_over
                .send(Box::new(move |outcome| told.send(outcome).unwrap()))
                .unwrap();
        }
        drop(hand_over);
        let syncs = std::cell::Cell::new(0);
        sync_loop(&handed, || {
            syncs.set(syncs.get() + 1);
            Ok(())
        });
        drop(told);
        (outcomes.iter().collect(), syncs.get())
    }

    #[test]
    fn commits_waiting_together_share_one_fsync() {
        let (outcomes, syncs) = sync_outcomes(3);
        assert_eq!(outcomes, vec![Ok(()), Ok(()), Ok(())]);
        assert_eq!(syncs, 1);
    }

    #[test]
    fn after_a_failed_fsync_nothing_is_answered_as_durable() {
        let (hand_over, handed) = std::sync::mpsc::channel::<AfterSync>();
        let (told, outcomes) = std::sync::mpsc::channel();
        let syncs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = syncs.clone();
        let syncer = std::thread::spawn(move || {
            sync_loop(&handed, || {
                // The first fsync fails; a later one would "succeed" and prove nothing.
                match counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
                    0 => Err(std::io::Error::other("EIO")),
                    _ => Ok(()),
                }
            })
        });
        for _ in 0..2 {
            let told = told.clone();
            hand_over
                .send(Box::new(move |outcome| told.send(outcome).unwrap()))
                .unwrap();
            let outcome: Result<(), String> = outcomes.recv().unwrap();
            let why = outcome.unwrap_err();
            assert!(
                why.contains("fsync of the SQLite WAL failed (EIO)"),
                "{why}"
            );
        }
        drop(hand_over);
        syncer.join().unwrap();
        assert_eq!(syncs.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_long_wal_restarts_between_batches() {
        let dir = tempfile::tempdir().unwrap();
        let db = opened(&dir);
        db.begin_immediate().unwrap();
        db.execute_unprepared("INSERT INTO t (x) VALUES (randomblob(3000))")
            .await
            .unwrap();
        db.finish(true).unwrap();
        assert!(!db.restart_wal_if_due(), "a short WAL is left alone");
        // As if the checkpointer had last seen a long WAL; it may hold the checkpoint a moment.
        let restarted = (0..200).any(|_| {
            db.wal_pages.store(WAL_RESTART_PAGES, Ordering::Relaxed);
            db.restart_wal_if_due() || {
                std::thread::sleep(Duration::from_millis(10));
                false
            }
        });
        assert!(restarted);
    }

    #[test]
    fn a_blocked_checkpoint_tells_nothing_of_the_wals_length() {
        assert_eq!(wal_length(&Ok((0, 64_000, 60_000))), Some(64_000));
        // SQLITE_BUSY: another connection's checkpoint is running.
        assert_eq!(wal_length(&Ok((1, -1, -1))), None);
        assert_eq!(wal_length(&Err(rusqlite::Error::InvalidQuery)), None);
    }

    #[tokio::test]
    async fn values_read_back_as_the_variants_sea_orm_decodes() {
        let dir = tempfile::tempdir().unwrap();
        let db = opened(&dir);
        let insert = "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)";
        let full = vec![
            true.into(),
            7i64.into(),
            "é".into(),
            1.5f64.into(),
            vec![1u8, 2].into(),
            3i32.into(),
        ];
        let nulls = vec![
            Value::Bool(None),
            Value::BigInt(None),
            Value::String(None),
            Value::Double(None),
            Value::Bytes(None),
            Value::Int(None),
        ];
        for values in [full, nulls] {
            let done = db.execute_raw(statement(insert, values)).await.unwrap();
            assert_eq!(done.rows_affected(), 1);
        }
        let rows = db
            .query_all_raw(statement("SELECT *, count(*) OVER () AS c FROM t", vec![]))
            .await
            .unwrap();
        assert_eq!(rows.len(), 2);
        assert!(rows[0].try_get::<bool>("", "b").unwrap());
        assert_eq!(rows[0].try_get::<i64>("", "i").unwrap(), 7);
        assert_eq!(rows[0].try_get::<String>("", "s").unwrap(), "é");
        assert_eq!(rows[0].try_get::<f64>("", "r").unwrap(), 1.5);
        assert_eq!(rows[0].try_get::<Vec<u8>>("", "x").unwrap(), vec![1, 2]);
        assert_eq!(rows[0].try_get::<i64>("", "n").unwrap(), 3);
        assert_eq!(rows[0].try_get::<i64>("", "c").unwrap(), 2);
        assert_eq!(rows[1].try_get::<Option<bool>>("", "b").unwrap(), None);
        assert_eq!(rows[1].try_get::<Option<String>>("", "s").unwrap(), None);
        assert_eq!(rows[1].try_get::<Option<i64>>("", "n").unwrap(), None);
    }

    #[tokio::test]
    async fn a_failed_batch_rolls_back_and_the_next_one_begins_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let db = opened(&dir);
        let count = || scalar(&db, "SELECT count(*) FROM t");
        db.begin_immediate().unwrap();
        db.execute_unprepared("INSERT INTO t (i) VALUES (1)")
            .await
            .unwrap();
        db.finish(false).unwrap();
        assert_eq!(count().await, 0);
        // A transaction left open (as a failed COMMIT may leave it) is rolled back at the next begin.
        db.begin_immediate().unwrap();
        db.execute_unprepared("INSERT INTO t (i) VALUES (2)")
            .await
            .unwrap();
        db.begin_immediate().unwrap();
        db.execute_unprepared("INSERT INTO t (i) VALUES (3)")
            .await
            .unwrap();
        db.finish(true).unwrap();
        assert_eq!(count().await, 1);
    }

    #[tokio::test]
    async fn unsupported_values_and_bad_sql_are_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let db = opened(&dir);
        let json = Value::Json(Some(Box::new(serde_json::json!({"a": 1}))));
        let e = db
            .execute_raw(statement("INSERT INTO t (s) VALUES (?)", vec![json]))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("not stored by cardhook"), "{e}");
        let e = db
            .execute_unprepared("INSERT INTO missing VALUES (1)")
            .await
            .unwrap_err();
        assert!(e.to_string().contains("no such table: missing"), "{e}");
    }
}
