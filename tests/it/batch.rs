//! The SQLite writer's literal SQL (`store::sqlite_batch`) stores exactly what sea-orm stores
//! (`store::record`, the PostgreSQL writers' code), and group commit stores a batch exactly as one
//! push per transaction would: the same random push sequences go to the SQLite writer and to the
//! PostgreSQL writer in random batches, and to a one-push-at-a-time reference, and every table is
//! compared.

use cardhook::config::{Activation, Settings};
use cardhook::ingest;
use cardhook::jobs::CardRules;
use cardhook::store::channel_day;
use cardhook::store::push::{Incoming, JobsFor, NoJobs, Recorded};
use cardhook::store::{self, outbox, record, sqlite_batch, DatabaseFile};
use cardhook::wechat::events as parse;
use cardhook::wechat::ids::AppId;
use cardhook::wechat::Mode;
use entity::{
    card, card_binding, card_event, card_sequence, channel_day as channel_day_row, domain_event,
    job, mass_send_msg, member,
};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use sea_orm::{DatabaseConnection, EntityTrait, QueryOrder, TransactionTrait};
use secrecy::SecretString;
use serde_json::json;

use crate::support::backend::{Backend, TestDatabase};
use crate::support::fixtures::{assert_success, code_event_xml, get_card_xml};
use crate::support::{account_for, member_card, spawn_app};

const CHINA: i32 = 8 * 3600;

fn offset() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(CHINA).unwrap()
}

async fn fresh_db(backend: Backend, dir: &tempfile::TempDir) -> (DatabaseConnection, TestDatabase) {
    let test_db = TestDatabase::create(backend, dir.path()).await;
    let mut settings = Settings::defaults().unwrap();
    settings.database.url = SecretString::from(test_db.url.clone());
    let db = store::connect(&settings.database).await.unwrap();
    store::migrate(&db).await.unwrap();
    (db, test_db)
}

/// Where a batch is stored: the SQLite writer's own connection with its literal SQL, or sea-orm
/// in a transaction on the pool (PostgreSQL's writers).
enum Writer {
    Sqlite(rusqlite::Connection),
    SeaOrm(DatabaseConnection),
}

impl Writer {
    async fn on(backend: Backend, db: &DatabaseConnection, test_db: &TestDatabase) -> Self {
        match backend {
            Backend::Sqlite => {
                let path = DatabaseFile::path_in_url(&test_db.url).unwrap();
                let conn = ingest::sqlite::open(path, std::time::Duration::from_secs(5)).unwrap();
                Self::Sqlite(conn)
            }
            Backend::Postgres => Self::SeaOrm(db.clone()),
        }
    }

    /// Store `pushes` in one transaction, committed.
    async fn store(&mut self, pushes: &[&Incoming], jobs: &dyn JobsFor) -> Vec<Recorded> {
        match self {
            Self::Sqlite(conn) => {
                let txn = conn
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .unwrap();
                let stored = sqlite_batch::record_batch(&txn, pushes, offset(), jobs).unwrap();
                txn.commit().unwrap();
                stored.outcomes
            }
            Self::SeaOrm(db) => {
                let txn = db.begin().await.unwrap();
                let stored = record::record_batch(&txn, pushes, offset(), jobs)
                    .await
                    .unwrap();
                txn.commit().await.unwrap();
                stored.outcomes
            }
        }
    }
}

/// A member card activated on get with a sequence number, and one activated on the one-click form.
fn member_cards() -> CardRules {
    CardRules::from_settings(&[
        member_card("pMIX", Activation::OnGet, "M{seq:4}"),
        member_card("pFORM", Activation::OnSubmit, "F-{code}"),
    ])
}

