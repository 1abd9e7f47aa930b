//! Group commit stores a batch exactly as one-push-per-transaction would: the same events,
//! bindings, counters and jobs, whatever the mix and order of events in the batch — through the
//! writer's own SQLite connection (`sqlite_direct`) as through the pool; and a batch stays open
//! as long as `database.batch_wait_us` says.

use std::time::Duration;

use cardhook::activation::CardRules;
use cardhook::config::{Activation, DatabaseSettings, Settings, SqliteWriter};
use cardhook::store::events::{self, Incoming, RecordRules, Recorded};
use cardhook::store::sqlite_file::SqliteFile;
use cardhook::store::writer_db::WriterDb;
use cardhook::store::{self, channels};
use cardhook::wechat::events as parse;
use cardhook::wechat::ids::AppId;
use cardhook::wechat::Mode;
use entity::{card_binding, card_event, job};
use rand::{Rng, SeedableRng};
use sea_orm::{DatabaseConnection, EntityTrait, QueryOrder, TransactionTrait};
use secrecy::SecretString;

use crate::support::backend::{Backend, TestDatabase};
use crate::support::fixtures::{assert_success, code_event_xml, get_card_xml};
use crate::support::{member_card, spawn_app, spawn_app_with};

async fn fresh_db(backend: Backend, dir: &tempfile::TempDir) -> (DatabaseConnection, TestDatabase) {
    let (db, test_db, _) = fresh_db_with_settings(backend, dir).await;
    (db, test_db)
}

async fn fresh_db_with_settings(
    backend: Backend,
    dir: &tempfile::TempDir,
) -> (DatabaseConnection, TestDatabase, DatabaseSettings) {
    let test_db = TestDatabase::create(backend, dir.path()).await;
    let mut settings = Settings::defaults().unwrap();
    settings.database.url = SecretString::from(test_db.url.clone());
    let db = store::connect(&settings.database).await.unwrap();
    store::migrate(&db).await.unwrap();
    (db, test_db, settings.database)
}

/// The writers a batch is stored through: the writer's own SQLite connection, and the pool on
/// PostgreSQL and on SQLite.
const WRITERS: [(Backend, SqliteWriter); 3] = [
    (Backend::Sqlite, SqliteWriter::Thread),
    (Backend::Postgres, SqliteWriter::Pool),
    (Backend::Sqlite, SqliteWriter::Pool),
];

/// The ingest writer over `db`, as `writer` says.
fn writer_on(
    db: &DatabaseConnection,
    mut settings: DatabaseSettings,
    writer: SqliteWriter,
) -> WriterDb {
    settings.sqlite_writer = writer;
    let file = SqliteFile::of_database(&settings);
    WriterDb::for_settings(db.clone(), &settings, file.as_ref()).unwrap()
}

/// China's offset, and no card that activates.
fn rules_without_cards() -> RecordRules {
    RecordRules {
        offset: chrono::FixedOffset::east_opt(8 * 3600).unwrap(),
        cards: CardRules::default(),
    }
}

/// A random but plausible stream: gets (some redelivered, some gifts, some restores), deletes,
/// consumes, gifts, over a handful of codes so events collide.
fn stream(seed: u64) -> Vec<Incoming> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut out: Vec<Incoming> = Vec::new();
    for i in 0..120 {
        let code = format!("{}", rng.gen_range(0..12));
        let t = 1_700_000_000 + i;
        let xml = match rng.gen_range(0..10) {
            0..=3 => get_card_xml(
                &format!("o{code}"),
                t,
                "pMIX",
                &code,
                rng.gen_range(0..3),
                ["", "a", "b"][rng.gen_range(0..3)],
            ),
            4 => get_card_xml(&format!("o{code}"), t, "pMIX", &code, 0, "")
                .replace("<IsRestoreMemberCard>0", "<IsRestoreMemberCard>1"),
            5 => get_card_xml("oFriend", t, "pMIX", &format!("{code}g"), 0, "")
                .replace("<IsGiveByFriend>0", "<IsGiveByFriend>1")
                .replace(
                    "<OldUserCardCode><![CDATA[]]>",
                    &format!("<OldUserCardCode><![CDATA[{code}]]>"),
                ),
            6 => code_event_xml("user_del_card", &format!("o{code}"), t, "pMIX", &code),
            7 => code_event_xml("user_consume_card", &format!("o{code}"), t, "pMIX", &code),
            8 => code_event_xml("user_gifting_card", &format!("o{code}"), t, "pMIX", &code),
            // An exact redelivery of something already sent.
            _ if !out.is_empty() => {
                let again = out[rng.gen_range(0..out.len())].clone();
                out.push(again);
                continue;
            }
            _ => code_event_xml("user_view_card", "oV", t, "pMIX", &code),
        };
        out.push(Incoming {
            appid: AppId::from("wxbatch"),
            message: parse::parse(&xml).unwrap(),
            raw_xml: xml,
            received_at: t + 1,
        });
    }
    out
}

