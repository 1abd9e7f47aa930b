//! One writer on SQLite: every write of `serve` takes a turn on the writer thread (`store::db`), so
//! none waits on SQLite's busy handler. With the busy handler cut to 1 ms, a write that met the
//! writer's lock would fail at once ("database is locked"); under a steady stream of pushes the
//! worker's claims and recorded activations never do.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use cardhook::config::Activation;
use cardhook::wechat::Mode;
use cardhook::worker::outcome::JobOutcome;
use cardhook::worker::Outcome;

use crate::support::fixtures::{assert_success, get_card_xml};
use crate::support::{account_for, member_card, spawn_app_with};

const ACTIVATIONS: usize = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_worker_never_meets_a_locked_database_while_pushes_stream_in() {
    let app = Arc::new(
        spawn_app_with(|s| {
            s.cards = vec![member_card("pACT", Activation::OnGet, "{code}")];
            s.database.busy_timeout_ms = 1;
            s.worker.concurrency = 4;
        })
        .await,
    );
    app.fake_wechat.token_ok("T", 7200, None).await;
    app.fake_wechat.activate_ok().await;
    let now = chrono::Utc::now().timestamp();
    for code in 0..ACTIVATIONS {
        let xml = get_card_xml(&format!("oA{code}"), now, "pACT", &code.to_string(), 0, "");
        assert_success(app.push_xml(&xml, Mode::Safe).await).await;
    }

    // Four clients keep the writer busy with pushes of a card that needs no activation.
    let stop = Arc::new(AtomicBool::new(false));
    let stored = Arc::new(AtomicU64::new(0));
    let mut load = Vec::new();
    for client in 0..4 {
        let (app, stop, stored) = (app.clone(), stop.clone(), stored.clone());
        load.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let openid = format!("oL{client}_{n}");
                let xml = get_card_xml(&openid, now, "pLOAD", &format!("{client}{n}"), 0, "");
                assert_success(app.push_xml(&xml, Mode::Safe).await).await;
                stored.fetch_add(1, Ordering::Relaxed);
                n += 1;
            }
        }));
    }
    while stored.load(Ordering::Relaxed) < 50 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }

    // Every activation is due by then (a job runs from its push's arrival).
    let due = chrono::Utc::now().timestamp() + 60;
    let mut done = 0;
    let mut rounds = 0;
    while done < ACTIVATIONS {
        rounds += 1;
        assert!(
            rounds < 400,
            "the worker made no progress: {done} of {ACTIVATIONS} done"
        );
        // A claim that met the writer's lock fails the round; an activation that could not be
        // recorded comes back as RetryLater.
        match app
            .worker
            .run_once(due)
            .await
            .expect("claimed without a locked database")
        {
            Outcome::Ran(outcomes) => {
                for outcome in outcomes {
                    assert_eq!(
                        outcome,
                        JobOutcome::Done,
                        "recorded without a locked database"
                    );
                    done += 1;
                }
            }
            Outcome::Empty => panic!("jobs went missing: {done} of {ACTIVATIONS} done"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.expect("every push under load answered success");
    }
    assert!(
        stored.load(Ordering::Relaxed) >= 50,
        "the writer was busy the whole time"
    );
    let appid = account_for(Mode::Safe).0;
    for code in 0..ACTIVATIONS {
        let binding = app.binding(appid, "pACT", &code.to_string()).await;
        assert_eq!(binding.map(|b| b.status), Some("activated".to_owned()));
    }
}

/// A write granted the writer's turn runs on a connection no read can hold: with every pooled
/// connection taken by reads (long stats, dashboards), it still runs at once and hands the turn
/// back, where on the pool it would wait for a connection while the writer waits for it.
#[tokio::test]
async fn a_write_with_the_turn_runs_while_reads_hold_the_whole_pool() {
    use cardhook::store::{self, db, Db};
    use sea_orm::{ConnectionTrait, TransactionTrait};
    use std::time::Duration;

    let dir = tempfile::tempdir().unwrap();
    let mut settings = cardhook::config::Settings::defaults().unwrap();
    settings.database.url = secrecy::SecretString::from(format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("pool.db").display()
    ));
    settings.database.max_connections = 2;
    settings.database.busy_timeout_ms = 3_000;
    let pool = store::connect(&settings.database).await.unwrap();
    pool.execute_unprepared("CREATE TABLE scratch (x INTEGER)")
        .await
        .unwrap();
    let (turns, mut requests) = db::turns();
    let db = Db::with_turns(
        pool.clone(),
        store::turn_connection(&settings.database, &dir.path().join("pool.db")),
        turns,
    );
    // Reads hold both of the pool's connections.
    let held = (pool.begin().await.unwrap(), pool.begin().await.unwrap());
    let write = tokio::spawn({
        let db = db.clone();
        async move {
            db.execute_unprepared("INSERT INTO scratch VALUES (1)")
                .await
        }
    });
    // The writer's side: grant the turn, wait at most 2 s for it back (the pool would make the
    // write wait 3 s for a connection, then fail).
    let turn = tokio::time::timeout(Duration::from_secs(10), requests.next())
        .await
        .expect("the write asked for a turn")
        .unwrap();
    assert!(
        turn.grant(Duration::from_secs(2)).await,
        "the turn came back"
    );
    write.await.unwrap().expect("the write ran");
    drop(held);
    let row = pool
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            "SELECT COUNT(*) AS n FROM scratch",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get::<i64>("", "n").unwrap(), 1);
}
