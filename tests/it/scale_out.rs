//! Several instances behind one URL: three `cardhook serve` processes started together on one
//! PostgreSQL database behind nginx, encrypted pushes from several clients that retry as WeChat
//! does, one instance SIGKILLed mid-run. Afterwards each distinct event is stored once, counters
//! are exact, each code was activated once (a repeat only where the kill cut an answer off), and
//! the three instances fetched one access_token between them.

use std::time::Duration;

use sea_orm::Database;

use crate::support::backend::{Backend, TestDatabase};
use crate::support::burst::{
    activation_fake, assert_consistent, assert_feed, jobs_settle, safe_account, worker_config,
    Burst, BurstSpec, FeedFollower,
};
use crate::support::nginx::Nginx;
use crate::support::process::{write_config, ServeProcess};

const SPEC: BurstSpec = BurstSpec {
    events: 1500,
    clients: 8,
    channels: 5,
    card_id: "pSCALE",
    redeliver_every: 10,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_behind_nginx_lose_nothing_and_count_nothing_twice() {
    let fake = activation_fake(Duration::from_millis(20)).await;
    let account = safe_account();
    let appid = account.appid.as_str();
    let dir = tempfile::tempdir().unwrap();
    let pg = TestDatabase::create(Backend::Postgres, dir.path()).await;
    let config = write_config(dir.path(), &pg.url, &fake.uri(), &worker_config(SPEC));

    // Started together: their migrations take turns on an advisory lock.
    let mut instances =
        futures_util::future::join_all((0..3).map(|_| ServeProcess::start(&config, "warn"))).await;
    let upstreams: Vec<String> = instances.iter().map(|s| s.callback.clone()).collect();
    let nginx = Nginx::start(dir.path(), &upstreams).await;
    let follower = FeedFollower::start(&pg.url);
    let burst = Burst::start(
        SPEC,
        &account,
        format!("http://{}/wechat/{appid}", nginx.addr),
    );
    // Lose one instance a third of the way through.
    while burst
        .acknowledged
        .load(std::sync::atomic::Ordering::Relaxed)
        < SPEC.events / 3
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let killed = instances.remove(0);
    let killed_addr = killed.callback.clone();
    killed.kill_hard().await;
    let (acknowledged, retried) = burst.finish().await;
    assert_eq!(acknowledged, SPEC.events);
    let answered = nginx.answered_by(200);
    assert_eq!(
        answered.len(),
        3,
        "every instance answered pushes: {answered:?}"
    );

    let db = Database::connect(&pg.url).await.unwrap();
    let settled = jobs_settle(&db, Duration::from_secs(60)).await;
    let mut logs = String::new();
    for serve in instances {
        serve.terminate().await;
        let (status, log) = serve.wait().await;
        assert!(status.success(), "{log}");
        logs.push_str(&log);
    }
    assert!(settled, "jobs did not settle\n{logs}");
    // At most 8 activations answered but unrecorded in the killed instance: a round running and
    // the round before it, being recorded meanwhile (worker.concurrency = 4).
    assert_feed(&db, SPEC, &follower.finish().await).await;
    let (calls, repeated) = assert_consistent(&db, SPEC, &fake, 8).await;
    assert_eq!(
        fake.token_requests().await.len(),
        1,
        "one access_token fetch for one expiry across three instances"
    );
    println!(
        "scale-out test: {} pushes over 3 instances {answered:?}, {killed_addr} killed, {retried} acknowledged after a retry, {calls} activation calls ({repeated} repeated)",
        SPEC.events
    );
    nginx.stop().await;
    db.close().await.unwrap();
    pg.drop_database().await;
}
