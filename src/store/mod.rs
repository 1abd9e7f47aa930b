//! Durable storage (sea-orm): connecting, migrating, and the queries of each table.
//!
//! Every query function takes `&impl ConnectionTrait` and a `now`, so it works inside a
//! transaction and tests move time without sleeping. Query code lives here, never in handlers.

pub mod bindings;
pub mod channels;
pub mod error;
pub mod events;
pub mod ingest;
pub mod jobs;
pub mod sequences;
pub mod tokens;

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous as Sync};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use secrecy::ExposeSecret;

pub use error::StoreError;

use crate::config::{DatabaseSettings, SqliteSynchronous};

/// Open the pool. SQLite gets WAL, the configured `synchronous`, a busy timeout, foreign keys, and
/// in-memory temp storage (a multi-row statement's journal otherwise spills to a file per batch).
pub async fn connect(settings: &DatabaseSettings) -> Result<DatabaseConnection, StoreError> {
    let mut options = ConnectOptions::new(settings.url.expose_secret().to_owned());
    let busy = Duration::from_millis(settings.busy_timeout_ms);
    let synchronous = match settings.synchronous {
        SqliteSynchronous::Full => Sync::Full,
        SqliteSynchronous::Normal => Sync::Normal,
    };
    options
        .max_connections(settings.max_connections.max(1))
        .acquire_timeout(busy.max(Duration::from_secs(1)))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(move |o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(synchronous)
                .busy_timeout(busy)
                .foreign_keys(true)
                .pragma("temp_store", "memory")
        });
    Ok(Database::connect(options).await?)
}

/// Apply every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), StoreError> {
    Ok(Migrator::up(db, None).await?)
}