/// A random but plausible stream: gets (some redelivered, some gifts, some restores), deletes,
/// consumes, gifts, over a handful of codes so events collide.
fn stream(seed: u64) -> Vec<Incoming> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut out: Vec<Incoming> = Vec::new();
    for i in 0..120 {
        let code = format!("{}", rng.gen_range(0..12));
        let t = 1_700_000_000 + i;
        let xml = match rng.gen_range(0..11) {
            0..=3 => {
                let xml = get_card_xml(
                    &format!("o{code}"),
                    t,
                    "pMIX",
                    &code,
                    rng.gen_range(0..3),
                    ["", "a", "b"][rng.gen_range(0..3)],
                );
                // A channel beyond 64 bits, or a field that does not read (issue 31): stored,
                // counted, the binding written from what did read.
                match rng.gen_range(0..8) {
                    0 => xml.replace(
                        "<OuterId>",
                        "<OuterId>12345678901234567890123",
                    ),
                    1 => xml.replace("<IsGiveByFriend>0", "<IsGiveByFriend>no"),
                    _ => xml,
                }
            }
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
            9 if rng.gen_bool(0.3) => {
                // A member card's points or balance changed, by WeChat or as the echo of an update.
                let (bonus, balance) =
                    [(5, 0), (0, 100), (-3, 100), (7, -250)][rng.gen_range(0..4)];
                code_event_xml("update_member_card", &format!("o{code}"), t, "pMIX", &code)
                    .replace(
                        "</xml>",
                        &format!(
                            "<ModifyBonus>{bonus}</ModifyBonus><ModifyBalance>{balance}</ModifyBalance></xml>"
                        ),
                    )
            }
            // A follow or scan of a follow QR code (one handing out two cards), or of an unknown one.
            10 if rng.gen_bool(0.3) => {
                let (event, key) = [
                    ("subscribe", "qrscene_poster"),
                    ("SCAN", "poster"),
                    ("SCAN", "elsewhere"),
                    ("subscribe", ""),
                ][rng.gen_range(0..4)];
                format!(
                    "<xml><ToUserName>gh</ToUserName><FromUserName>o{code}</FromUserName><CreateTime>{t}</CreateTime>\
                     <MsgType>event</MsgType><Event>{event}</Event><EventKey>{key}</EventKey></xml>"
                )
            }
            // A mass send's report, of a message id cardhook sent or not.
            10 if rng.gen_bool(0.3) => format!(
                "<xml><ToUserName>gh</ToUserName><FromUserName>oSys</FromUserName><CreateTime>{t}</CreateTime>\
                 <MsgType>event</MsgType><Event>MASSSENDJOBFINISH</Event><MsgID>{}</MsgID>\
                 <Status>{}</Status><TotalCount>{i}</TotalCount><SentCount>{}</SentCount><ErrorCount>1</ErrorCount></xml>",
                rng.gen_range(1..5),
                ["sendsuccess", "err(30003)"][rng.gen_range(0..2)],
                i / 2
            ),
            // A card's review, sometimes older than one already applied.
            10 if rng.gen_bool(0.4) => {
                let event = ["card_pass_check", "card_not_pass_check"][rng.gen_range(0..2)];
                let card = ["pMIX", "pOTHER"][rng.gen_range(0..2)];
                format!(
                    "<xml><ToUserName>gh</ToUserName><FromUserName>o</FromUserName><CreateTime>{}</CreateTime>\
                     <MsgType>event</MsgType><Event>{event}</Event><CardId>{card}</CardId>\
                     <RefuseReason>r{i}</RefuseReason></xml>",
                    t - rng.gen_range(0..30)
                )
            }
            9 if rng.gen_bool(0.5) => code_event_xml(
                "submit_membercard_user_info",
                &format!("o{code}"),
                t,
                "pFORM",
                &code,
            ),
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
            query_key: None,
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
        query_key: None,
    }
}

