//! Trust at the edges (issue 31): a channel's `outer_id` kept as its digits (WeChat allows 60,
//! far beyond BIGINT), the fields of a push that could not be read (`card_event.unparsed`), the
//! query a plain-mode push came with (`card_event.query_key`, so a captured URL cannot bring a
//! second body), the SMS codes that prove a phone and the sends they cost, and the OAuth2 states
//! already used.
//!
//! SQLite cannot change a column's type: its four tables are rebuilt (copied, dropped, renamed),
//! every row and id kept, inside this migration's transaction. PostgreSQL alters them in place.

use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// A table whose `outer_id` changes type: its columns in order (`outer_id` among them), its
/// SQLite definition with `{outer_id}` for the column's type and `{extra}` for columns this
/// migration adds, and its indexes with `{zero}` for outer_id's "none".
struct Rebuilt {
    table: &'static str,
    columns: &'static str,
    sqlite: &'static str,
    indexes: &'static [&'static str],
}

const TABLES: [Rebuilt; 4] = [
    Rebuilt {
        table: "card_event",
        columns: "id, appid, dedupe_key, msg_type, event, openid, card_id, code, create_time, \
                  received_at, outer_id, outer_str, source_scene, is_give_by_friend, friend_openid, \
                  old_code, is_restore_member_card, unionid, raw_xml",
        sqlite: "\"id\" integer NOT NULL PRIMARY KEY AUTOINCREMENT, \"appid\" varchar NOT NULL, \
                 \"dedupe_key\" varchar NOT NULL UNIQUE, \"msg_type\" varchar NOT NULL, \"event\" varchar NULL, \
                 \"openid\" varchar NOT NULL, \"card_id\" varchar NULL, \"code\" varchar NULL, \
                 \"create_time\" integer NOT NULL, \"received_at\" integer NOT NULL, {outer_id}, \
                 \"outer_str\" varchar NULL, \"source_scene\" varchar NULL, \
                 \"is_give_by_friend\" boolean NOT NULL DEFAULT FALSE, \"friend_openid\" varchar NULL, \
                 \"old_code\" varchar NULL, \"is_restore_member_card\" boolean NOT NULL DEFAULT FALSE, \
                 \"unionid\" varchar NULL, \"raw_xml\" text NOT NULL{extra}",
        indexes: &[],
    },
    Rebuilt {
        table: "card_binding",
        columns: "appid, card_id, code, openid, unionid, outer_id, outer_str, source_scene, got_at, \
                  got_day, from_friend, friend_openid, old_code, restored, status, membership_number, \
                  activated_at, updated_at",
        sqlite: "\"appid\" varchar NOT NULL, \"card_id\" varchar NOT NULL, \"code\" varchar NOT NULL, \
                 \"openid\" varchar NOT NULL, \"unionid\" varchar NULL, {outer_id}, \
                 \"outer_str\" varchar NOT NULL DEFAULT '', \"source_scene\" varchar NULL, \
                 \"got_at\" integer NOT NULL, \"got_day\" varchar NOT NULL, \
                 \"from_friend\" boolean NOT NULL DEFAULT FALSE, \"friend_openid\" varchar NULL, \
                 \"old_code\" varchar NULL, \"restored\" boolean NOT NULL DEFAULT FALSE, \
                 \"status\" varchar NOT NULL, \"membership_number\" varchar NULL, \
                 \"activated_at\" integer NULL, \"updated_at\" integer NOT NULL, \
                 PRIMARY KEY (\"appid\", \"card_id\", \"code\")",
        indexes: &["CREATE INDEX \"idx_card_binding_openid\" ON \"card_binding\" (\"appid\", \"openid\", \"got_at\")"],
    },
    Rebuilt {
        table: "channel_day",
        columns: "appid, card_id, outer_id, outer_str, day, got, from_friend, restored, deleted, \
                  consumed, activated",
        sqlite: "\"appid\" varchar NOT NULL, \"card_id\" varchar NOT NULL, {outer_id}, \
                 \"outer_str\" varchar NOT NULL, \"day\" varchar NOT NULL, \
                 \"got\" integer NOT NULL DEFAULT 0, \"from_friend\" integer NOT NULL DEFAULT 0, \
                 \"restored\" integer NOT NULL DEFAULT 0, \"deleted\" integer NOT NULL DEFAULT 0, \
                 \"consumed\" integer NOT NULL DEFAULT 0, \"activated\" integer NOT NULL DEFAULT 0, \
                 PRIMARY KEY (\"appid\", \"card_id\", \"outer_id\", \"outer_str\", \"day\")",
        indexes: &[],
    },
    Rebuilt {
        table: "channel",
        columns: "id, appid, card_id, outer_id, outer_str, name, kind, qr_ticket, qr_url, \
                  show_qrcode_url, expire_seconds, landing_url, page_id, created_at, updated_at",
        sqlite: "\"id\" integer NOT NULL PRIMARY KEY AUTOINCREMENT, \"appid\" varchar NOT NULL, \
                 \"card_id\" varchar NOT NULL DEFAULT '', {outer_id}, \
                 \"outer_str\" varchar NOT NULL DEFAULT '', \"name\" varchar NOT NULL, \
                 \"kind\" varchar NOT NULL, \"qr_ticket\" text NULL, \"qr_url\" text NULL, \
                 \"show_qrcode_url\" text NULL, \"expire_seconds\" integer NULL, \
                 \"landing_url\" text NULL, \"page_id\" integer NULL, \"created_at\" integer NOT NULL, \
                 \"updated_at\" integer NOT NULL",
        indexes: &["CREATE UNIQUE INDEX idx_channel_key ON channel (appid, card_id, outer_id, outer_str) \
                    WHERE outer_id <> {zero} OR outer_str <> ''"],
    },
];

