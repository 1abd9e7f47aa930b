//! The one error type of the storage boundary.

use sea_orm::{DbErr, RuntimeErr};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// The database is locked or the pool is exhausted: retry later (a push gets 503).
    #[error("database busy: {0}")]
    Busy(String),
    #[error("database error: {0}")]
    Db(DbErr),
    /// Opening the database file, or starting the writer's thread.
    #[error("database file: {0}")]
    Io(#[from] std::io::Error),
    /// The database would acknowledge what it may lose (a PostgreSQL server with `fsync = off`).
    #[error("{0}")]
    Unsafe(String),
    #[error("could not encode a row: {0}")]
    Encode(String),
    /// The disk failed under SQLite: a failed write or fsync, a corrupt page (`storage_health`).
    #[error("the database's disk failed: {0}")]
    Disk(String),
    /// Another instance stored one of a batch's events at the same moment: store them one by one.
    #[error("another instance stored one of these events concurrently")]
    Race,
}

/// SQLite's extended result code behind `e`, if SQLite (not PostgreSQL) reported it.
fn sqlite_code(e: &DbErr) -> Option<i32> {
    let (DbErr::Conn(RuntimeErr::SqlxError(inner))
    | DbErr::Exec(RuntimeErr::SqlxError(inner))
    | DbErr::Query(RuntimeErr::SqlxError(inner))) = e
    else {
        return None;
    };
    let sea_orm::sqlx::Error::Database(db) = inner.as_ref() else {
        return None;
    };
    db.try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>()?;
    db.code()?.parse().ok()
}

fn locked(message: &str) -> bool {
    message.contains("database is locked") || message.contains("busy")
}

/// Whether SQLite's (extended) result code `code` is SQLITE_IOERR, SQLITE_CORRUPT or SQLITE_NOTADB.
pub fn is_disk_failure(code: i32) -> bool {
    matches!(code & 0xff, 10 | 11 | 26)
}

impl From<DbErr> for StoreError {
    fn from(e: DbErr) -> Self {
        if sqlite_code(&e).is_some_and(is_disk_failure) {
            return Self::Disk(e.to_string());
        }
        let busy = match &e {
            DbErr::ConnectionAcquire(_) => true,
            DbErr::Conn(RuntimeErr::SqlxError(inner))
            | DbErr::Exec(RuntimeErr::SqlxError(inner)) => locked(&inner.to_string()),
            _ => false,
        };
        if busy {
            Self::Busy(e.to_string())
        } else {
            Self::Db(e)
        }
    }
}
