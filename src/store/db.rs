//! The database handle `serve` works through: sea-orm's connection and, on SQLite, turns on the
//! one writer. A write asks the writer thread's queue for a turn and runs when the writer holds no
//! transaction, so it never waits on SQLite's busy handler; the writer writes nothing until the
//! turn is handed back (`ingest::sqlite` grants turns between its batches). A write with a turn
//! runs on a connection of its own (`store::turn_connection`), which no read holds, so it does not
//! wait for the pool while the writer waits for it (only a write that kept its turn past the
//! writer's limit can keep the next one waiting). Reads need no turn and use the pool. Without a
//! writer (PostgreSQL, the CLI) it is the pool alone.

use std::time::Duration;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult,
    QueryResult, Statement, TransactionTrait,
};
use tokio::sync::{mpsc, oneshot};

use super::StoreError;

/// The connection, and the writer's turns when there is a writer thread.
#[derive(Clone, Debug)]
pub struct Db {
    conn: DatabaseConnection,
    turns: Option<TurnTaking>,
}

/// The writer's turns, and the connection the writes that hold one run on.
#[derive(Clone, Debug)]
struct TurnTaking {
    turns: Turns,
    conn: DatabaseConnection,
}

impl Db {
    /// A connection whose writes take no turn (PostgreSQL, the CLI, tests without a writer).
    pub fn new(conn: DatabaseConnection) -> Self {
        Self { conn, turns: None }
    }

    /// A pool whose writes take turns on the SQLite writer, and run on `writes` once they hold one.
    pub fn with_turns(conn: DatabaseConnection, writes: DatabaseConnection, turns: Turns) -> Self {
        Self {
            conn,
            turns: Some(TurnTaking {
                turns,
                conn: writes,
            }),
        }
    }

    /// Close the writes' connection, if there is one (the pool is its owner's to close).
    pub async fn close_writes(&self) {
        if let Some(taking) = &self.turns {
            if let Err(e) = taking.conn.clone().close().await {
                tracing::warn!(error.message = %e, "closing the writes' connection");
            }
        }
    }

    /// The connection itself, for what takes no turn (reads, PostgreSQL's writers).
    pub fn connection(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// The writer's turn, if there is a writer and it still runs, and the connection to write on.
    async fn turn(&self) -> (Option<Turn>, &DatabaseConnection) {
        match &self.turns {
            Some(taking) => (taking.turns.take().await, &taking.conn),
            None => (None, &self.conn),
        }
    }

    /// The writer's turn for a statement that may write; none for a read (on the pool).
    async fn turn_for(&self, sql: &str) -> (Option<Turn>, &DatabaseConnection) {
        match may_write(sql) {
            true => self.turn().await,
            false => (None, &self.conn),
        }
    }

    /// Begin a transaction that writes, holding the writer's turn until it ends. On SQLite it takes
    /// the write lock at once (IMMEDIATE): a transaction that read first could not upgrade once
    /// another connection has written.
    pub async fn begin_write(&self) -> Result<WriteTxn, StoreError> {
        let (turn, conn) = self.turn().await;
        let txn = conn
            .begin_with_options(sea_orm::TransactionOptions {
                sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
                ..sea_orm::TransactionOptions::default()
            })
            .await?;
        Ok(WriteTxn { txn, _turn: turn })
    }
}

/// Whether a statement may write (anything but a SELECT).
fn may_write(sql: &str) -> bool {
    !sql.trim_start()
        .get(..6)
        .is_some_and(|verb| verb.eq_ignore_ascii_case("select"))
}

#[async_trait::async_trait]
impl ConnectionTrait for Db {
    fn get_database_backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        let (_turn, conn) = self.turn().await;
        conn.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let (_turn, conn) = self.turn().await;
        conn.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        let (_turn, conn) = self.turn_for(&stmt.sql).await;
        conn.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let (_turn, conn) = self.turn_for(&stmt.sql).await;
        conn.query_all_raw(stmt).await
    }
}

/// A transaction that writes, holding the writer's turn (if any) until it is committed or dropped
/// (rolled back).
pub struct WriteTxn {
    txn: DatabaseTransaction,
    _turn: Option<Turn>,
}

impl WriteTxn {
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }

    pub async fn rollback(self) -> Result<(), DbErr> {
        self.txn.rollback().await
    }

    /// A savepoint inside this transaction: its writes are undone alone when it is dropped.
    pub async fn savepoint(&self) -> Result<DatabaseTransaction, DbErr> {
        self.txn.begin().await
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for WriteTxn {
    fn get_database_backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.txn.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.txn.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.txn.query_all_raw(stmt).await
    }
}

/// A write's turn on the SQLite writer: while it is held the writer writes nothing; dropping it
/// hands the writer back.
#[derive(Debug)]
pub struct Turn {
    _release: oneshot::Sender<()>,
}

/// Where writes ask the writer for a turn; cheap to clone.
#[derive(Clone, Debug)]
pub struct Turns(mpsc::UnboundedSender<oneshot::Sender<Turn>>);

/// The writer's side: the turns asked for, in order.
pub struct TurnRequests(mpsc::UnboundedReceiver<oneshot::Sender<Turn>>);

/// A queue of turns: writes ask on one side, the writer grants on the other.
pub fn turns() -> (Turns, TurnRequests) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Turns(tx), TurnRequests(rx))
}

impl Turns {
    /// Wait for a turn; None once the writer has stopped (the write then goes ahead on its own).
    async fn take(&self) -> Option<Turn> {
        let (tx, rx) = oneshot::channel();
        self.0.send(tx).ok()?;
        rx.await.ok()
    }
}

impl TurnRequests {
    /// The next turn asked for; None when no handle is left. Cancel-safe.
    pub async fn next(&mut self) -> Option<Granting> {
        self.0.recv().await.map(Granting)
    }
}

/// A turn asked for, to be granted by the writer.
pub struct Granting(oneshot::Sender<Turn>);

impl Granting {
    /// Hand the turn over and wait (at most `limit`) until it comes back; false when it was held
    /// longer (the writer then goes on: the holder's writes may wait on SQLite's lock).
    pub async fn grant(self, limit: Duration) -> bool {
        let (release, released) = oneshot::channel::<()>();
        if self.0.send(Turn { _release: release }).is_err() {
            // Whoever asked has gone.
            return true;
        }
        // Dropping the Turn closes the channel: that is the hand-back.
        tokio::time::timeout(limit, released).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_select_reads_without_a_turn() {
        assert!(!may_write("SELECT 1"));
        assert!(!may_write("  select * from job"));
        assert!(may_write("UPDATE job SET state = 'done' RETURNING id"));
        assert!(may_write("INSERT INTO job VALUES (1)"));
        assert!(may_write("WITH x AS (SELECT 1) DELETE FROM job"));
        assert!(may_write("SEL"));
    }
}