/// Every table a push writes, in key order, without the ids that insertion order decides.
#[derive(Debug, PartialEq)]
struct Tables {
    events: Vec<card_event::Model>,
    bindings: Vec<card_binding::Model>,
    counters: Vec<channel_day_row::Model>,
    jobs: Vec<job::Model>,
    sequences: Vec<card_sequence::Model>,
    members: Vec<member::Model>,
    cards: Vec<card::Model>,
    mass_msgs: Vec<mass_send_msg::Model>,
    /// The feed, in seq order: the same pushes in the same order are the same events and numbers.
    published: Vec<domain_event::Model>,
    /// The same, as the feed's readers get it.
    feed: Vec<outbox::FeedEvent>,
}

/// A follow QR code handing out two cards (scene `poster`), and a mass send of message ids 1 to 3.
async fn seed_messages(db: &DatabaseConnection) {
    use sea_orm::ConnectionTrait;
    for card_id in ["pMIX", "pFORM"] {
        db.execute_unprepared(&format!(
            "INSERT INTO channel (appid, card_id, outer_id, outer_str, name, kind, created_at, updated_at) \
             VALUES ('wxbatch', '{card_id}', 0, 'poster', 'Poster', 'follow_qrcode', 1, 1)"
        ))
        .await
        .unwrap();
    }
    // Named channels: one of the card, one of every card (a `card.got` names them).
    db.execute_unprepared(
        "INSERT INTO channel (appid, card_id, outer_id, outer_str, name, kind, created_at, updated_at) \
         VALUES ('wxbatch', 'pMIX', '1', 'a', '门店A', 'named', 1, 1), \
         ('wxbatch', '', '2', '', 'Every card 2', 'named', 1, 1), \
         ('wxbatch', '', '1', 'a', 'Not this one', 'named', 1, 1)",
    )
    .await
    .unwrap();
    db.execute_unprepared(
        "INSERT INTO mass_send (id, appid, card_id, name, target, created_at) \
         VALUES (1, 'wxbatch', 'pMIX', 'tag', 'tag:1', 1)",
    )
    .await
    .unwrap();
    for msg_id in 1..=3 {
        db.execute_unprepared(&format!(
            "INSERT INTO mass_send_msg (appid, msg_id, mass_send_id) VALUES ('wxbatch', {msg_id}, 1)"
        ))
        .await
        .unwrap();
    }
}

/// Members bound to most codes of the stream's card, some with the echo of an update pending (so
/// `update_member_card` pushes meet both an echo and a change of WeChat's own).
async fn seed_members(db: &DatabaseConnection) {
    use sea_orm::ConnectionTrait;
    for code in 0..10 {
        let (wechat, echo) = match code % 4 {
            0 => ("NULL, NULL", "NULL, NULL"),
            1 => ("10, 500", "5, NULL"),
            2 => ("20, 0", "-3, 100"),
            _ => ("0, 0", "NULL, 100"),
        };
        db.execute_unprepared(&format!(
            "INSERT INTO member (appid, member_no, phone, bonus, balance, openid, card_id, code, \
             bound_at, activated_at, wechat_bonus, wechat_balance, revision, \
             echo_bonus, echo_balance, created_at, updated_at) VALUES ('wxbatch', 'M{code}', \
             '1380000000{code}', 1, 2, 'o{code}', 'pMIX', '{code}', 1, 1, {wechat}, 0, {echo}, 1, 1)"
        ))
        .await
        .unwrap();
    }
}

