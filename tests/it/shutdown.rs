//! SIGTERM during a burst of pushes and activations: every push answered `success` is stored, the
//! process exits 0, and no job is left `running`.

use std::sync::Arc;
use std::time::Duration;

use cardhook::accounts::Accounts;
use cardhook::wechat::Mode;
use entity::{card_event, job};
use sea_orm::{ColumnTrait, Database, EntityTrait, PaginatorTrait, QueryFilter};
use tokio::sync::Mutex;

use crate::support::fake_wechat::FakeWeChat;
use crate::support::fixtures::get_card_xml;
use crate::support::process::ServeProcess;
use crate::support::{account_for, account_settings, KEY_B};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_burst_loses_no_acknowledged_push() {
    let fake = FakeWeChat::start().await;
    fake.token_ok("T", 7200, None).await;
    // Activations take a while, so some are running when the signal comes.
    fake.activate_delay(Duration::from_millis(200), 1_000).await;
    let (appid, token) = account_for(Mode::Safe);
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("cardhook.db");
    let config = crate::support::process::write_config(
        dir.path(),
        &crate::support::process::sqlite_url(&db_path),
        &fake.uri(),
        "[worker]\ndrain_timeout_secs = 5\n[[cards]]\ncard_id = \"pBURST\"\n",
    );
    let serve = ServeProcess::start(&config, "info").await;
    let health = reqwest::get(format!("http://{}/healthz", serve.admin))
        .await
        .unwrap();
    assert_eq!(
        health.status(),
        200,
        "the admin listener is up beside the callback one"
    );
    let accounts =
        Accounts::from_settings(&[account_settings(appid, token, Some(KEY_B), Mode::Safe)])
            .unwrap();
    let account = accounts.get(appid).unwrap().clone();
    let url = format!("http://{}/wechat/{appid}", serve.callback);
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));

    let mut clients = Vec::new();
    for client_id in 0..8 {
        let (account, url, acknowledged, sent) = (
            account.clone(),
            url.clone(),
            acknowledged.clone(),
            sent.clone(),
        );
        clients.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            for i in 0..100 {
                let code = format!("{client_id}{i:04}");
                let now = chrono::Utc::now().timestamp();
                let xml = get_card_xml(&format!("o{code}"), now, "pBURST", &code, 0, "burst");
                let sealed = account
                    .sealer()
                    .seal(&xml, Mode::Safe, now, "7", &[1; 16])
                    .unwrap();
                sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let response = http
                    .post(format!("{url}?{}", sealed.query))
                    .body(sealed.body)
                    .send()
                    .await;
                let Ok(response) = response else { return };
                let ok = response.status() == 200;
                if ok && response.text().await.unwrap_or_default() == "success" {
                    acknowledged.lock().await.push(code);
                } else {
                    // Refused or cut off by the shutdown: WeChat would retry; nothing was promised.
                    return;
                }
            }
        }));
    }
    // Signal in the middle of the burst.
    while sent.load(std::sync::atomic::Ordering::Relaxed) < 200 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    serve.terminate().await;
    for client in clients {
        client.await.unwrap();
    }
    let (status, log) = serve.wait().await;
    assert!(status.success(), "exit status {status}\n{log}");

    let db = Database::connect(format!("sqlite://{}?mode=rw", db_path.display()))
        .await
        .unwrap();
    let acknowledged = acknowledged.lock().await.clone();
    assert!(
        acknowledged.len() >= 150,
        "too few pushes before the signal: {}",
        acknowledged.len()
    );
    for code in &acknowledged {
        let stored = card_event::Entity::find()
            .filter(card_event::Column::Code.eq(code.as_str()))
            .count(&db)
            .await
            .unwrap();
        assert_eq!(
            stored, 1,
            "push {code} was answered success but is not stored"
        );
    }
    let running = job::Entity::find()
        .filter(job::Column::State.eq("running"))
        .count(&db)
        .await
        .unwrap();
    assert_eq!(running, 0, "a job was left running\n{log}");
    let jobs = job::Entity::find().count(&db).await.unwrap();
    assert_eq!(
        jobs as usize,
        card_event::Entity::find().count(&db).await.unwrap() as usize
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_at_once() {
    let fake = FakeWeChat::start().await;
    fake.token_ok("T", 7200, None).await;
    // An activation that will still be running when the signals come, with a long drain allowed.
    fake.activate_delay(Duration::from_secs(20), 10).await;
    let dir = tempfile::tempdir().unwrap();
    let extra = "[worker]\napi_timeout_ms = 30000\nlease_secs = 200\ndrain_timeout_secs = 60\n[[cards]]\ncard_id = \"pSLOW\"\n";
    let db_url = crate::support::process::sqlite_url(&dir.path().join("cardhook.db"));
    let config = crate::support::process::write_config(dir.path(), &db_url, &fake.uri(), extra);
    let serve = ServeProcess::start(&config, "info").await;
    push_get_card(&serve, "oSlow", "pSLOW", "1").await;
    while fake.activate_requests().await.is_empty() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    serve.terminate().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    serve.terminate().await;
    let (status, log) = serve.wait().await;
    assert_eq!(status.code(), Some(130), "{log}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "did not exit at once\n{log}"
    );
    assert!(log.contains("second signal"), "{log}");
}

/// Push one sealed `user_get_card` to a serve process (the safe test account) and require `success`.
async fn push_get_card(serve: &ServeProcess, openid: &str, card_id: &str, code: &str) {
    let (appid, token) = account_for(Mode::Safe);
    let accounts =
        Accounts::from_settings(&[account_settings(appid, token, Some(KEY_B), Mode::Safe)])
            .unwrap();
    let now = chrono::Utc::now().timestamp();
    let xml = get_card_xml(openid, now, card_id, code, 0, "");
    let sealed = accounts
        .get(appid)
        .unwrap()
        .sealer()
        .seal(&xml, Mode::Safe, now, code, &[2; 16])
        .unwrap();
    let url = format!("http://{}/wechat/{appid}?{}", serve.callback, sealed.query);
    let answer = reqwest::Client::new()
        .post(url)
        .body(sealed.body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_running_past_the_drain_and_claimed_ahead_go_back_to_the_queue() {
    let fake = FakeWeChat::start().await;
    fake.token_ok("T", 7200, None).await;
    fake.activate_delay(Duration::from_secs(20), 10).await;
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("cardhook.db");
    // One slot: the first job runs (past the 1 s drain), the second waits claimed ahead.
    let extra = "[worker]\nconcurrency = 1\napi_timeout_ms = 30000\nlease_secs = 200\ndrain_timeout_secs = 1\n[[cards]]\ncard_id = \"pHELD\"\n";
    let db_url = crate::support::process::sqlite_url(&db_path);
    let config = crate::support::process::write_config(dir.path(), &db_url, &fake.uri(), extra);
    let serve = ServeProcess::start(&config, "info").await;
    push_get_card(&serve, "oHeld1", "pHELD", "1").await;
    push_get_card(&serve, "oHeld2", "pHELD", "2").await;
    let db = Database::connect(&db_url).await.unwrap();
    let running = || {
        job::Entity::find()
            .filter(job::Column::State.eq("running"))
            .count(&db)
    };
    while fake.activate_requests().await.is_empty() || running().await.unwrap() < 2 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    serve.terminate().await;
    let (status, log) = serve.wait().await;
    assert_eq!(status.code(), Some(0), "{log}");
    assert_eq!(
        log.matches("released an unfinished job").count(),
        2,
        "{log}"
    );
    let states: Vec<String> = job::Entity::find()
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.state)
        .collect();
    assert_eq!(states, ["pending", "pending"]);
    assert_eq!(
        fake.activate_requests().await.len(),
        1,
        "the second never started"
    );
}
