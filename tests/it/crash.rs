//! Crash consistency: the real binary is SIGKILLed at random moments during a burst of encrypted
//! pushes and activations, restarted, and driven on; clients retry unanswered pushes as WeChat does.
//! Afterwards every acknowledged push is stored exactly once, bindings and counters equal what the
//! stored events imply, and every activation job is done.

use std::time::Duration;

use rand::Rng;
use sea_orm::Database;

use crate::support::burst::{
    activation_fake, assert_consistent, assert_feed, jobs_settle, safe_account, worker_config,
    Burst, BurstSpec, FeedFollower,
};
use crate::support::process::{sqlite_url, write_config, ServeProcess};

const KILLS: usize = 6;
const SPEC: BurstSpec = BurstSpec {
    events: 2000,
    clients: 8,
    channels: 7,
    card_id: "pCRASH",
    redeliver_every: 10,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_pushes_and_activations_loses_nothing_acknowledged() {
    let fake = activation_fake(Duration::from_millis(30)).await;
    let account = safe_account();
    let appid = account.appid.as_str();
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("cardhook.db");
    let db_url = sqlite_url(&db_path);
    let config = write_config(dir.path(), &db_url, &fake.uri(), &worker_config(SPEC));

    let mut serve = ServeProcess::start(&config, "warn").await;
    let follower = FeedFollower::start(&db_url);
    let burst = Burst::start(
        SPEC,
        &account,
        format!("http://{}/wechat/{appid}", serve.callback),
    );
    // Kill at random moments while the burst (and the activations it enqueues) run; restart each time.
    for _ in 0..KILLS {
        let wait = rand::thread_rng().gen_range(150..600);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        serve.kill_hard().await;
        serve = ServeProcess::start(&config, "warn").await;
        *burst.url.write().await = format!("http://{}/wechat/{appid}", serve.callback);
    }
    let (acknowledged, retried) = burst.finish().await;
    assert_eq!(acknowledged, SPEC.events);

    // Let the worker settle every job, then stop cleanly.
    let db = Database::connect(&db_url).await.unwrap();
    let settled = jobs_settle(&db, Duration::from_secs(60)).await;
    serve.terminate().await;
    let (status, log) = serve.wait().await;
    assert!(settled, "jobs did not settle\n{log}");
    assert!(status.success(), "{log}");
    // At each kill at most 8 activations are answered but unrecorded: the worker bounds them to
    // 2 × worker.concurrency (4) — the ones running and the ones being recorded.
    assert_feed(&db, SPEC, &follower.finish().await).await;
    let (calls, repeated) = assert_consistent(&db, SPEC, &fake, KILLS * 8).await;
    println!(
        "crash test: {} pushes acknowledged and stored once, {retried} after a retry, {KILLS} kills, {calls} activation calls ({repeated} repeated after a kill)",
        SPEC.events
    );
}
