//! `job.attempts` becomes a 64-bit integer, like every other integer column: the ingest writer's
//! own SQLite connection (`src/store/sqlite_direct.rs`) reads integer columns as `i64`, and the
//! activation worker now claims jobs through it. SQLite's INTEGER is 64-bit already: only
//! PostgreSQL's column changes.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

// async_trait's expansion needs the elided lifetime that rust_2018_idioms warns about.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        attempts_as(manager, ColumnDef::new("attempts").big_integer()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        attempts_as(manager, ColumnDef::new("attempts").integer()).await
    }
}

async fn attempts_as(manager: &SchemaManager<'_>, column: &mut ColumnDef) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    manager
        .alter_table(
            Table::alter()
                .table("job")
                .modify_column(column.not_null().default(0))
                .to_owned(),
        )
        .await
}
