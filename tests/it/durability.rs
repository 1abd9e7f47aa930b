//! Acknowledge only after commit: a `success` means the row is there; storage trouble means 503.

use std::time::Duration;

use cardhook::store;
use cardhook::wechat::Mode;
use entity::card_event;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, TransactionTrait,
};

use crate::support::fixtures::{assert_success, get_card_xml};
use crate::support::{account_for, assert_rejected, spawn_app, spawn_app_with};

#[tokio::test]
async fn every_success_is_already_in_the_database() {
    let app = spawn_app().await;
    let pushes = (0..64).map(|i| {
        let app = &app;
        async move {
            let code = format!("5{i:05}");
            let xml = get_card_xml(
                &format!("oU{i}"),
                1_700_000_000 + i,
                "pDURABLE",
                &code,
                0,
                "burst",
            );
            let response = app.push_xml(&xml, Mode::Safe).await;
            assert_success(response).await;
            // Read through another connection the moment the answer arrives.
            let stored = card_event::Entity::find()
                .filter(card_event::Column::Code.eq(code.as_str()))
                .count(&app.db)
                .await
                .unwrap();
            assert_eq!(stored, 1, "push {code} answered success but not stored");
        }
    });
    futures_util::future::join_all(pushes).await;
    assert_eq!(
        app.channel(account_for(Mode::Safe).0, 0, "burst").await.got,
        64
    );
}

#[tokio::test]
async fn a_locked_database_answers_503_then_recovers() {
    let app = spawn_app_with(|s| {
        s.database.busy_timeout_ms = 100;
        s.server.storage_timeout_ms = 3000;
    })
    .await;
    let (appid, _) = account_for(Mode::Safe);
    // Another process holds SQLite's write lock.
    let locker = store::connect(&app.settings.database).await.unwrap();
    let txn = locker.begin().await.unwrap();
    txn.execute_unprepared(
        "INSERT INTO access_token (appid, expires_at, refreshed_at) VALUES ('lock', 0, 0)",
    )
    .await
    .unwrap();
    let xml = get_card_xml("oLocked", 1_700_000_000, "pLOCK", "1", 0, "locked");
    let response = app.push_xml(&xml, Mode::Safe).await;
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap()),
        Some("1")
    );
    assert_rejected(response, 503, "storage_unavailable").await;
    assert_eq!(app.metrics.pushes(appid, "none", "storage_unavailable"), 1);
    txn.rollback().await.unwrap();
    assert_eq!(app.event_count().await, 0);

    // WeChat's retry, once the lock is gone, is stored and acknowledged.
    let retry = tokio::time::timeout(Duration::from_secs(30), app.push_xml(&xml, Mode::Safe))
        .await
        .unwrap();
    assert_success(retry).await;
    assert_eq!(app.event_count().await, 1);
    assert_eq!(app.channel(appid, 0, "locked").await.got, 1);
}

#[tokio::test]
async fn shutdown_lets_the_writer_finish() {
    let app = spawn_app().await;
    let xml = get_card_xml("oBye", 1_700_000_000, "pBYE", "1", 0, "");
    assert_success(app.push_xml(&xml, Mode::Safe).await).await;
    let settings = app.settings.clone();
    let _dir = tokio::time::timeout(Duration::from_secs(30), app.shutdown())
        .await
        .expect("shutdown in time");
    // Reopened after the app closed its pool: the push is on disk.
    let db = store::connect(&settings.database).await.unwrap();
    assert_eq!(card_event::Entity::find().count(&db).await.unwrap(), 1);
}

#[tokio::test]
async fn the_sqlite_writer_runs_on_a_thread_named_for_it() {
    let app = spawn_app().await;
    let xml = get_card_xml("oNamed", 1_700_000_000, "pNAMED", "1", 0, "");
    assert_success(app.push_xml(&xml, Mode::Safe).await).await;
    // The kernel keeps 15 bytes of a name; `top -H` and `tools/perf-threads.sh` show this one.
    let names: Vec<String> = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|comm| comm.trim_end().to_owned())
        .collect();
    assert!(
        names
            .iter()
            .any(|name| name == cardhook::ingest::sqlite::WRITER_THREAD),
        "threads: {names:?}"
    );
}

#[tokio::test]
async fn sqlite_runs_in_wal_mode_with_full_synchronous() {
    use sea_orm::{DbBackend, Statement};
    let app = spawn_app().await;
    let pragma = |name: &str| Statement::from_string(DbBackend::Sqlite, format!("PRAGMA {name}"));
    let mode = app
        .db
        .query_one_raw(pragma("journal_mode"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(mode.try_get_by_index::<String>(0).unwrap(), "wal");
    // 2 = FULL: an acknowledged push survives power loss.
    let sync = app
        .db
        .query_one_raw(pragma("synchronous"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sync.try_get_by_index::<i32>(0).unwrap(), 2);
}

#[tokio::test]
async fn a_deleted_or_replaced_database_file_gets_503_never_success() {
    let app = spawn_app().await;
    let first = get_card_xml("oBefore", 1_700_000_000, "pGONE", "1", 0, "");
    assert_success(app.push_xml(&first, Mode::Safe).await).await;
    std::fs::remove_file(&app.db_path).unwrap();
    let second = get_card_xml("oAfter", 1_700_000_001, "pGONE", "2", 0, "");
    assert_rejected(
        app.push_xml(&second, Mode::Safe).await,
        503,
        "storage_unavailable",
    )
    .await;
    let (appid, _) = account_for(Mode::Safe);
    assert_eq!(app.metrics.pushes(appid, "none", "storage_unavailable"), 1);
    assert_eq!(app.admin_get("/readyz").await.status(), 503);

    // A file put back at the path (a restored backup) is not the file the connections have open:
    // still 503 until a restart, never a `success` written into the unlinked one.
    std::fs::write(&app.db_path, b"").unwrap();
    assert_rejected(
        app.push_xml(&second, Mode::Safe).await,
        503,
        "storage_unavailable",
    )
    .await;
    let ready = app.admin_get("/readyz").await;
    assert_eq!(ready.status(), 503);
    assert!(ready.text().await.unwrap().contains("replaced"));
}
