//! Crash consistency: the real binary is SIGKILLed at random moments during a burst of encrypted
//! pushes and activations, restarted, and driven on; clients retry unanswered pushes as WeChat does.
//! Afterwards every acknowledged push is stored exactly once, bindings and counters equal what the
//! stored events imply, and every activation job is done.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cardhook::accounts::Accounts;
use cardhook::wechat::Mode;
use entity::{card_binding, card_event, channel_day, job};
use rand::Rng;
use sea_orm::{ColumnTrait, Database, EntityTrait, PaginatorTrait, QueryFilter};
use tokio::sync::RwLock;

use crate::support::fake_wechat::FakeWeChat;
use crate::support::fixtures::get_card_xml;
use crate::support::process::ServeProcess;
use crate::support::{account_for, account_settings, KEY_B};

const EVENTS: usize = 2000;
const CLIENTS: usize = 8;
const KILLS: usize = 6;
const CHANNELS: usize = 7;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_pushes_and_activations_loses_nothing_acknowledged() {
    let fake = FakeWeChat::start().await;
    fake.token_ok("T", 7200, None).await;
    fake.activate_delay(Duration::from_millis(30), 100_000)
        .await;
    let (appid, token) = account_for(Mode::Safe);
    let dir = tempfile::tempdir().unwrap();
    let (config, db_path) = crate::support::process::write_config(dir.path(), &fake.uri(), "[worker]\nlease_secs = 2\napi_timeout_ms = 500\npoll_interval_ms = 100\nretry_schedule_secs = [1, 1, 1, 1, 1, 1, 1, 1]\n[[cards]]\ncard_id = \"pCRASH\"\nmembership_number = \"C{seq:6}\"\n");
    let accounts =
        Accounts::from_settings(&[account_settings(appid, token, Some(KEY_B), Mode::Safe)])
            .unwrap();
    let account = accounts.get(appid).unwrap().clone();

    let serve = ServeProcess::start(&config, "warn").await;
    let url = Arc::new(RwLock::new(format!(
        "http://{}/wechat/{appid}",
        serve.callback
    )));
    let next = Arc::new(AtomicUsize::new(0));
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let answered_after_retry = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let (account, url, next, acknowledged, retried) = (
            account.clone(),
            url.clone(),
            next.clone(),
            acknowledged.clone(),
            answered_after_retry.clone(),
        );
        clients.push(tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= EVENTS {
                    return;
                }
                let code = format!("{i:06}");
                let xml = get_card_xml(
                    &format!("o{code}"),
                    1_700_000_000 + (i as i64 % 50),
                    "pCRASH",
                    &code,
                    (i % CHANNELS) as i64,
                    "",
                );
                // WeChat retries an unanswered push (new timestamp and nonce, same message) until it is answered.
                for attempt in 0.. {
                    let now = chrono::Utc::now().timestamp();
                    let sealed = account
                        .sealer()
                        .seal(&xml, Mode::Safe, now, &attempt.to_string(), &[3; 16])
                        .unwrap();
                    let target = url.read().await.clone();
                    let answer = http
                        .post(format!("{target}?{}", sealed.query))
                        .body(sealed.body)
                        .send()
                        .await;
                    if let Ok(r) = answer {
                        if r.status() == 200 && r.text().await.unwrap_or_default() == "success" {
                            acknowledged.fetch_add(1, Ordering::Relaxed);
                            if attempt > 0 {
                                retried.fetch_add(1, Ordering::Relaxed);
                            }
                            break;
                        }
                    }
                    assert!(attempt < 2000, "push {code} never answered");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }));
    }

    // Kill at random moments while the burst (and the activations it enqueues) run; restart each time.
    let mut serve = serve;
    for _ in 0..KILLS {
        let wait = rand::thread_rng().gen_range(150..600);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        serve.kill_hard().await;
        serve = ServeProcess::start(&config, "warn").await;
        *url.write().await = format!("http://{}/wechat/{appid}", serve.callback);
    }
    for client in clients {
        client.await.unwrap();
    }
    assert_eq!(acknowledged.load(Ordering::Relaxed), EVENTS);

    // Let the worker settle every job, then stop cleanly.
    let db = Database::connect(format!("sqlite://{}?mode=rw", db_path.display()))
        .await
        .unwrap();
    let settled = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let open = job::Entity::find()
                .filter(job::Column::State.is_in(["pending", "running"]))
                .count(&db)
                .await
                .unwrap();
            if open == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    serve.terminate().await;
    let (status, log) = serve.wait().await;
    assert!(settled.is_ok(), "jobs did not settle\n{log}");
    assert!(status.success(), "{log}");

    // Every acknowledged push exactly once (clients retried until acknowledged, so: all of them).
    let events = card_event::Entity::find()
        .filter(card_event::Column::CardId.eq("pCRASH"))
        .all(&db)
        .await
        .unwrap();
    assert_eq!(events.len(), EVENTS, "stored events");
    let mut by_code: HashMap<String, usize> = HashMap::new();
    for e in &events {
        *by_code.entry(e.code.clone().unwrap()).or_default() += 1;
    }
    assert!(by_code.values().all(|n| *n == 1));
    // Bindings and counters equal what the stored events imply, recomputed from card_event.
    assert_eq!(
        card_binding::Entity::find().count(&db).await.unwrap() as usize,
        EVENTS
    );
    let mut expected: BTreeMap<i64, i64> = BTreeMap::new();
    for e in &events {
        *expected.entry(e.outer_id).or_default() += 1;
    }
    let mut got: BTreeMap<i64, i64> = BTreeMap::new();
    let mut activated = 0;
    for row in channel_day::Entity::find().all(&db).await.unwrap() {
        *got.entry(row.outer_id).or_default() += row.got;
        activated += row.activated;
    }
    assert_eq!(got, expected, "channel counters");
    // Every job done, every binding activated, counted once.
    let jobs = job::Entity::find().all(&db).await.unwrap();
    assert_eq!(jobs.len(), EVENTS);
    assert!(
        jobs.iter().all(|j| j.state == "done"),
        "{:?}",
        jobs.iter().find(|j| j.state != "done")
    );
    assert_eq!(activated as usize, EVENTS);
    let active = card_binding::Entity::find()
        .filter(card_binding::Column::Status.eq("activated"))
        .count(&db)
        .await
        .unwrap();
    assert_eq!(active as usize, EVENTS);
    // A second activation of a code only where a kill cut an activation's answer off.
    let calls = fake.activate_requests().await;
    let mut per_code: HashMap<String, usize> = HashMap::new();
    for (body, _) in &calls {
        *per_code
            .entry(body["code"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    let repeated: usize = per_code.values().map(|n| n - 1).sum();
    assert_eq!(per_code.len(), EVENTS);
    assert!(
        repeated <= KILLS * 4,
        "{repeated} repeated activations for {KILLS} kills (4 in flight at most each)"
    );
    println!(
        "crash test: {EVENTS} pushes acknowledged and stored once, {} after a retry, {KILLS} kills, {} activation calls ({repeated} repeated after a kill)",
        answered_after_retry.load(Ordering::Relaxed),
        calls.len()
    );
}
