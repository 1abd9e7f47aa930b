//! Every migration runs up and down on SQLite and on PostgreSQL, and the entities match the schema.

use cardhook::config::Settings;
use cardhook::store;
use entity::{access_token, card_binding, card_event, card_sequence, channel_day, job, member};
use migration::{Migrator, MigratorTrait};
use sea_orm::EntityTrait;
use secrecy::SecretString;

use crate::support::backend::{TestDatabase, BOTH};

#[tokio::test]
async fn migrations_go_up_and_down_and_entities_match() {
    let dir = tempfile::tempdir().unwrap();
    for backend in BOTH {
        let test_db = TestDatabase::create(backend, dir.path()).await;
        let mut settings = Settings::defaults().unwrap();
        settings.database.url = SecretString::from(test_db.url.clone());
        let db = store::connect(&settings.database).await.unwrap();
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
