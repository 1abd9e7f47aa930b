//! The card catalogue (issue 25): the cards an account created through cardhook (or heard of in a
//! review push), their review status and stock, and the body they were created with.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

// async_trait's expansion needs the elided lifetime that rust_2018_idioms warns about.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(card()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("card").to_owned())
            .await
    }
}

fn card() -> TableCreateStatement {
    Table::create()
        .table("card")
        .col(string("appid"))
        .col(string("card_id"))
        // MEMBER_CARD, GROUPON, …; empty for a card known only from a review push.
        .col(string("card_type").default(""))
        .col(string("title").default(""))
        // CARD_STATUS_NOT_VERIFY, _VERIFY_OK, _VERIFY_FAIL, _DELETE, _DISPATCH.
        .col(string("status"))
        .col(text_null("refuse_reason"))
        .col(big_integer_null("quantity"))
        // The /card/create body sent (images as URLs).
        .col(text_null("body"))
        // The CreateTime of the review push applied last: an older one never overwrites it.
        .col(big_integer_null("reviewed_at"))
        .col(big_integer("created_at"))
        .col(big_integer("updated_at"))
        .primary_key(Index::create().col("appid").col("card_id"))
        .to_owned()
}