async fn tables(db: &DatabaseConnection) -> Tables {
    let events = card_event::Entity::find()
        .order_by_asc(card_event::Column::DedupeKey)
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| card_event::Model { id: 0, ..e })
        .collect();
    let bindings = card_binding::Entity::find()
        .order_by_asc(card_binding::Column::Appid)
        .order_by_asc(card_binding::Column::CardId)
        .order_by_asc(card_binding::Column::Code)
        .all(db)
        .await
        .unwrap();
    let counters = channel_day_row::Entity::find()
        .order_by_asc(channel_day_row::Column::Appid)
        .order_by_asc(channel_day_row::Column::CardId)
        .order_by_asc(channel_day_row::Column::OuterId)
        .order_by_asc(channel_day_row::Column::OuterStr)
        .order_by_asc(channel_day_row::Column::Day)
        .all(db)
        .await
        .unwrap();
    let jobs = job::Entity::find()
        .order_by_asc(job::Column::DedupKey)
        .all(db)
        .await
        .unwrap()
        .into_iter()
        // A batch's jobs are queued at its first push's arrival: times depend on the batching.
        .map(|j| job::Model {
            id: 0,
            run_at: 0,
            created_at: 0,
            updated_at: 0,
            ..j
        })
        .collect();
    let sequences = card_sequence::Entity::find()
        .order_by_asc(card_sequence::Column::CardId)
        .all(db)
        .await
        .unwrap();
    let members = member::Entity::find()
        .order_by_asc(member::Column::MemberNo)
        .all(db)
        .await
        .unwrap();
    let cards = card::Entity::find()
        .order_by_asc(card::Column::CardId)
        .all(db)
        .await
        .unwrap();
    let mass_msgs = mass_send_msg::Entity::find()
        .order_by_asc(mass_send_msg::Column::MsgId)
        .all(db)
        .await
        .unwrap();
    let published = domain_event::Entity::find()
        .order_by_asc(domain_event::Column::Seq)
        .all(db)
        .await
        .unwrap();
    let filter = outbox::Filter {
        after: 0,
        limit: 100_000,
        ..Default::default()
    };
    let feed = outbox::page(db, &filter).await.unwrap();
    Tables {
        feed,
        published,
        events,
        bindings,
        counters,
        jobs,
        sequences,
        members,
        cards,
        mass_msgs,
    }
}

/// Store `pushes` one per transaction through sea-orm on a fresh SQLite file: the reference.
async fn reference(pushes: &[Incoming], dir: &tempfile::TempDir) -> (Vec<Recorded>, Tables) {
    let (db, _) = fresh_db(Backend::Sqlite, dir).await;
    seed_members(&db).await;
    seed_messages(&db).await;
    let mut outcomes = Vec::new();
    for push in pushes {
        let txn = db.begin().await.unwrap();
        outcomes.push(
            record::record(&txn, push, offset(), &member_cards())
                .await
                .unwrap(),
        );
        txn.commit().await.unwrap();
    }
    let tables = tables(&db).await;
    db.close().await.unwrap();
    (outcomes, tables)
}