/// A `user_get_card` push of `code` to `openid`, through channel 7.
fn get_push(openid: &str, code: &str) -> Incoming {
    get_push_at(openid, code, 1_700_000_000, "batch")
}

/// A `user_get_card` push of `code` to `openid` at `time`, through channel (7, `outer_str`).
fn get_push_at(openid: &str, code: &str, time: i64, outer_str: &str) -> Incoming {
    let xml = get_card_xml(openid, time, "pBATCH", code, 7, outer_str);
    Incoming {
        appid: AppId::from("wxbatch"),
        message: parse::parse(&xml).unwrap(),
        raw_xml: xml,
        received_at: time + 1,
    }
}

async fn snapshot(
    db: &DatabaseConnection,
) -> (
    Vec<card_binding::Model>,
    Vec<channels::StatsRow>,
    Vec<String>,
    Vec<card_event::Model>,
) {
    // Batches insert events in key order, so ids differ; everything else must not.
    let events = card_event::Entity::find()
        .order_by_asc(card_event::Column::DedupeKey)
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| card_event::Model { id: 0, ..e })
        .collect();
    let bindings = card_binding::Entity::find()
        .order_by_asc(card_binding::Column::Code)
        .all(db)
        .await
        .unwrap();
    let query = channels::StatsQuery {
        by: channels::GroupBy::Day,
        ..Default::default()
    };
    let stats = channels::stats(db, &query).await.unwrap().rows;
    let jobs = job::Entity::find()
        .order_by_asc(job::Column::DedupKey)
        .all(db)
        .await
        .unwrap();
    (
        bindings,
        stats,
        jobs.into_iter().map(|j| j.payload).collect(),
        events,
    )
}

#[tokio::test]
async fn a_batch_equals_one_push_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let rules = RecordRules {
        offset: chrono::FixedOffset::east_opt(8 * 3600).unwrap(),
        cards: CardRules::from_settings(&[member_card("pMIX", Activation::OnGet, "M{seq:4}")]),
    };
    for (seed, (backend, writer)) in (0..9).zip(WRITERS.iter().cycle()) {
        let pushes = stream(seed);
        let (one_by_one, single_db) = fresh_db(*backend, &dir).await;
        let mut single_outcomes = Vec::new();
        for push in &pushes {
            let txn = one_by_one.begin().await.unwrap();
            single_outcomes.push(events::record(&txn, push, &rules).await.unwrap());
            txn.commit().await.unwrap();
        }
        let (batched, batch_db, settings) = fresh_db_with_settings(*backend, &dir).await;
        let through = writer_on(&batched, settings, *writer);
        assert_eq!(
            through.is_direct(),
            *backend == Backend::Sqlite && *writer == SqliteWriter::Thread
        );
        let mut batch_outcomes = Vec::new();
        for chunk in pushes.chunks(37) {
            let refs: Vec<&Incoming> = chunk.iter().collect();
            batch_outcomes.extend(through.store(&refs, &rules).await.unwrap());
        }
        assert_eq!(batch_outcomes, single_outcomes, "seed {seed}");
        assert!(
            single_outcomes.contains(&Recorded::Duplicate),
            "seed {seed} has redeliveries"
        );
        let (single, batch) = (snapshot(&one_by_one).await, snapshot(&batched).await);
        assert_eq!(batch.0, single.0, "bindings differ, seed {seed}");
        assert_eq!(batch.1, single.1, "counters differ, seed {seed}");
        assert_eq!(batch.2, single.2, "jobs differ, seed {seed}");
        assert_eq!(batch.3, single.3, "events differ, seed {seed}");
        assert!(!single.3.is_empty() && !single.2.is_empty(), "seed {seed}");
        drop(through);
        one_by_one.close().await.unwrap();
        batched.close().await.unwrap();
        single_db.drop_database().await;
        batch_db.drop_database().await;
    }
}

