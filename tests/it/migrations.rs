//! Every migration runs up and down on SQLite and on PostgreSQL, and the entities match the schema.

use cardhook::config::Settings;
use cardhook::store;
use entity::{access_token, card_binding, card_event, card_sequence, channel_day, job, member};
use migration::{Migrator, MigratorTrait};
use sea_orm::EntityTrait;
use secrecy::SecretString;

use crate::support::backend::{fresh_database, TestDatabase, BOTH};

#[tokio::test]
async fn migrations_go_up_and_down_and_entities_match() {
    let dir = tempfile::tempdir().unwrap();
    for backend in BOTH {
        let (test_db, db) = fresh_database(backend, dir.path()).await;
        for round in 0..2 {
            Migrator::up(&db, None).await.unwrap();
            assert!(Migrator::get_pending_migrations(&db)
                .await
                .unwrap()
                .is_empty());
            // Drift check: every entity can be read from the migrated schema.
            card_event::Entity::find()
                .one(&db)
                .await
                .expect("card_event");
            card_binding::Entity::find()
                .one(&db)
                .await
                .expect("card_binding");
            channel_day::Entity::find()
                .one(&db)
                .await
                .expect("channel_day");
            job::Entity::find().one(&db).await.expect("job");
            access_token::Entity::find()
                .one(&db)
                .await
                .expect("access_token");
            card_sequence::Entity::find()
                .one(&db)
                .await
                .expect("card_sequence");
            member::Entity::find().one(&db).await.expect("member");
            Migrator::down(&db, None).await.unwrap();
            assert!(
                card_event::Entity::find().one(&db).await.is_err(),
                "{backend:?} round {round}: tables dropped"
            );
        }
        db.close().await.unwrap();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn postgres_sessions_carry_the_statement_timeout() {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let dir = tempfile::tempdir().unwrap();
    let test_db =
        TestDatabase::create(crate::support::backend::Backend::Postgres, dir.path()).await;
    let mut settings = Settings::defaults().unwrap();
    settings.database.url = SecretString::from(test_db.url.clone());
    settings.database.statement_timeout_ms = 1234;
    let db = store::connect(&settings.database).await.unwrap();
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SHOW statement_timeout",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get_by_index::<String>(0).unwrap(), "1234ms");
    db.close().await.unwrap();
    test_db.drop_database().await;
}

/// TLS is configured in the URL (`sslmode`), and the rustls build speaks it to the local server.
#[tokio::test]
async fn postgres_over_tls_when_the_url_asks_for_it() {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let dir = tempfile::tempdir().unwrap();
    let test_db =
        TestDatabase::create(crate::support::backend::Backend::Postgres, dir.path()).await;
    let mut settings = Settings::defaults().unwrap();
    settings.database.url = SecretString::from(format!("{}?sslmode=require", test_db.url));
    let db = store::connect(&settings.database).await.unwrap();
    store::migrate(&db).await.unwrap();
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        ))
        .await
        .unwrap()
        .unwrap();
    assert!(
        row.try_get_by_index::<bool>(0).unwrap(),
        "the session is encrypted"
    );
    db.close().await.unwrap();
    test_db.drop_database().await;
}

/// Every session commits with `synchronous_commit = on`, whatever the database (or a pooler)
/// would default to: an acknowledged push is flushed by the server before its `success`.
#[tokio::test]
async fn postgres_sessions_commit_synchronously_whatever_the_default() {
    use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
    let dir = tempfile::tempdir().unwrap();
    let test_db =
        TestDatabase::create(crate::support::backend::Backend::Postgres, dir.path()).await;
    let name = test_db.url.rsplit('/').next().unwrap().to_owned();
    let admin = Database::connect(&test_db.url).await.unwrap();
    admin
        .execute_unprepared(&format!(
            "ALTER DATABASE {name} SET synchronous_commit = off"
        ))
        .await
        .unwrap();
    admin.close().await.unwrap();
    let mut settings = Settings::defaults().unwrap();
    settings.database.url = SecretString::from(test_db.url.clone());
    let db = store::connect(&settings.database).await.unwrap();
    let show = Statement::from_string(DbBackend::Postgres, "SHOW synchronous_commit");
    // Several sessions of the pool, each with its own connection.
    let rows = futures_util::future::join_all((0..4).map(|_| db.query_one_raw(show.clone()))).await;
    for row in rows {
        let value = row.unwrap().unwrap().try_get_by_index::<String>(0).unwrap();
        assert_eq!(value, "on");
    }
    db.close().await.unwrap();
    test_db.drop_database().await;
}