/// Store `pushes` through `backend`'s writer in batches of the given sizes (cycled).
async fn batched(
    backend: Backend,
    pushes: &[Incoming],
    sizes: &[usize],
    dir: &tempfile::TempDir,
) -> (Vec<Recorded>, Tables) {
    let (db, test_db) = fresh_db(backend, dir).await;
    seed_members(&db).await;
    seed_messages(&db).await;
    let mut writer = Writer::on(backend, &db, &test_db).await;
    let mut outcomes = Vec::new();
    let mut rest: Vec<&Incoming> = pushes.iter().collect();
    for size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let batch: Vec<&Incoming> = rest.drain(..(*size).clamp(1, rest.len())).collect();
        outcomes.extend(writer.store(&batch, &member_cards()).await);
    }
    drop(writer);
    let tables = tables(&db).await;
    db.close().await.unwrap();
    test_db.drop_database().await;
    (outcomes, tables)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn both_writers_store_what_one_push_at_a_time_stores(
        seed in any::<u64>(),
        sizes in prop::collection::vec(1usize..80, 1..6),
    ) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let pushes = stream(seed);
            let (outcomes, expected) = reference(&pushes, &dir).await;
            assert!(outcomes.contains(&Recorded::Duplicate), "the stream has redeliveries");
            assert!(!expected.jobs.is_empty() && !expected.sequences.is_empty());
            // The feed as a reader gets it: a push's fields read from the push, its channel named.
            let feed = &expected.feed;
            assert_eq!(feed.len(), expected.published.len());
            let data = |kind: &str| -> Vec<&serde_json::Value> {
                feed.iter().filter(|e| e.kind == kind).map(|e| &e.data).collect()
            };
            // Each card.got names the channel registered for its card, else for every card.
            for got in data("card.got") {
                let key = (got["card_id"].as_str(), got["outer_id"].as_i64(), got["outer_str"].as_str());
                let expected_name = match key {
                    (Some("pMIX"), Some(1), Some("a")) => json!("门店A"),
                    (_, Some(2), Some("")) => json!("Every card 2"),
                    _ => json!(null),
                };
                assert_eq!(got["channel"], expected_name, "{got}");
            }
            assert!(!data("card.deleted").is_empty() && !data("card.consumed").is_empty());
            assert!(data("card.got").iter().all(|d| d["code"].is_string()), "every push's fields read back");
            for backend in [Backend::Sqlite, Backend::Postgres] {
                let (got_outcomes, got) = batched(backend, &pushes, &sizes, &dir).await;
                assert_eq!(got_outcomes, outcomes, "{backend:?}: outcomes");
                assert_eq!(got.events, expected.events, "{backend:?}: card_event");
                assert_eq!(got.bindings, expected.bindings, "{backend:?}: card_binding");
                assert_eq!(got.counters, expected.counters, "{backend:?}: channel_day");
                assert_eq!(got.jobs, expected.jobs, "{backend:?}: job");
                assert_eq!(got.sequences, expected.sequences, "{backend:?}: card_sequence");
                assert_eq!(got.members, expected.members, "{backend:?}: member");
                assert_eq!(got.cards, expected.cards, "{backend:?}: card");
                assert_eq!(got.mass_msgs, expected.mass_msgs, "{backend:?}: mass_send_msg");
                assert_eq!(got.published, expected.published, "{backend:?}: domain_event");
                assert_eq!(got.feed, expected.feed, "{backend:?}: the feed");
            }
        });
    }
}

