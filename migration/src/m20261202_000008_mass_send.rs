//! Mass sends of a card (issue 26): each send an operator made, and each message id WeChat gave it
//! (a send to a list of OpenIDs is several calls) with what its MASSSENDJOBFINISH push reported.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

// async_trait's expansion needs the elided lifetime that rust_2018_idioms warns about.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(mass_send()).await?;
        manager.create_table(mass_send_msg()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["mass_send_msg", "mass_send"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

fn mass_send() -> TableCreateStatement {
    Table::create()
        .table("mass_send")
        .col(big_pk_auto("id"))
        .col(string("appid"))
        .col(string("card_id"))
        .col(string("name"))
        // "tag:N", "all", "openids:N" (how many; never the OpenIDs) or "preview".
        .col(string("target"))
        .col(big_integer("created_at"))
        .to_owned()
}

fn mass_send_msg() -> TableCreateStatement {
    Table::create()
        .table("mass_send_msg")
        .col(string("appid"))
        .col(big_integer("msg_id"))
        .col(big_integer("mass_send_id"))
        // From MASSSENDJOBFINISH: sendsuccess, sendfail, err(num); null until it comes.
        .col(string_null("status"))
        .col(big_integer_null("total_count"))
        .col(big_integer_null("filter_count"))
        .col(big_integer_null("sent_count"))
        .col(big_integer_null("error_count"))
        .col(big_integer_null("finished_at"))
        .primary_key(Index::create().col("appid").col("msg_id"))
        .to_owned()
}
