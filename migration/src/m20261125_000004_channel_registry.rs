//! The channel registry (issue 8): the channels an operator created and named — QR codes, landing
//! pages, names given to an outer_str — and the progress of custom-code deposits, so that an
//! interrupted `codes deposit` resumes without importing a code twice.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// One registered channel per key; rows without a key (a landing page events cannot name) repeat freely.
/// Partial unique indexes read the same on SQLite and PostgreSQL.
const CHANNEL_KEY_INDEX: &str = "CREATE UNIQUE INDEX idx_channel_key ON channel \
     (appid, card_id, outer_id, outer_str) WHERE outer_id <> 0 OR outer_str <> ''";

// async_trait's expansion needs the elided lifetime that rust_2018_idioms warns about.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(channel()).await?;
        manager
            .get_connection()
            .execute_unprepared(CHANNEL_KEY_INDEX)
            .await?;
        manager.create_table(code_deposit()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["code_deposit", "channel"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

fn channel() -> TableCreateStatement {
    Table::create()
        .table("channel")
        .col(big_pk_auto("id"))
        .col(string("appid"))
        // "" = every card of the account (a multi-card QR code, a landing page).
        .col(string("card_id").default(""))
        .col(big_integer("outer_id").default(0))
        .col(string("outer_str").default(""))
        .col(string("name"))
        .col(string("kind"))
        .col(text_null("qr_ticket"))
        .col(text_null("qr_url"))
        .col(text_null("show_qrcode_url"))
        .col(big_integer_null("expire_seconds"))
        .col(text_null("landing_url"))
        .col(big_integer_null("page_id"))
        .col(big_integer("created_at"))
        .col(big_integer("updated_at"))
        .to_owned()
}

fn code_deposit() -> TableCreateStatement {
    Table::create()
        .table("code_deposit")
        .col(string("appid"))
        .col(string("card_id"))
        .col(string("code"))
        // pending → deposited | duplicate (WeChat had it) | failed (WeChat refused it)
        .col(string("state"))
        .col(big_integer("updated_at"))
        .primary_key(Index::create().col("appid").col("card_id").col("code"))
        .to_owned()
}
