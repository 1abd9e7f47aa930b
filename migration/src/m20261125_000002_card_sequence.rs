//! Per-card sequence numbers for membership-number templates with `{seq}`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

// async_trait's expansion needs the elided lifetime that rust_2018_idioms warns about.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("card_sequence")
                    .col(string("appid"))
                    .col(string("card_id"))
                    .col(big_integer("last"))
                    .primary_key(Index::create().col("appid").col("card_id"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("card_sequence").to_owned())
            .await
    }
}
