//! Events out (issue 33): the ordered feed of domain events (`domain_event`, its `seq` strictly
//! increasing in commit order) and each webhook endpoint's delivery state (`webhook_delivery`:
//! its cursor, its retries, and which instance holds its lease).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

// async_trait's expansion needs the elided lifetime that rust_2018_idioms warns about.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(domain_event()).await?;
        manager.create_table(webhook_delivery()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["webhook_delivery", "domain_event"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

fn domain_event() -> TableCreateStatement {
    Table::create()
        .table("domain_event")
        // SQLite: INTEGER PRIMARY KEY AUTOINCREMENT (never reused); PostgreSQL: BIGSERIAL, drawn
        // under a transaction-wide lock so that commit order is seq order (`store::outbox`).
        .col(big_pk_auto("seq"))
        .col(string("kind"))
        .col(string("appid"))
        .col(big_integer("occurred_at"))
        .col(big_integer("recorded_at"))
        // What caused it: a push's dedupe key (its `data` is then read from that push when the event
        // is read: the receiver's hot path writes a few bytes), or another fact's own key. The
        // event's id is derived from it (`store::outbox::event_id`).
        .col(string("cause"))
        // The type's fields, for an event not caused by a push.
        .col(text_null("data"))
        .to_owned()
}

fn webhook_delivery() -> TableCreateStatement {
    Table::create()
        .table("webhook_delivery")
        .col(string("endpoint").primary_key())
        // The last seq delivered (or skipped by the endpoint's filter): the next event is after it.
        .col(big_integer("cursor"))
        // Failed tries of the waiting event; when to try it again; whether the schedule ran out.
        .col(big_integer("attempts").default(0))
        .col(big_integer_null("next_attempt_at"))
        .col(boolean("failing").default(false))
        .col(text_null("last_error"))
        .col(big_integer_null("last_attempt_at"))
        // Bumped by `webhooks retry` and `replay`, so a deliverer notices the change.
        .col(big_integer("version").default(0))
        .col(string_null("lease_holder"))
        .col(big_integer_null("lease_until"))
        .col(big_integer("updated_at"))
        .to_owned()
}