/// A code got again, in a batch with new codes, is re-pointed to its new holder and channel and
/// keeps what a get keeps (restored, membership, activation); the new codes beside it are stored
/// as they are.
#[tokio::test]
async fn a_code_got_again_in_a_batch_is_repointed_and_keeps_its_membership() {
    use sea_orm::ConnectionTrait;
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_without_cards();
    for (backend, writer) in WRITERS {
        let (db, test_db, settings) = fresh_db_with_settings(backend, &dir).await;
        let through = writer_on(&db, settings, writer);
        let first = [get_push("oA", "1"), get_push("oB", "2")];
        let refs: Vec<&Incoming> = first.iter().collect();
        through.store(&refs, &rules).await.unwrap();
        db.execute_unprepared(
            "UPDATE card_binding SET membership_number = 'M1', activated_at = 123, \
             restored = TRUE WHERE code = '1'",
        )
        .await
        .unwrap();
        let again = [
            get_push_at("oC", "1", 1_700_000_100, "again"),
            get_push_at("oD", "3", 1_700_000_100, "new"),
            get_push_at("oE", "4", 1_700_000_100, "new"),
        ];
        let refs: Vec<&Incoming> = again.iter().collect();
        assert_eq!(
            through.store(&refs, &rules).await.unwrap(),
            vec![Recorded::New; 3],
            "{backend:?} {writer:?}"
        );
        through.durable().await.unwrap();
        let (bindings, stats, _, events) = snapshot(&db).await;
        let holders: Vec<(&str, &str, &str, i64)> = bindings
            .iter()
            .map(|b| {
                (
                    b.code.as_str(),
                    b.openid.as_str(),
                    b.outer_str.as_str(),
                    b.got_at,
                )
            })
            .collect();
        assert_eq!(
            holders,
            [
                ("1", "oC", "again", 1_700_000_100),
                ("2", "oB", "batch", 1_700_000_000),
                ("3", "oD", "new", 1_700_000_100),
                ("4", "oE", "new", 1_700_000_100),
            ],
            "{backend:?} {writer:?}"
        );
        let regot = &bindings[0];
        assert_eq!(
            (
                regot.membership_number.as_deref(),
                regot.activated_at,
                regot.restored
            ),
            (Some("M1"), Some(123), true),
            "{backend:?} {writer:?}"
        );
        assert!(!bindings[1].restored && bindings[2].membership_number.is_none());
        assert_eq!(events.len(), 5, "{backend:?} {writer:?}");
        assert_eq!(
            stats.iter().map(|r| r.counts.got).sum::<i64>(),
            5,
            "{backend:?} {writer:?}"
        );
        drop(through);
        db.close().await.unwrap();
        test_db.drop_database().await;
    }
}

