//! Over the card's life (issue 34): where a binding was learned (`card_binding.source`: `push`, or
//! `backfill` for a code `bindings backfill` found that no push recorded), and the OpenIDs an
//! interrupted backfill already checked (`backfill_progress`, so a rerun resumes).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

// async_trait's expansion needs the elided lifetime that rust_2018_idioms warns about.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("card_binding")
                    .add_column(string("source").default("push"))
                    .to_owned(),
            )
            .await?;
        manager.create_table(backfill_progress()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("backfill_progress").to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("card_binding")
                    .drop_column("source")
                    .to_owned(),
            )
            .await
    }
}

fn backfill_progress() -> TableCreateStatement {
    Table::create()
        .table("backfill_progress")
        .col(string("appid"))
        // Which list the run goes through: `members`, or `file:` and the SHA-256 of the file.
        .col(string("run"))
        .col(string("openid"))
        .col(big_integer("checked_at"))
        .primary_key(Index::create().col("appid").col("run").col("openid"))
        .to_owned()
}