/// A PostgreSQL server running with `fsync = off` could lose what it acknowledged: cardhook refuses
/// to start on it, naming the setting. (A server of its own, started for this test.)
#[tokio::test]
async fn a_postgres_server_with_fsync_off_is_refused() {
    let server = crate::support::backend::ScratchPostgres::start(&["-c", "fsync=off"]);
    let mut settings = Settings::defaults().unwrap();
    settings.database.url = SecretString::from(server.url());
    let refused = store::connect(&settings.database).await.unwrap_err();
    let message = refused.to_string();
    assert!(
        message.contains("fsync = off") && message.contains("fsync = on"),
        "{message}"
    );
    // `serve` says so in one line and exits non-zero.
    let config = server.dir().join("cardhook.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"{}\"\n[[accounts]]\nappid = \"wxfsync\"\ntoken = \"t\"\nmode = \"plain\"\n",
            server.url()
        ),
    )
    .unwrap();
    let listen = ["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"];
    let output = crate::support::process::run_cli("serve", &config, &listen).await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("fsync = off"), "{stderr}");
    assert!(!stderr.contains("stack backtrace"), "{stderr}");
}

/// Issue 31 turns `outer_id` into digits (60 allowed): rows written before keep their values and
/// ids, the channel key index still tells registered keys apart, and new rows take 25 digits.
#[tokio::test]
async fn outer_ids_migrate_to_digits_unchanged() {
    use sea_orm::{ConnectionTrait, EntityTrait};
    let dir = tempfile::tempdir().unwrap();
    for backend in BOTH {
        let (test_db, db) = fresh_database(backend, dir.path()).await;
        // The schema of the last release, with rows in it.
        Migrator::up(&db, Some(8)).await.unwrap();
        for statement in [
            "INSERT INTO card_event (id, appid, dedupe_key, msg_type, event, openid, card_id, code, create_time, \
             received_at, outer_id, is_give_by_friend, is_restore_member_card, raw_xml) VALUES \
             (41, 'wxA', 'k1', 'event', 'user_get_card', 'o1', 'pC', '1', 1, 2, 9223372036854775807, false, false, '<xml/>')",
            "INSERT INTO card_binding (appid, card_id, code, openid, outer_id, outer_str, got_at, got_day, status, updated_at) \
             VALUES ('wxA', 'pC', '1', 'o1', -5, '', 1, '2024-01-01', 'got', 1)",
            "INSERT INTO channel_day (appid, card_id, outer_id, outer_str, day, got) VALUES ('wxA', 'pC', 42, '', '2024-01-01', 3)",
            "INSERT INTO channel (appid, card_id, outer_id, outer_str, name, kind, created_at, updated_at) \
             VALUES ('wxA', 'pC', 7, '', 'seven', 'named', 1, 1)",
        ] {
            db.execute_unprepared(statement).await.unwrap();
        }
        Migrator::up(&db, None).await.unwrap();
        let event = card_event::Entity::find_by_id(41)
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (event.outer_id.as_str(), event.unparsed, event.query_key),
            ("9223372036854775807", None, None),
            "{backend:?}"
        );
        let binding = card_binding::Entity::find()
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(binding.outer_id, "-5", "{backend:?}");
        let counter = channel_day::Entity::find().one(&db).await.unwrap().unwrap();
        assert_eq!((counter.outer_id.as_str(), counter.got), ("42", 3));
        // The registered key is still unique; a 25-digit one is a key like any other.
        let again = "INSERT INTO channel (appid, card_id, outer_id, outer_str, name, kind, created_at, updated_at) \
                     VALUES ('wxA', 'pC', '7', '', 'dup', 'named', 1, 1)";
        assert!(db.execute_unprepared(again).await.is_err(), "{backend:?}");
        db.execute_unprepared(
            "INSERT INTO channel (appid, card_id, outer_id, outer_str, name, kind, created_at, updated_at) \
             VALUES ('wxA', 'pC', '1234567890123456789012345', '', 'big', 'named', 1, 1)",
        )
        .await
        .unwrap();
        // A new event takes the default: no channel.
        db.execute_unprepared(
            "INSERT INTO card_event (appid, dedupe_key, msg_type, openid, create_time, received_at, raw_xml) \
             VALUES ('wxA', 'k2', 'event', 'o1', 1, 2, '<xml/>')",
        )
        .await
        .unwrap();
        let outer_ids: Vec<(String, String)> = card_event::Entity::find()
            .all(&db)
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.dedupe_key, e.outer_id))
            .collect();
        assert!(
            outer_ids.contains(&("k2".to_owned(), "0".to_owned())),
            "{backend:?}"
        );
        db.close().await.unwrap();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn members_bound_before_the_bound_counter_count_on_their_channel_and_day() {
    use sea_orm::{ConnectionTrait, EntityTrait};
    let dir = tempfile::tempdir().unwrap();
    for backend in BOTH {
        let (test_db, db) = fresh_database(backend, dir.path()).await;
        // The schema of the last release (issue 34), with members bound through two channels.
        Migrator::up(&db, Some(12)).await.unwrap();
        // 2026-12-07 23:30 and 2026-12-08 00:30 at +08:00 (15:30 and 16:30 UTC on the 7th).
        let (late, early) = (1_796_657_400_i64, 1_796_661_000_i64);
        let mut statements = vec![
            "INSERT INTO channel_day (appid, card_id, outer_id, outer_str, day, got) \
             VALUES ('wxA', 'pC', '0', 'table', '2026-12-07', 3)"
                .to_owned(),
        ];
        for (code, outer_str) in [("1", "table"), ("2", "table"), ("3", "poster")] {
            statements.push(format!(
                "INSERT INTO card_binding (appid, card_id, code, openid, outer_id, outer_str, got_at, got_day, status, updated_at) \
                 VALUES ('wxA', 'pC', '{code}', 'o{code}', '0', '{outer_str}', 1, '2026-12-01', 'got', 1)"
            ));
        }
        for (no, code, bound_at) in [
            ("M1", Some("1"), late),
            ("M2", Some("2"), late),
            ("M3", Some("3"), early),
            ("M4", Some("9"), early),
            ("M5", None, 0),
        ] {
            let (card, code, bound) = match code {
                Some(code) => ("'pC'".to_owned(), format!("'{code}'"), bound_at.to_string()),
                None => ("NULL".to_owned(), "NULL".to_owned(), "NULL".to_owned()),
            };
            statements.push(format!(
                "INSERT INTO member (appid, member_no, phone, card_id, code, bound_at, created_at, updated_at) \
                 VALUES ('wxA', '{no}', '1380000000{}', {card}, {code}, {bound}, 1, 1)",
                &no[1..]
            ));
        }
        for statement in &statements {
            db.execute_unprepared(statement).await.unwrap();
        }
        Migrator::up(&db, None).await.unwrap();
        let mut counters: Vec<(String, String, i64, i64)> = channel_day::Entity::find()
            .all(&db)
            .await
            .unwrap()
            .into_iter()
            .map(|c| (c.outer_str, c.day, c.got, c.bound))
            .collect();
        counters.sort();
        assert_eq!(
            counters,
            [
                // A code no push recorded counts unattributed.
                (String::new(), "2026-12-08".to_owned(), 0, 1),
                ("poster".to_owned(), "2026-12-08".to_owned(), 0, 1),
                ("table".to_owned(), "2026-12-07".to_owned(), 3, 2),
            ],
            "{backend:?}"
        );
        Migrator::down(&db, Some(1)).await.unwrap();
        Migrator::up(&db, None).await.unwrap();
        let bound: i64 = channel_day::Entity::find()
            .all(&db)
            .await
            .unwrap()
            .iter()
            .map(|c| c.bound)
            .sum();
        assert_eq!(bound, 4, "{backend:?}: down and up again counts each once");
        db.close().await.unwrap();
        test_db.drop_database().await;
    }
}
