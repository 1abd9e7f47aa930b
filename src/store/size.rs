//! How big the database is: the SQLite file and its WAL (from the file system), or PostgreSQL's own
//! figure for the database (`pg_database_size`).

use sea_orm::{ConnectionTrait, DbBackend, Statement};

use super::{DatabaseFile, StoreError};

/// The database's size, as far as it can be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseSize {
    /// The SQLite file and its `-wal`, in bytes.
    Sqlite { file: u64, wal: u64 },
    /// PostgreSQL's database, in bytes.
    Postgres(u64),
    /// SQLite not in a file cardhook resolved (in memory, a URL of another form).
    Unknown,
}

/// The size of `db`, whose SQLite file (if it is one) is `file`.
pub async fn size(
    db: &impl ConnectionTrait,
    file: Option<&DatabaseFile>,
) -> Result<DatabaseSize, StoreError> {
    let bytes = |path: &std::path::Path| std::fs::metadata(path).map_or(0, |m| m.len());
    match (db.get_database_backend(), file) {
        (DbBackend::Postgres, _) => {
            let sql = "SELECT CAST(pg_database_size(current_database()) AS BIGINT) AS size";
            let row = db
                .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
                .await?;
            let size = match row {
                Some(row) => row.try_get::<i64>("", "size")?,
                None => 0,
            };
            Ok(DatabaseSize::Postgres(u64::try_from(size).unwrap_or(0)))
        }
        (_, Some(file)) => {
            let mut wal = file.path().as_os_str().to_owned();
            wal.push("-wal");
            Ok(DatabaseSize::Sqlite {
                file: bytes(file.path()),
                wal: bytes(std::path::Path::new(&wal)),
            })
        }
        (_, None) => Ok(DatabaseSize::Unknown),
    }
}
