//! Drop `idx_card_event_code`: no query of the daemon reads events by code (bindings answer that),
//! and a random-key index on the hottest table costs every group commit a dirty page per push
//! (docs/PERFORMANCE.md, "Where the time goes").

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

// async_trait's expansion needs the elided lifetime that rust_2018_idioms warns about.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_card_event_code")
                    .table("card_event")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("idx_card_event_code")
                    .table("card_event")
                    .col("appid")
                    .col("card_id")
                    .col("code")
                    .to_owned(),
            )
            .await
    }
}