/// Two instances on one PostgreSQL database store the same event at once: the batch that loses
/// the race fails whole (nothing half-counted), and stored one push at a time — what the ingest
/// writer does next — each event is stored and counted once.
#[tokio::test]
async fn a_batch_racing_another_instance_fails_whole_then_stores_once() {
    use cardhook::store::StoreError;
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let dir = tempfile::tempdir().unwrap();
    let (db, test_db) = fresh_db(Backend::Postgres, &dir).await;
    let rules = rules_without_cards();
    let (k, l) = (get_push("oRace", "1001"), get_push("oRace", "1002"));
    // Instance A stores K and has not committed yet.
    let a = db.begin().await.unwrap();
    assert_eq!(
        events::record_batch(&a, &[&k], &rules).await.unwrap(),
        vec![Recorded::New]
    );
    // Instance B's batch [K, L] does not see K, and its insert waits on A's row.
    let b = {
        let (db, rules, k, l) = (db.clone(), rules.clone(), k.clone(), l.clone());
        tokio::spawn(async move {
            let txn = db.begin().await.unwrap();
            let outcome = events::record_batch(&txn, &[&k, &l], &rules).await;
            txn.rollback().await.unwrap();
            outcome
        })
    };
    let waiting = Statement::from_string(
        DbBackend::Postgres,
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()",
    );
    for _ in 0..500 {
        let row = db.query_one_raw(waiting.clone()).await.unwrap().unwrap();
        if row.try_get_by_index::<i64>(0).unwrap() > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    a.commit().await.unwrap();
    assert!(matches!(b.await.unwrap(), Err(StoreError::Race)));
    assert_eq!(
        events::record(&db, &k, &rules).await.unwrap(),
        Recorded::Duplicate
    );
    assert_eq!(
        events::record(&db, &l, &rules).await.unwrap(),
        Recorded::New
    );
    let stats = channels::stats(&db, &channels::StatsQuery::default())
        .await
        .unwrap();
    assert_eq!(stats.rows.len(), 1);
    assert_eq!(stats.rows[0].counts.got, 2);
    assert_eq!(
        entity::card_event::Entity::find()
            .all(&db)
            .await
            .unwrap()
            .len(),
        2
    );
    db.close().await.unwrap();
    test_db.drop_database().await;
}

/// The writer's multi-row inserts are `INSERT OR FAIL` on SQLite (no statement journal): a statement
/// that fails keeps the rows it wrote before the failure. The writer's transaction must then be
/// rolled back whole, never committed, on either SQLite writer; and the writer goes on storing.
#[tokio::test]
async fn a_statement_failing_midway_commits_none_of_its_rows() {
    use sea_orm::ConnectionTrait;
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_without_cards();
    for writer in [SqliteWriter::Thread, SqliteWriter::Pool] {
        let (db, test_db, settings) = fresh_db_with_settings(Backend::Sqlite, &dir).await;
        // FAIL, not ABORT: the rows inserted before this one stay in the statement, as under OR FAIL.
        db.execute_unprepared(
            "CREATE TRIGGER refuse_boom BEFORE INSERT ON card_event WHEN NEW.code = 'boom' \
             BEGIN SELECT RAISE(FAIL, 'boom refused'); END",
        )
        .await
        .unwrap();
        let through = writer_on(&db, settings, writer);
        // Rows are inserted in key order: the refused one is third of four, in one statement.
        let pushes = [
            get_push("oA", "1"),
            get_push("oB", "2"),
            get_push("oC", "boom"),
            get_push("oD", "4"),
        ];
        let refs: Vec<&Incoming> = pushes.iter().collect();
        let failed = through.store(&refs, &rules).await;
        assert!(
            failed
                .as_ref()
                .is_err_and(|e| e.to_string().contains("boom refused")),
            "{writer:?}: {failed:?}"
        );
        through.durable().await.unwrap();
        assert_eq!(snapshot(&db).await, Default::default(), "{writer:?}");
        // The writer's connection is usable again: the other pushes are stored, once.
        let good: Vec<&Incoming> = refs
            .iter()
            .copied()
            .filter(|p| p.message.event.code().is_some_and(|c| c.as_str() != "boom"))
            .collect();
        assert_eq!(
            through.store(&good, &rules).await.unwrap(),
            vec![Recorded::New; 3]
        );
        let (bindings, stats, _, events) = snapshot(&db).await;
        assert_eq!((bindings.len(), events.len()), (3, 3), "{writer:?}");
        assert_eq!(stats[0].counts.got, 3, "{writer:?}");
        drop(through);
        db.close().await.unwrap();
        test_db.drop_database().await;
    }
}

/// `database.batch_wait_us`: a batch stays open for the pushes arriving within the wait of its
/// first; without it (the default) a push commits as soon as the writer is free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_stays_open_for_the_configured_wait() {
    let xml = |i: usize| {
        get_card_xml(
            &format!("oWait{i}"),
            1_700_000_000,
            "pWAIT",
            &i.to_string(),
            0,
            "w",
        )
    };

    let app = spawn_app_with(|s| s.database.batch_wait_us = 2_000_000).await;
    let (one, two) = (xml(1), xml(2));
    let second_a_moment_later = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        app.push_xml(&two, Mode::Safe).await
    };
    let (first, second) = tokio::join!(app.push_xml(&one, Mode::Safe), second_a_moment_later);
    assert_success(first).await;
    assert_success(second).await;
    assert_eq!(app.metrics.commits(), (1, 2), "one commit held both pushes");
    app.shutdown().await;

    let app = spawn_app().await;
    for i in 1..=2 {
        assert_success(app.push_xml(&xml(i), Mode::Safe).await).await;
    }
    assert_eq!(
        app.metrics.commits(),
        (2, 2),
        "each push committed on its own"
    );
    assert_eq!(app.event_count().await, 2);
    app.shutdown().await;
}
