//! The stats' distinct users (`users`, issue 35): the bindings got in a day range, found by day
//! rather than by a scan of the table (which had no index by day). The day alone: a push appends
//! to it (the day, then the rowid, grows), where one that also held the channel and OpenID would
//! be written all over (0.81x the receiver's throughput, `lab/scripts/perf-ab.sh`). Both backends.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEX: &str = "CREATE INDEX idx_card_binding_day ON card_binding (got_day)";

// async_trait's expansion needs the elided lifetime that rust_2018_idioms warns about.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(INDEX).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX idx_card_binding_day")
            .await?;
        Ok(())
    }
}