/// The columns `card_event` gains.
const EVENT_COLUMNS_SQLITE: &str = ", \"unparsed\" text NULL, \"query_key\" varchar NULL";
const EVENT_INDEXES: [&str; 2] = [
    // A plain-mode query brings at most one stored push.
    "CREATE UNIQUE INDEX idx_card_event_query ON card_event (query_key) WHERE query_key IS NOT NULL",
    // `events unparsed` reads only the few pushes that have some.
    "CREATE INDEX idx_card_event_unparsed ON card_event (id) WHERE unparsed IS NOT NULL",
];

/// The live code of a phone for the session (OpenID) that asked for it: its keyed hash, until when,
/// and the wrong tries so far. `phone_key` is a keyed hash of the phone, never the number.
fn sms_code() -> TableCreateStatement {
    Table::create()
        .table("sms_code")
        .col(string("appid"))
        .col(string("phone_key"))
        .col(string("openid"))
        .col(string("code_hash"))
        .col(big_integer("expires_at"))
        .col(big_integer("tries").default(0))
        .col(big_integer("created_at"))
        .primary_key(Index::create().col("appid").col("phone_key").col("openid"))
        .to_owned()
}

/// Every code sent, for the limits per phone, per OpenID and per client address.
fn sms_send() -> TableCreateStatement {
    Table::create()
        .table("sms_send")
        .col(big_pk_auto("id"))
        .col(string("appid"))
        .col(string("phone_key"))
        .col(string("openid"))
        .col(string("client"))
        .col(big_integer("sent_at"))
        .to_owned()
}

/// The OAuth2 states already used (a state is single use), kept until they expire.
fn oauth_state() -> TableCreateStatement {
    Table::create()
        .table("oauth_state")
        .col(string("state_id").primary_key())
        .col(string("appid"))
        .col(big_integer("expires_at"))
        .to_owned()
}

const NEW_INDEXES: [&str; 5] = [
    "CREATE INDEX idx_sms_send_phone ON sms_send (appid, phone_key, sent_at)",
    "CREATE INDEX idx_sms_send_openid ON sms_send (appid, openid, sent_at)",
    "CREATE INDEX idx_sms_send_client ON sms_send (client, sent_at)",
    "CREATE INDEX idx_sms_send_time ON sms_send (sent_at)",
    "CREATE INDEX idx_oauth_state_expiry ON oauth_state (expires_at)",
];

