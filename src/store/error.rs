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
    /// Opening, or starting the threads of, the writer's own SQLite connection.
    #[error("database file: {0}")]
    Io(#[from] std::io::Error),
    #[error("could not encode a row: {0}")]
    Encode(String),
    /// Another instance stored one of a batch's events at the same moment: store them one by one.
    #[error("another instance stored one of these events concurrently")]
    Race,
}

fn locked(message: &str) -> bool {
    message.contains("database is locked") || message.contains("busy")
}

impl From<DbErr> for StoreError {
    fn from(e: DbErr) -> Self {
        let busy = match &e {
            DbErr::ConnectionAcquire(_) => true,
            DbErr::Conn(RuntimeErr::SqlxError(inner))
            | DbErr::Exec(RuntimeErr::SqlxError(inner)) => locked(&inner.to_string()),
            // The writer's own SQLite connection (`sqlite_direct`) reports SQLite's message.
            DbErr::Exec(RuntimeErr::Internal(text)) => locked(text),
            _ => false,
        };
        if busy {
            Self::Busy(e.to_string())
        } else {
            Self::Db(e)
        }
    }
}