/// A code got again, in a batch with new codes, is re-pointed to its new holder and channel and
/// keeps what a get keeps (restored, membership, activation); the new codes beside it are stored
/// as they are — on both writers.
#[tokio::test]
async fn a_code_got_again_in_a_batch_is_repointed_and_keeps_its_membership() {
    use sea_orm::ConnectionTrait;
    let dir = tempfile::tempdir().unwrap();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let (db, test_db) = fresh_db(backend, &dir).await;
        let mut writer = Writer::on(backend, &db, &test_db).await;
        let first = [get_push("oA", "1"), get_push("oB", "2")];
        let refs: Vec<&Incoming> = first.iter().collect();
        writer.store(&refs, &NoJobs).await;
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
            writer.store(&refs, &NoJobs).await,
            vec![Recorded::New; 3],
            "{backend:?}"
        );
        let Tables {
            bindings,
            counters,
            events,
            ..
        } = tables(&db).await;
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
            "{backend:?}"
        );
        let regot = &bindings[0];
        assert_eq!(
            (
                regot.membership_number.as_deref(),
                regot.activated_at,
                regot.restored
            ),
            (Some("M1"), Some(123), true),
            "{backend:?}"
        );
        assert!(!bindings[1].restored && bindings[2].membership_number.is_none());
        assert_eq!(events.len(), 5, "{backend:?}");
        assert_eq!(
            counters.iter().map(|r| r.got).sum::<i64>(),
            5,
            "{backend:?}"
        );
        drop(writer);
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
    let (k, l) = (get_push("oRace", "1001"), get_push("oRace", "1002"));
    // Instance A stores K and has not committed yet.
    let a = db.begin().await.unwrap();
    assert_eq!(
        record::record_batch(&a, &[&k], offset(), &NoJobs)
            .await
            .unwrap()
            .outcomes,
        vec![Recorded::New]
    );
    // Instance B's batch [K, L] does not see K, and its insert waits on A's row.
    let b = {
        let (db, k, l) = (db.clone(), k.clone(), l.clone());
        tokio::spawn(async move {
            let txn = db.begin().await.unwrap();
            let outcome = record::record_batch(&txn, &[&k, &l], offset(), &NoJobs).await;
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
        record::record(&db, &k, offset(), &NoJobs).await.unwrap(),
        Recorded::Duplicate
    );
    assert_eq!(
        record::record(&db, &l, offset(), &NoJobs).await.unwrap(),
        Recorded::New
    );
    let stats = channel_day::stats(&db, &channel_day::StatsQuery::default())
        .await
        .unwrap();
    assert_eq!(stats.rows.len(), 1);
    assert_eq!(stats.rows[0].counts.got, 2);
    assert_eq!(card_event::Entity::find().all(&db).await.unwrap().len(), 2);
    db.close().await.unwrap();
    test_db.drop_database().await;
}

/// A push that makes its batch fail (here a trigger refuses its code) is answered 503 and stores
/// nothing; the writer rolls the batch back whole, stores the others one by one, and they are
/// acknowledged and stored once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_that_fails_its_batch_fails_alone() {
    use sea_orm::ConnectionTrait;
    let app = spawn_app().await;
    app.db
        .execute_unprepared(
            "CREATE TRIGGER refuse_boom BEFORE INSERT ON card_event WHEN NEW.code = 'boom' \
             BEGIN SELECT RAISE(FAIL, 'boom refused'); END",
        )
        .await
        .unwrap();
    let xml = |code: &str| get_card_xml(&format!("o{code}"), 1_700_000_000, "pBOOM", code, 0, "b");
    let codes = ["1", "2", "boom", "4", "5", "6"];
    let answers = {
        let app = &app;
        futures_util::future::join_all(codes.iter().map(|code| {
            let xml = xml(code);
            async move { (code, app.push_xml(&xml, Mode::Safe).await) }
        }))
        .await
    };
    for (code, answer) in answers {
        if *code == "boom" {
            assert_eq!(answer.status(), 503, "the refused push");
        } else {
            assert_success(answer).await;
        }
    }
    let events = app.event_rows().await;
    assert_eq!(events.len(), 5);
    assert!(events.iter().all(|e| e.code.as_deref() != Some("boom")));
    assert_eq!(app.channel(account_for(Mode::Safe).0, 0, "b").await.got, 5);
    app.shutdown().await;
}

/// A plain-mode body replayed on a stored query, in a batch with a new push: the replay is dropped
/// and the batch stands — the query's uniqueness is not mistaken for another instance's race.
#[tokio::test]
async fn a_replayed_plain_query_in_a_batch_is_dropped_without_failing_the_batch() {
    let dir = tempfile::tempdir().unwrap();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let (db, test_db) = fresh_db(backend, &dir).await;
        let mut writer = Writer::on(backend, &db, &test_db).await;
        let with_query = |mut push: Incoming| {
            push.query_key = Some("wxbatch|1700000000|nonce".to_owned());
            push
        };
        let first = with_query(get_push("oPlain", "P1"));
        assert_eq!(writer.store(&[&first], &NoJobs).await, [Recorded::New]);
        // The same signed query with another body, beside a new push.
        let replay = with_query(get_push("oPlain", "P2"));
        let new = get_push("oOther", "S1");
        assert_eq!(
            writer.store(&[&new, &replay], &NoJobs).await,
            [Recorded::New, Recorded::Duplicate],
            "{backend:?}"
        );
        let events = card_event::Entity::find().all(&db).await.unwrap();
        let codes: Vec<_> = events.iter().filter_map(|e| e.code.clone()).collect();
        assert_eq!(codes, ["P1", "S1"], "{backend:?}");
    }
}
