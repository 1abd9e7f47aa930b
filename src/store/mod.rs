//! Durable storage (sea-orm): connecting, migrating, and the queries of each table.
//!
//! Every query function takes `&impl ConnectionTrait` and a `now`, so it works inside a
//! transaction and tests move time without sleeping. Query code lives here, never in handlers.

pub mod backfill;
pub mod bindings;
pub mod cards;
pub mod channel;
pub mod channel_day;
pub mod database_file;
pub mod db;
pub mod deposits;
pub mod effects;
pub mod error;
pub mod events;
pub mod jobs;
pub mod mass;
pub mod members;
pub mod oauth;
pub mod outbox;
pub mod published;
pub mod push;
pub mod record;
pub mod sequences;
pub mod size;
pub mod sms;
pub mod sqlite_batch;
pub mod till;
pub mod tokens;
pub mod webhooks;

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
    TransactionTrait,
};
use secrecy::ExposeSecret;

pub use database_file::DatabaseFile;
pub use db::Db;
pub use error::StoreError;

use crate::wechat::ids::OuterId;

/// An `outer_id` column as read back: cardhook stores only canonical digits (`OuterId`), so any
/// other text (none is ever written) reads as no channel.
pub fn outer_id_of(stored: &str) -> OuterId {
    OuterId::parse(stored).unwrap_or_default()
}

/// Split `items` into at most two chunks per 256: a multiple of 16, then the rest (under 16). A
/// multi-row statement's SQL depends on its row count, so 31 sizes keep every shape in the
/// prepared-statement cache, and a batch costs few statements (each one a round trip).
pub fn statement_chunks<T>(items: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    chunk_sizes(items.len()).map(move |size| {
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        chunk
    })
}

/// The sizes of the chunks [`statement_chunks`] splits `len` items into.
pub fn chunk_sizes(len: usize) -> impl Iterator<Item = usize> {
    let mut rest = len;
    std::iter::from_fn(move || {
        let size = match rest {
            0 => return None,
            n if n >= 256 => 256,
            n if n >= 16 => n / 16 * 16,
            n => n,
        };
        rest -= size;
        Some(size)
    })
}

use crate::config::DatabaseSettings;

/// Open the pool. SQLite gets WAL, `synchronous = FULL`, a busy timeout, foreign keys, and
/// in-memory temp storage. PostgreSQL gets `synchronous_commit = on` on every connection, whatever
/// the server, the database or a pooler would default to (a COMMIT then returns only once the
/// server flushed it), and a statement timeout; a server running with `fsync = off` is refused.
pub async fn connect(settings: &DatabaseSettings) -> Result<DatabaseConnection, StoreError> {
    let mut options = ConnectOptions::new(settings.url.expose_secret().to_owned());
    let busy = Duration::from_millis(settings.busy_timeout_ms);
    let statement_timeout = settings.statement_timeout_ms.to_string();
    options
        .max_connections(settings.max_connections.max(1))
        .acquire_timeout(pool_wait(busy))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(move |o| sqlite_options(o, busy))
        // A statement stuck on PostgreSQL fails (503, WeChat retries) instead of holding a push.
        .map_sqlx_postgres_opts(move |o| {
            o.options([
                ("statement_timeout", statement_timeout.as_str()),
                ("synchronous_commit", "on"),
            ])
        });
    let db = Database::connect(options).await?;
    if db.get_database_backend() == DbBackend::Postgres {
        refuse_unsafe_postgres(&db).await?;
    }
    Ok(db)
}

/// Refuse a PostgreSQL server that would acknowledge commits it may lose.
async fn refuse_unsafe_postgres(db: &DatabaseConnection) -> Result<(), StoreError> {
    for (setting, safe) in [("fsync", "on"), ("synchronous_commit", "on")] {
        let shown = db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                format!("SHOW {setting}"),
            ))
            .await?
            .map(|row| row.try_get_by_index::<String>(0))
            .transpose()?;
        if shown.as_deref() != Some(safe) {
            return Err(StoreError::Unsafe(format!(
                "PostgreSQL runs with {setting} = {}: an acknowledged push could be lost; cardhook needs {setting} = {safe}",
                shown.as_deref().unwrap_or("(unknown)")
            )));
        }
    }
    Ok(())
}

/// Apply every pending migration. On PostgreSQL an advisory lock makes instances that start
/// together migrate one after the other (the others then find nothing pending).
pub async fn migrate(db: &DatabaseConnection) -> Result<(), StoreError> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(Migrator::up(db, None).await?);
    }
    // Held by this transaction's connection until commit; the migrations run on others.
    let lock = db.begin().await?;
    lock.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
        .await?;
    Migrator::up(db, None).await?;
    lock.commit().await?;
    Ok(())
}

/// How long a statement waits for a free pooled connection: the busy timeout, at least 1 s.
fn pool_wait(busy: Duration) -> Duration {
    busy.max(Duration::from_secs(1))
}

/// What every SQLite connection of the pools runs with.
fn sqlite_options(options: SqliteConnectOptions, busy: Duration) -> SqliteConnectOptions {
    options
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(busy)
        .foreign_keys(true)
        .pragma("temp_store", "memory")
        // Room for every multi-row statement shape (see statement_chunks) on each connection.
        .statement_cache_capacity(512)
}

/// `serve`'s connection for the writes that take the writer's turn (`db::Db`), on the SQLite file
/// at `path` (resolved at start; never created here): one connection, opened at its first use,
/// that no read can hold, so a write granted its turn does not wait for the pool while the writer
/// waits for it. No automatic checkpoint: the WAL is managed by the writer (`ingest::sqlite`), and
/// a turn's COMMIT would otherwise copy the WAL back while the writer waits.
pub fn turn_connection(settings: &DatabaseSettings, path: &std::path::Path) -> DatabaseConnection {
    use sea_orm::sqlx::sqlite::SqlitePoolOptions;
    use sea_orm::sqlx::ConnectOptions as _;
    let busy = Duration::from_millis(settings.busy_timeout_ms);
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false)
        .pragma("wal_autocheckpoint", "0")
        .disable_statement_logging();
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .acquire_timeout(pool_wait(busy))
        .connect_lazy_with(sqlite_options(options, busy));
    sea_orm::SqlxSqliteConnector::from_sqlx_sqlite_pool(pool)
}

/// The advisory lock key of `migrate` ("cardhook" in ASCII).
const MIGRATION_LOCK: i64 = 0x6361_7264_686f_6f6b;

#[cfg(test)]
mod tests {
    use super::statement_chunks;

    #[test]
    fn chunks_are_few_sizes_and_cover_everything() {
        let items: Vec<u32> = (0..700).collect();
        let sizes: Vec<usize> = statement_chunks(&items).map(<[u32]>::len).collect();
        assert_eq!(sizes, vec![256, 256, 176, 12]);
        let sizes = |n: usize| {
            statement_chunks(&items[..n])
                .map(<[u32]>::len)
                .collect::<Vec<_>>()
        };
        assert_eq!(sizes(33), vec![32, 1]);
        assert_eq!(sizes(31), vec![16, 15]);
        assert_eq!(sizes(15), vec![15]);
        assert_eq!(sizes(256), vec![256]);
        // Every chunk is one of 31 sizes: multiples of 16 up to 256, or 1..=15.
        for n in 1..=700 {
            for len in sizes(n) {
                assert!(len < 16 || (len % 16 == 0 && len <= 256), "{n}: {len}");
            }
            assert_eq!(sizes(n).iter().sum::<usize>(), n);
        }
        assert_eq!(statement_chunks::<u32>(&[]).count(), 0);
    }
}
