//! The first schema (DESIGN §3): events, bindings, per-channel daily counters, jobs and access tokens.
//!
//! Times are seconds since the epoch (BIGINT) on every backend; days are `YYYY-MM-DD` text in the
//! configured statistics offset. Key columns are NOT NULL (empty string / 0 for "none") so the
//! composite keys and ON CONFLICT targets behave the same on SQLite and PostgreSQL.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

// async_trait's expansion needs the elided lifetime that rust_2018_idioms warns about.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(card_event()).await?;
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
            .await?;
        manager.create_table(card_binding()).await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_card_binding_openid")
                    .table("card_binding")
                    .col("appid")
                    .col("openid")
                    .col("got_at")
                    .to_owned(),
            )
            .await?;
        manager.create_table(channel_day()).await?;
        manager.create_table(job()).await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_job_due")
                    .table("job")
                    .col("state")
                    .col("run_at")
                    .to_owned(),
            )
            .await?;
        manager.create_table(access_token()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "access_token",
            "job",
            "channel_day",
            "card_binding",
            "card_event",
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

fn card_event() -> TableCreateStatement {
    Table::create()
        .table("card_event")
        .col(big_pk_auto("id"))
        .col(string("appid"))
        // Time first: new keys append to the unique index instead of dirtying random leaves (DESIGN §6).
        .col(string_uniq("dedupe_key"))
        .col(string("msg_type"))
        .col(string_null("event"))
        .col(string("openid"))
        .col(string_null("card_id"))
        .col(string_null("code"))
        .col(big_integer("create_time"))
        .col(big_integer("received_at"))
        .col(big_integer("outer_id").default(0))
        .col(string_null("outer_str"))
        .col(string_null("source_scene"))
        .col(boolean("is_give_by_friend").default(false))
        .col(string_null("friend_openid"))
        .col(string_null("old_code"))
        .col(boolean("is_restore_member_card").default(false))
        .col(string_null("unionid"))
        .col(text("raw_xml"))
        .to_owned()
}

fn card_binding() -> TableCreateStatement {
    Table::create()
        .table("card_binding")
        .col(string("appid"))
        .col(string("card_id"))
        .col(string("code"))
        .col(string("openid"))
        .col(string_null("unionid"))
        .col(big_integer("outer_id").default(0))
        .col(string("outer_str").default(""))
        .col(string_null("source_scene"))
        .col(big_integer("got_at"))
        .col(string("got_day"))
        .col(boolean("from_friend").default(false))
        .col(string_null("friend_openid"))
        .col(string_null("old_code"))
        .col(boolean("restored").default(false))
        .col(string("status"))
        .col(string_null("membership_number"))
        .col(big_integer_null("activated_at"))
        .col(big_integer("updated_at"))
        .primary_key(Index::create().col("appid").col("card_id").col("code"))
        .to_owned()
}

fn channel_day() -> TableCreateStatement {
    let mut table = Table::create();
    table
        .table("channel_day")
        .col(string("appid"))
        .col(string("card_id"))
        .col(big_integer("outer_id"))
        .col(string("outer_str"))
        .col(string("day"));
    for counter in [
        "got",
        "from_friend",
        "restored",
        "deleted",
        "consumed",
        "activated",
    ] {
        table.col(big_integer(counter).default(0));
    }
    table
        .primary_key(
            Index::create()
                .col("appid")
                .col("card_id")
                .col("outer_id")
                .col("outer_str")
                .col("day"),
        )
        .to_owned()
}

fn job() -> TableCreateStatement {
    Table::create()
        .table("job")
        .col(big_pk_auto("id"))
        .col(string("kind"))
        .col(string_uniq("dedup_key"))
        .col(text("payload"))
        .col(string("state"))
        .col(integer("attempts").default(0))
        .col(big_integer("run_at"))
        .col(big_integer_null("lease_until"))
        .col(string_null("claim_token"))
        .col(text_null("last_error"))
        .col(big_integer("created_at"))
        .col(big_integer("updated_at"))
        .to_owned()
}

fn access_token() -> TableCreateStatement {
    Table::create()
        .table("access_token")
        .col(string("appid").primary_key())
        .col(text_null("token"))
        .col(big_integer("expires_at").default(0))
        .col(big_integer("refreshed_at").default(0))
        .col(big_integer_null("lease_until"))
        .col(string_null("lease_owner"))
        .to_owned()
}