// async_trait's expansion needs the elided lifetime that rust_2018_idioms warns about.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// The table rebuilds and the migration's record commit together, on SQLite too.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let postgres = db.get_database_backend() == DbBackend::Postgres;
        for t in &TABLES {
            if postgres {
                alter_postgres(db, t, "varchar USING outer_id::varchar", "'0'").await?;
            } else {
                let extra = if t.table == "card_event" {
                    EVENT_COLUMNS_SQLITE
                } else {
                    ""
                };
                rebuild_sqlite(
                    db,
                    t,
                    "\"outer_id\" varchar NOT NULL DEFAULT '0'",
                    extra,
                    "CAST(outer_id AS TEXT)",
                    "'0'",
                )
                .await?;
            }
        }
        if postgres {
            db.execute_unprepared(
                "ALTER TABLE card_event ADD COLUMN unparsed text NULL, ADD COLUMN query_key varchar NULL",
            )
            .await?;
        }
        for table in [sms_code(), sms_send(), oauth_state()] {
            manager.create_table(table).await?;
        }
        for statement in EVENT_INDEXES.iter().chain(&NEW_INDEXES) {
            db.execute_unprepared(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let postgres = db.get_database_backend() == DbBackend::Postgres;
        for table in ["oauth_state", "sms_send", "sms_code"] {
            db.execute_unprepared(&format!("DROP TABLE {table}"))
                .await?;
        }
        for index in ["idx_card_event_query", "idx_card_event_unparsed"] {
            db.execute_unprepared(&format!("DROP INDEX {index}"))
                .await?;
        }
        if postgres {
            db.execute_unprepared(
                "ALTER TABLE card_event DROP COLUMN unparsed, DROP COLUMN query_key",
            )
            .await?;
        }
        // Going back, an outer_id beyond BIGINT cannot be kept: it becomes 0.
        for t in &TABLES {
            if postgres {
                alter_postgres(
                    db,
                    t,
                    "bigint USING (CASE WHEN outer_id ~ '^-?[0-9]{1,18}$' THEN outer_id::bigint ELSE 0 END)",
                    "0",
                )
                .await?;
            } else {
                rebuild_sqlite(
                    db,
                    t,
                    "\"outer_id\" integer NOT NULL DEFAULT 0",
                    "",
                    "(CASE WHEN length(outer_id) <= 18 THEN CAST(outer_id AS INTEGER) ELSE 0 END)",
                    "0",
                )
                .await?;
            }
        }
        Ok(())
    }
}

/// Change `t`'s outer_id to `new_type` (with its `USING`) in place; its default and the channel key
/// index (whose predicate names outer_id's "none") follow.
async fn alter_postgres(
    db: &SchemaManagerConnection<'_>,
    t: &Rebuilt,
    new_type: &str,
    zero: &str,
) -> Result<(), DbErr> {
    if t.table == "channel" {
        db.execute_unprepared("DROP INDEX idx_channel_key").await?;
    }
    db.execute_unprepared(&format!(
        "ALTER TABLE {table} ALTER COLUMN outer_id DROP DEFAULT, \
         ALTER COLUMN outer_id TYPE {new_type}, ALTER COLUMN outer_id SET DEFAULT {zero}",
        table = t.table
    ))
    .await?;
    if t.table == "channel" {
        for index in t.indexes {
            db.execute_unprepared(&index.replace("{zero}", zero))
                .await?;
        }
    }
    Ok(())
}

/// Copy `t` into a new table whose outer_id is `outer_id_column` (its values converted by
/// `outer_id_value`), with `extra` columns, then put it in the old one's place with its indexes.
async fn rebuild_sqlite(
    db: &SchemaManagerConnection<'_>,
    t: &Rebuilt,
    outer_id_column: &str,
    extra: &str,
    outer_id_value: &str,
    zero: &str,
) -> Result<(), DbErr> {
    let (table, columns) = (t.table, t.columns);
    let definition = t
        .sqlite
        .replace("{outer_id}", outer_id_column)
        .replace("{extra}", extra);
    let values = columns.replace("outer_id", outer_id_value);
    for statement in [
        format!("CREATE TABLE \"{table}_rebuilt\" ( {definition} )"),
        format!("INSERT INTO \"{table}_rebuilt\" ({columns}) SELECT {values} FROM \"{table}\""),
        format!("DROP TABLE \"{table}\""),
        format!("ALTER TABLE \"{table}_rebuilt\" RENAME TO \"{table}\""),
    ] {
        db.execute_unprepared(&statement).await?;
    }
    for index in t.indexes {
        db.execute_unprepared(&index.replace("{zero}", zero))
            .await?;
    }
    Ok(())
}
