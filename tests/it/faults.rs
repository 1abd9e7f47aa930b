//! Storage faults: the database unreachable, the disk full, the schema behind. Pushes get 503
//! (WeChat retries), never `success`; nothing acknowledged is lost; the process stays up,
//! readiness says why, and it recovers by itself once the fault clears — no restart.

use std::time::Duration;

use cardhook::wechat::Mode;
use migration::{Migrator, MigratorTrait};
use secrecy::SecretString;

use crate::support::backend::{Backend, TestDatabase};
use crate::support::faults::{CuttableProxy, Tmpfs};
use crate::support::fixtures::{assert_success, get_card_xml};
use crate::support::{assert_rejected, spawn_app_with, TestApp};

/// WeChat's behaviour: send the same push again until it is answered `success`.
async fn retry_until_success(app: &TestApp, xml: &str) {
    for _ in 0..60 {
        if app.push_xml(xml, Mode::Safe).await.status() == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("the push was never acknowledged after the fault cleared");
}

async fn readiness(app: &TestApp) -> (u16, String) {
    let response = app.admin_get("/readyz").await;
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn an_unreachable_postgres_gets_503_and_recovers_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    let pg = TestDatabase::create(Backend::Postgres, dir.path()).await;
    let mut url = url::Url::parse(&pg.url).unwrap();
    let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let proxy = CuttableProxy::start(target.parse().unwrap()).await;
    url.set_port(Some(proxy.addr.port())).unwrap();
    let app = spawn_app_with(|s| {
        s.database.url = SecretString::from(url.to_string());
        s.database.busy_timeout_ms = 500;
        s.server.storage_timeout_ms = 3000;
    })
    .await;
    let xml = |code: &str| get_card_xml("oPgDown", 1_700_000_000, "pPGDOWN", code, 0, "pg");
    assert_success(app.push_xml(&xml("1"), Mode::Safe).await).await;

    proxy.cut();
    assert_rejected(
        app.push_xml(&xml("2"), Mode::Safe).await,
        503,
        "storage_unavailable",
    )
    .await;
    let (status, body) = readiness(&app).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        app.admin_get("/healthz").await.status().is_success(),
        "the process stays up"
    );

    proxy.restore();
    retry_until_success(&app, &xml("2")).await;
    let (status, body) = readiness(&app).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.event_count().await, 2);
    app.shutdown().await;
    pg.drop_database().await;
}

#[tokio::test]
async fn a_full_disk_gets_503_and_recovers_when_space_returns() {
    let mnt = tempfile::tempdir().unwrap();
    let tmpfs = Tmpfs::mount(mnt.path(), "1m");
    let db_file = mnt.path().join("full.db");
    let app = spawn_app_with(|s| {
        s.database.url = SecretString::from(format!("sqlite://{}?mode=rwc", db_file.display()));
        s.server.storage_timeout_ms = 3000;
    })
    .await;
    // One push at a time (one commit each) until the disk is full.
    let mut acknowledged: u64 = 0;
    let mut refused = None;
    for i in 0..2000 {
        let xml = get_card_xml(
            &format!("oFull{i}"),
            1_700_000_000 + i,
            "pFULL",
            &format!("{i}"),
            0,
            "full",
        );
        let response = app.push_xml(&xml, Mode::Safe).await;
        if response.status() == 200 {
            acknowledged += 1;
            continue;
        }
        assert_rejected(response, 503, "storage_unavailable").await;
        refused = Some(xml);
        break;
    }
    let refused = refused.expect("a 1 MiB disk fills up within 2000 pushes");
    assert!(acknowledged > 0);
    let (status, body) = readiness(&app).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("last commit failed"), "{body}");
    assert!(app.admin_get("/healthz").await.status().is_success());
    assert_eq!(
        app.event_count().await,
        acknowledged,
        "every acknowledged push is stored"
    );

    tmpfs.resize("64m");
    retry_until_success(&app, &refused).await;
    let (status, body) = readiness(&app).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.event_count().await, acknowledged + 1);
    app.shutdown().await;
    drop(tmpfs);
}

#[tokio::test]
async fn readiness_reports_pending_migrations() {
    let app = spawn_app_with(|_| {}).await;
    assert_eq!(readiness(&app).await.0, 200);
    Migrator::down(&app.db, Some(1)).await.unwrap();
    let (status, body) = readiness(&app).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("1 migration(s) pending"), "{body}");
    Migrator::up(&app.db, None).await.unwrap();
    assert_eq!(readiness(&app).await.0, 200);
    app.shutdown().await;
}
