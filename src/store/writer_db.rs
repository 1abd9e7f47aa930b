//! Where this process writes: the ingest writer's batches and the activation worker's claims and
//! completions. On SQLite that is one connection (the writer's own, `sqlite_direct`, or the pool),
//! and every write transaction waits for its turn at SQLite's one write lock (`write_gate`).

use std::sync::Arc;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};
use tokio::sync::oneshot;

use super::events::{self, Incoming, RecordRules, Recorded};
use super::sqlite_direct::{AfterSync, DirectSqlite, SyncObserver};
use super::sqlite_file::SqliteFile;
use super::write_gate::WriteGate;
use super::StoreError;
use crate::config::{DatabaseSettings, SqliteWriter};

/// The SQLite WAL after the writer's look between batches.
#[derive(Debug, Clone, Copy)]
pub struct WalState {
    /// Frames in the WAL (0 right after a restart).
    pub pages: i64,
    /// Whether the writer just restarted it.
    pub restarted: bool,
}

/// Work done in one write transaction by `WriterDb::write`, on whichever connection it has.
pub trait InTransaction: Send {
    type Output: Send;
    fn run<C: ConnectionTrait>(
        self,
        db: &C,
    ) -> impl std::future::Future<Output = Result<Self::Output, StoreError>> + Send;
}

/// A group-commit batch.
struct RecordBatch<'a> {
    pushes: &'a [&'a Incoming],
    rules: &'a RecordRules,
}

impl InTransaction for RecordBatch<'_> {
    type Output = Vec<Recorded>;
    fn run<C: ConnectionTrait>(
        self,
        db: &C,
    ) -> impl std::future::Future<Output = Result<Vec<Recorded>, StoreError>> + Send {
        events::record_batch(db, self.pushes, self.rules)
    }
}

/// Where this process writes: the ingest writer's batches and the activation worker's claims
/// and completions, each in its turn at SQLite's one write lock (`WriteGate`).
#[derive(Clone)]
pub struct WriterDb {
    conn: WriterConn,
    gate: WriteGate,
}

#[derive(Clone)]
enum WriterConn {
    /// The pool: PostgreSQL, where several writers may share it, or SQLite with
    /// `database.sqlite_writer = "pool"`.
    Pool(DatabaseConnection),
    /// A SQLite connection of the writer's own (the default on SQLite).
    Direct(Arc<DirectSqlite>),
}

impl WriterDb {
    /// The writer's connection for `settings`: its own SQLite connection to `file` when the
    /// database is a SQLite file and `database.sqlite_writer = "thread"`, else `pool`.
    pub fn for_settings(
        pool: DatabaseConnection,
        settings: &DatabaseSettings,
        file: Option<&SqliteFile>,
    ) -> Result<Self, StoreError> {
        let gate = WriteGate::new(pool.get_database_backend() == DbBackend::Sqlite);
        let conn = match file {
            Some(file) if settings.sqlite_writer == SqliteWriter::Thread => {
                WriterConn::Direct(Arc::new(DirectSqlite::open(file.path(), settings)?))
            }
            _ => WriterConn::Pool(pool),
        };
        Ok(Self { conn, gate })
    }

    /// Whether this is the writer's own SQLite connection (its statements block the thread).
    pub fn is_direct(&self) -> bool {
        matches!(self.conn, WriterConn::Direct(_))
    }

    /// Store `pushes` in one transaction (see `events::record_batch`).
    pub async fn store(
        &self,
        pushes: &[&Incoming],
        rules: &RecordRules,
    ) -> Result<Vec<Recorded>, StoreError> {
        self.write(RecordBatch { pushes, rules }).await
    }

    /// Run `work` in one write transaction, in this process's turn at SQLite's write lock;
    /// committed, not yet durable (see `durable`).
    pub async fn write<W: InTransaction>(&self, work: W) -> Result<W::Output, StoreError> {
        let _turn = self.gate.turn().await;
        match &self.conn {
            WriterConn::Pool(db) => {
                // IMMEDIATE: the work may read before it writes, and a SQLite read transaction
                // that another connection wrote behind cannot become a write one.
                let txn = db
                    .begin_with_options(TransactionOptions {
                        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                        ..TransactionOptions::default()
                    })
                    .await?;
                let output = work.run(&txn).await?;
                txn.commit().await?;
                Ok(output)
            }
            WriterConn::Direct(conn) => {
                conn.begin_immediate()?;
                let output = work.run(conn.as_ref()).await;
                conn.finish(output.is_ok())?;
                output
            }
        }
    }

    /// Wait until everything committed so far is durable (see `after_durable`).
    pub async fn durable(&self) -> Result<(), StoreError> {
        let (synced, durable) = oneshot::channel();
        self.after_durable(Box::new(move |outcome| {
            let _ = synced.send(outcome);
        }));
        durable
            .await
            .map_err(|_| StoreError::Busy("the WAL sync thread has stopped".into()))?
            .map_err(StoreError::Busy)
    }

    /// Between batches: restart the SQLite WAL once it is long (`DirectSqlite::restart_wal_if_due`),
    /// in a turn of its own (the worker writes on the same connection); a turn is taken only then,
    /// not after every batch. What the WAL looks like afterwards; nothing on the pool.
    pub async fn restart_wal_if_due(&self) -> Option<WalState> {
        let WriterConn::Direct(conn) = &self.conn else {
            return None;
        };
        let restarted = conn.wal_restart_due() && {
            let _turn = self.gate.turn().await;
            conn.restart_wal_if_due()
        };
        Some(WalState {
            pages: conn.wal_pages(),
            restarted,
        })
    }

    /// Tell `observe` how long each fsync of the SQLite WAL takes (the writer's own connection at
    /// `database.synchronous = "full"`; the pool's commits sync inside SQLite, unseen).
    pub fn observe_syncs(&self, observe: SyncObserver) {
        if let WriterConn::Direct(conn) = &self.conn {
            conn.observe_syncs(observe);
        }
    }

    /// Call `then` once everything stored so far is durable: at once on the pool (its commits
    /// sync), after the syncer's next fsync on the writer's own SQLite connection.
    pub fn after_durable(&self, then: AfterSync) {
        match &self.conn {
            WriterConn::Pool(_) => then(Ok(())),
            WriterConn::Direct(conn) => conn.after_durable(then),
        }
    }
}
