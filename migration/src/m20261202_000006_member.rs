//! Members (issues 23, 24): the merchant's own members, imported from its system, the WeChat card
//! each is bound to once a customer claims it, and what WeChat last confirmed of its points and balance.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// A phone belongs to at most one member of an account, and a card code to at most one member. Partial
/// unique indexes read the same on SQLite and PostgreSQL.
const PHONE_INDEX: &str = "CREATE UNIQUE INDEX idx_member_phone ON member (appid, phone)";
const CODE_INDEX: &str = "CREATE UNIQUE INDEX idx_member_code ON member (appid, card_id, code) \
     WHERE code IS NOT NULL";
const OPENID_INDEX: &str = "CREATE INDEX idx_member_openid ON member (appid, openid)";

// async_trait's expansion needs the elided lifetime that rust_2018_idioms warns about.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(member()).await?;
        for index in [PHONE_INDEX, CODE_INDEX, OPENID_INDEX] {
            manager.get_connection().execute_unprepared(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("member").to_owned())
            .await
    }
}

fn member() -> TableCreateStatement {
    Table::create()
        .table("member")
        .col(string("appid"))
        .col(string("member_no"))
        // Digits only, a leading +86 / 86 dropped.
        .col(string("phone"))
        .col(string_null("name"))
        // Points.
        .col(big_integer("bonus").default(0))
        // In fen.
        .col(big_integer("balance").default(0))
        .col(string_null("openid"))
        .col(string_null("card_id"))
        .col(string_null("code"))
        .col(big_integer_null("bound_at"))
        // When WeChat activated the bound card.
        .col(big_integer_null("activated_at"))
        // What WeChat last confirmed the card shows (None: nothing confirmed yet).
        .col(big_integer_null("wechat_bonus"))
        .col(big_integer_null("wechat_balance"))
        // Bumped by every change of points or balance (an update in flight knows it was overtaken).
        .col(big_integer("revision").default(0))
        // The texts of the next change message (积分/余额变动), cleared once sent.
        .col(text_null("record_bonus"))
        .col(text_null("record_balance"))
        // The changes of cardhook's last updateuser whose update_member_card push has not come back.
        .col(big_integer_null("echo_bonus"))
        .col(big_integer_null("echo_balance"))
        .col(big_integer("created_at"))
        .col(big_integer("updated_at"))
        .primary_key(Index::create().col("appid").col("member_no"))
        .to_owned()
}
