//! Over the card's life (issue 34): where a binding was learned (`card_binding.source`: `push`, or
//! `backfill` for a code `bindings backfill` found that no push recorded), the OpenIDs an
//! interrupted backfill already checked (`backfill_progress`, so a rerun resumes), and members in
//! WeChat tags (`member.level` from the import; `member.wechat_tag`: the tag cardhook last put the
//! member's OpenID under).

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
        manager.create_table(backfill_progress()).await?;
        for column in ["level", "wechat_tag"] {
            manager
                .alter_table(
                    Table::alter()
                        .table("member")
                        .add_column(string_null(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in ["wechat_tag", "level"] {
            manager
                .alter_table(
                    Table::alter()
                        .table("member")
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
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
