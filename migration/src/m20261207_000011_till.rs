//! At the till (issue 34): each consume asked through cardhook, by its idempotency key, with
//! WeChat's answer (`code_consume`: a retry with the same key is answered from it and consumes
//! nothing twice, on one instance or several); and the funnel's `revoked` counter (a code taken
//! back with `codes unavailable`).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

// async_trait's expansion needs the elided lifetime that rust_2018_idioms warns about.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(code_consume()).await?;
        manager
            .alter_table(
                Table::alter()
                    .table("channel_day")
                    .add_column(big_integer("revoked").default(0))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("channel_day")
                    .drop_column("revoked")
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table("code_consume").to_owned())
            .await
    }
}

fn code_consume() -> TableCreateStatement {
    Table::create()
        .table("code_consume")
        .col(string("appid"))
        .col(string("idempotency_key"))
        .col(string("code"))
        // As asked (empty when the caller named none), and as WeChat answered.
        .col(string("card_id"))
        // `pending` while the call is out (or its answer was lost), `consumed`, `refused`.
        .col(string("state"))
        .col(string_null("answer_card_id"))
        .col(string_null("openid"))
        .col(big_integer_null("errcode"))
        .col(text_null("errmsg"))
        .col(big_integer("created_at"))
        .col(big_integer("updated_at"))
        .primary_key(Index::create().col("appid").col("idempotency_key"))
        .to_owned()
}
