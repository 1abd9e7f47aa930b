//! Issue 34, at the till, end to end against the stateful fake WeChat (`support::fake_till`):
//! a consume once per idempotency key (admin API, the CLI as a second instance, two requests at
//! once on SQLite and PostgreSQL), the push that follows counted once, WeChat's refusals as
//! 409/410/404 with their errcode, a code taken back and one given a new code moving the ledger,
//! a card deleted.

use std::path::PathBuf;
use std::time::Duration;

use cardhook::wechat::Mode;
use entity::member;
use reqwest::Method;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};

use crate::admin::documented;
use crate::support::backend::Backend;
use crate::support::fake_till::FakeTill;
use crate::support::fixtures::{assert_success, code_event_xml, get_card_xml};
use crate::support::process::{run_cli, run_cli_ok, write_config};
use crate::support::{account_for, spawn_app, spawn_app_on, TestApp};

/// The admin paths of the till, checked against the OpenAPI document here.
pub const TILL_PATHS: [&str; 2] = ["/api/v1/codes/consume", "/api/v1/codes/{code}"];

const CARD: &str = "pTillCard";

fn appid() -> &'static str {
    account_for(Mode::Safe).0
}

/// A CLI configuration on the app's database and fake WeChat API (the safe account).
fn cli_config(app: &TestApp) -> PathBuf {
    let db = format!("sqlite://{}?mode=rwc", app.db_path.display());
    write_config(app.dir.path(), &db, &app.fake_wechat.uri(), "")
}

/// An app with a token, the fake till, and `code` got by `openid` through channel `outer_str`
/// (a push) and held by WeChat as NORMAL.
async fn till_with_code(
    backend: Backend,
    code: &str,
    openid: &str,
    outer_str: &str,
) -> (TestApp, FakeTill) {
    let app = spawn_app_on(backend, |_| {}).await;
    app.fake_wechat.token_ok("TOKEN", 7200, None).await;
    let till = FakeTill::mount(&app.fake_wechat).await;
    got(&app, &till, code, openid, outer_str).await;
    (app, till)
}

async fn got(app: &TestApp, till: &FakeTill, code: &str, openid: &str, outer_str: &str) {
    let now = chrono::Utc::now().timestamp();
    let xml = get_card_xml(openid, now, CARD, code, 0, outer_str);
    assert_success(app.push_xml(&xml, Mode::Safe).await).await;
    till.hold(code, CARD, openid, "NORMAL");
}

/// Member `member_no` (imported) bound to `code`, as a finished binding leaves it (setup).
async fn member_bound_to(app: &TestApp, member_no: &str, code: &str, openid: &str) {
    // A phone of the member's own (phones are unique among an account's members).
    let phone = format!("1380013{}", &code[code.len() - 4..]);
    let report = crate::members::import(
        app,
        &format!("member_no,phone,name,bonus,balance\n{member_no},{phone},Li,120,5000\n"),
    )
    .await;
    assert_eq!(report["inserted"], 1, "{report}");
    member::Entity::update_many()
        .col_expr(member::Column::Openid, Expr::value(openid))
        .col_expr(member::Column::CardId, Expr::value(CARD))
        .col_expr(member::Column::Code, Expr::value(code))
        .col_expr(member::Column::BoundAt, Expr::value(1_700_000_000_i64))
        .filter(member::Column::MemberNo.eq(member_no))
        .exec(&app.db)
        .await
        .unwrap();
}

/// POST a consume for the safe account (the test app has several).
async fn consume(app: &TestApp, mut body: Value) -> (u16, Value) {
    body["appid"] = appid().into();
    let response = app
        .admin_json(Method::POST, "/api/v1/codes/consume", &body)
        .await;
    documented(response, "/api/v1/codes/consume", "post").await
}

async fn consume_calls(app: &TestApp) -> usize {
    app.fake_wechat
        .requests_to("/card/code/consume")
        .await
        .len()
}

/// The account's `consumed`, summed over every channel.
async fn consumed_in_all(app: &TestApp) -> i64 {
    let stats: Value = app
        .admin_get(&format!("/api/v1/stats/channels?appid={}", appid()))
        .await
        .json()
        .await
        .unwrap();
    stats["totals"]["consumed"].as_i64().unwrap()
}

async fn feed_types(app: &TestApp, kind: &str) -> Vec<Value> {
    let feed: Value = app
        .admin_get(&format!("/api/v1/events?type={kind}"))
        .await
        .json()
        .await
        .unwrap();
    feed["events"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_consume_counts_at_once_and_its_key_and_its_push_count_nothing_twice() {
    let (app, till) = till_with_code(Backend::Sqlite, "100001", "oTill1", "till-7").await;
    member_bound_to(&app, "M-7", "100001", "oTill1").await;

    let order = json!({"code": "100001", "card_id": CARD, "idempotency_key": "pos7-0001"});
    let (status, first) = consume(&app, order.clone()).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(
        first,
        json!({"code": "100001", "card_id": CARD, "openid": "oTill1", "consumed": true, "member_no": "M-7"})
    );
    assert_eq!(till.consumes_of("100001"), 1);
    // The exact request WeChat documents.
    assert_eq!(
        app.fake_wechat.bodies("/card/code/consume").await,
        [json!({"code": "100001", "card_id": CARD})]
    );
    // Counted at once, in the channel the code came through.
    let binding = app.binding(appid(), CARD, "100001").await.unwrap();
    assert_eq!(binding.status, "consumed");
    assert_eq!(app.channel(appid(), 0, "till-7").await.consumed, 1);

    // A retry with the key: the first answer, no call.
    let (status, again) = consume(&app, order.clone()).await;
    assert_eq!((status, &again), (200, &first));
    // The CLI is another cardhook process on the same database: the same.
    let config = cli_config(&app);
    let out = run_cli_ok(
        "codes",
        &config,
        &[
            "consume",
            "--code",
            "100001",
            "--card-id",
            CARD,
            "--idempotency-key",
            "pos7-0001",
            "--json",
        ],
    )
    .await;
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), first);
    assert_eq!(consume_calls(&app).await, 1);

    // WeChat's push of that consume: recorded, published, counted nothing more.
    let now = chrono::Utc::now().timestamp();
    let push = code_event_xml("user_consume_card", "oTill1", now, CARD, "100001");
    assert_success(app.push_xml(&push, Mode::Safe).await).await;
    assert_eq!(app.channel(appid(), 0, "till-7").await.consumed, 1);
    assert_eq!(
        consumed_in_all(&app).await,
        1,
        "counted in no other channel either"
    );
    assert_eq!(feed_types(&app, "card.consumed").await.len(), 1);

    // A new key for the consumed code: WeChat's 40099 as 409, and that answer kept for the key.
    let (status, refused) = consume(
        &app,
        json!({"code": "100001", "card_id": CARD, "idempotency_key": "pos7-0002"}),
    )
    .await;
    assert_eq!(
        (
            status,
            refused["error"].as_str(),
            refused["errcode"].as_i64()
        ),
        (409, Some("code_consumed"), Some(40099)),
        "{refused}"
    );
    let (status, _) = consume(
        &app,
        json!({"code": "100001", "card_id": CARD, "idempotency_key": "pos7-0002"}),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(consume_calls(&app).await, 2);
    assert_eq!(till.consumes_of("100001"), 1);
    assert_eq!(app.channel(appid(), 0, "till-7").await.consumed, 1);

    // A key is for one code.
    let (status, body) = consume(
        &app,
        json!({"code": "100009", "idempotency_key": "pos7-0001"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("idempotency_key"),
        "{body}"
    );

    // The till's check: consumed, not consumable, the member.
    let response = app
        .admin_get(&format!(
            "/api/v1/codes/100001?card_id={CARD}&appid={}",
            appid()
        ))
        .await;
    let (status, check) = documented(response, "/api/v1/codes/{code}", "get").await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            check["status"].as_str(),
            check["can_consume"].as_bool(),
            check["ledger_status"].as_str(),
            check["member_no"].as_str()
        ),
        (Some("CONSUMED"), Some(false), Some("consumed"), Some("M-7"))
    );
    app.shutdown().await;
}

#[tokio::test]
async fn refusals_are_409_410_404_with_their_errcode_and_bad_orders_400() {
    let (app, till) = till_with_code(Backend::Sqlite, "200001", "oTill2", "till-8").await;
    till.hold("200002", CARD, "oTill2", "DELETE");
    let cases = [
        ("200002", 410, "code_gone", 40127),
        ("299999", 404, "code_unknown", 40056),
    ];
    for (code, status, error, errcode) in cases {
        let order = json!({"code": code, "card_id": CARD, "idempotency_key": format!("k-{code}")});
        for _ in 0..2 {
            let (got, body) = consume(&app, order.clone()).await;
            assert_eq!(
                (got, body["error"].as_str(), body["errcode"].as_i64()),
                (status, Some(error), Some(errcode)),
                "{body}"
            );
        }
    }
    // Each refusal asked WeChat once; the retries were answered from the key.
    assert_eq!(consume_calls(&app).await, 2);
    for bad in [
        json!({"code": "200001", "card_id": CARD}),
        json!({"code": "200001", "idempotency_key": ""}),
        json!({"code": "200001", "idempotency_key": "has space"}),
        json!({"code": "200001", "idempotency_key": "k".repeat(65)}),
        json!({"code": "", "idempotency_key": "k-empty"}),
        json!({"code": "200001", "idempotency_key": "k-x", "extra": 1}),
    ] {
        let (status, body) = consume(&app, bad.clone()).await;
        assert_eq!(status, 400, "{bad} → {body}");
    }
    assert_eq!(consume_calls(&app).await, 2);
    assert_eq!(
        app.binding(appid(), CARD, "200001").await.unwrap().status,
        "got"
    );
    let unauthenticated = app
        .client
        .post(format!("http://{}/api/v1/codes/consume", app.admin_addr))
        .json(&json!({"code": "200001", "idempotency_key": "k-anon"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
    assert_eq!(till.consumes_of("200001"), 0);
    app.shutdown().await;
}

#[tokio::test]
async fn two_tills_with_one_key_at_once_consume_once_on_sqlite_and_postgresql() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let (app, till) = till_with_code(backend, "300001", "oTill3", "till-9").await;
        till.delay_consumes(Duration::from_millis(300));
        let order = json!({"code": "300001", "card_id": CARD, "idempotency_key": "race-1"});
        let (a, b) = tokio::join!(consume(&app, order.clone()), consume(&app, order.clone()));
        assert_eq!((a.0, b.0), (200, 200), "{backend:?}: {a:?} {b:?}");
        assert_eq!(a.1, b.1);
        assert_eq!(consume_calls(&app).await, 1, "{backend:?}");
        assert_eq!(till.consumes_of("300001"), 1);
        assert_eq!(
            app.channel(appid(), 0, "till-9").await.consumed,
            1,
            "{backend:?}"
        );
        app.shutdown().await;
    }
}

#[tokio::test]
async fn an_encrypted_code_is_decrypted_before_its_consume() {
    let (app, till) = till_with_code(Backend::Sqlite, "400001", "oTill4", "till-4").await;
    let config = cli_config(&app);
    let out = run_cli_ok(
        "codes",
        &config,
        &["consume", "--code", "ENC:400001", "--encrypted", "--json"],
    )
    .await;
    let answer: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (answer["code"].as_str(), answer["card_id"].as_str()),
        (Some("400001"), Some(CARD))
    );
    assert_eq!(till.consumes_of("400001"), 1);
    assert_eq!(
        app.binding(appid(), CARD, "400001").await.unwrap().status,
        "consumed"
    );
    // The CLI's check of a code, as a table.
    till.hold("400002", CARD, "oTill4", "NORMAL");
    let out = run_cli_ok("codes", &config, &["check", "--code", "400002"]).await;
    assert!(
        out.contains("status        NORMAL") && out.contains("can_consume   true"),
        "{out}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_code_taken_back_ends_its_binding_and_a_new_code_keeps_its_member() {
    let app = spawn_app().await;
    app.fake_wechat.token_ok("TOKEN", 7200, None).await;
    let till = FakeTill::mount(&app.fake_wechat).await;
    got(&app, &till, "500001", "oTill5", "till-5").await;
    got(&app, &till, "500002", "oTill6", "till-5").await;
    member_bound_to(&app, "M-5", "500001", "oTill5").await;
    let config = cli_config(&app);

    // Taken back: no card id needed (the ledger knows the code).
    let out = run_cli_ok(
        "codes",
        &config,
        &[
            "unavailable",
            "--code",
            "500001",
            "--reason",
            "left the club",
        ],
    )
    .await;
    assert!(out.contains("member M-5 unbound"), "{out}");
    assert_eq!(
        app.fake_wechat.bodies("/card/code/unavailable").await,
        [json!({"code": "500001", "card_id": CARD, "reason": "left the club"})]
    );
    assert_eq!(till.code("500001").unwrap().status, "UNAVAILABLE");
    assert_eq!(
        app.binding(appid(), CARD, "500001").await.unwrap().status,
        "revoked"
    );
    let m = member::Entity::find_by_id((appid().to_owned(), "M-5".to_owned()))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (m.code, m.openid, m.bonus, m.balance),
        (None, None, 120, 5000)
    );
    assert_eq!(app.channel(appid(), 0, "till-5").await.revoked, 1);
    let revoked = feed_types(&app, "card.revoked").await;
    assert_eq!(revoked.len(), 1);
    assert_eq!(
        revoked[0]["data"],
        json!({"card_id": CARD, "code": "500001", "openid": "oTill5", "member_no": "M-5", "reason": "left the club"})
    );
    // Again: WeChat refuses (40127), nothing moves twice.
    let again = run_cli("codes", &config, &["unavailable", "--code", "500001"]).await;
    assert!(!again.status.success());
    assert_eq!(app.channel(appid(), 0, "till-5").await.revoked, 1);
    assert_eq!(feed_types(&app, "card.revoked").await.len(), 1);
    // The stats show the counter (JSON; the CSV's columns stay as they were).
    let stats = run_cli_ok("stats", &config, &["--format", "json"]).await;
    let stats: Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(stats["totals"]["revoked"], 1, "{stats}");

    // A new code: the ledger and the member follow.
    member_bound_to(&app, "M-6", "500002", "oTill6").await;
    run_cli_ok(
        "codes",
        &config,
        &["update", "--code", "500002", "--new-code", "500003"],
    )
    .await;
    assert!(app.binding(appid(), CARD, "500002").await.is_none());
    let moved = app.binding(appid(), CARD, "500003").await.unwrap();
    assert_eq!(
        (moved.openid.as_str(), moved.outer_str.as_str()),
        ("oTill6", "till-5")
    );
    let m = member::Entity::find_by_id((appid().to_owned(), "M-6".to_owned()))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.code.as_deref(), Some("500003"));
    assert_eq!(till.code("500003").unwrap().openid, "oTill6");

    // A card deleted only with --yes.
    let refused = run_cli("card", &config, &["delete", "--card-id", CARD]).await;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--yes"));
    assert!(till.deleted_cards().is_empty());
    run_cli_ok("card", &config, &["delete", "--card-id", CARD, "--yes"]).await;
    assert!(till.deleted_cards().contains(CARD));
    let list = run_cli_ok("card", &config, &["list", "--format", "json"]).await;
    let cards: Value = serde_json::from_str(&list).unwrap();
    let card = cards["cards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["card_id"] == CARD)
        .cloned()
        .unwrap();
    assert_eq!(card["status"], "CARD_STATUS_DELETE");
    app.shutdown().await;
}

/// The OpenIDs `/card/user/getcardlist` was asked about, in order.
async fn card_list_asks(app: &TestApp) -> Vec<String> {
    app.fake_wechat
        .bodies("/card/user/getcardlist")
        .await
        .iter()
        .map(|b| b["openid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_backfill_records_the_codes_the_ledger_missed_and_leaves_the_rest_alone() {
    let app = spawn_app().await;
    app.fake_wechat.token_ok("TOKEN", 7200, None).await;
    let till = FakeTill::mount(&app.fake_wechat).await;
    // Three codes arrived by push; two more were got while cardhook was down.
    for code in ["600001", "600002", "600003"] {
        got(&app, &till, code, "oBack", "poster-1").await;
    }
    till.hold("600004", CARD, "oBack", "NORMAL");
    till.hold("600005", "pOtherCard", "oBack", "NORMAL");
    let pushed: Vec<_> = {
        let mut rows = Vec::new();
        for code in ["600001", "600002", "600003"] {
            rows.push(app.binding(appid(), CARD, code).await.unwrap());
        }
        rows
    };
    let counters = app.channel(appid(), 0, "poster-1").await;
    let config = cli_config(&app);

    let out = run_cli_ok(
        "bindings",
        &config,
        &["backfill", "--openid", "oBack", "--json"],
    )
    .await;
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (
            &report["openids"],
            &report["codes"],
            &report["known"],
            &report["backfilled"]
        ),
        (&json!(1), &json!(5), &json!(3), &json!(2)),
        "{report}"
    );
    assert_eq!(
        app.fake_wechat.bodies("/card/user/getcardlist").await,
        [json!({"openid": "oBack"})]
    );
    for (card_id, code) in [(CARD, "600004"), ("pOtherCard", "600005")] {
        let b = app.binding(appid(), card_id, code).await.unwrap();
        assert_eq!(
            (
                b.source.as_str(),
                b.status.as_str(),
                b.openid.as_str(),
                b.outer_str.as_str()
            ),
            ("backfill", "got", "oBack", "")
        );
    }
    for before in &pushed {
        let after = app
            .binding(appid(), &before.card_id, &before.code)
            .await
            .unwrap();
        assert_eq!(
            &after, before,
            "a binding a push recorded is left as it was"
        );
    }
    // No counter anywhere: the day they were got is unknown.
    assert_eq!(app.channel(appid(), 0, "poster-1").await, counters);
    assert_eq!(app.channel(appid(), 0, "").await.got, 0);
    // The binding's JSON says where it came from.
    let shown = run_cli_ok(
        "binding",
        &config,
        &["--card-id", CARD, "--code", "600004", "--format", "json"],
    )
    .await;
    let shown: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown[0]["source"], "backfill", "{shown}");
    // Again: nothing new.
    let out = run_cli_ok(
        "bindings",
        &config,
        &["backfill", "--openid", "oBack", "--card-id", CARD, "--json"],
    )
    .await;
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (&report["codes"], &report["known"], &report["backfilled"]),
        (&json!(4), &json!(4), &json!(0))
    );
    app.shutdown().await;
}

#[tokio::test]
async fn an_interrupted_backfill_resumes_where_it_stopped() {
    let app = spawn_app().await;
    app.fake_wechat.token_ok("TOKEN", 7200, None).await;
    let till = FakeTill::mount(&app.fake_wechat).await;
    for (code, openid) in [("700001", "oA"), ("700002", "oB"), ("700003", "oC")] {
        till.hold(code, CARD, openid, "NORMAL");
    }
    let list = app.dir.path().join("openids.txt");
    std::fs::write(&list, "oA\noB\n\noC\n").unwrap();
    let list = list.display().to_string();
    let config = cli_config(&app);
    till.fail_openid("oB", true);
    let failed = run_cli("bindings", &config, &["backfill", "--openids", &list]).await;
    assert!(!failed.status.success());
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(stderr.contains("1 OpenID(s) not answered"), "{stderr}");
    assert!(!stderr.contains("oB"), "no OpenID in the message: {stderr}");
    assert!(app.binding(appid(), CARD, "700001").await.is_some());
    assert!(app.binding(appid(), CARD, "700002").await.is_none());
    till.fail_openid("oB", false);
    let out = run_cli_ok(
        "bindings",
        &config,
        &["backfill", "--openids", &list, "--json"],
    )
    .await;
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (
            &report["skipped"],
            &report["openids"],
            &report["backfilled"]
        ),
        (&json!(2), &json!(1), &json!(1))
    );
    // oA and oC once each, oB twice (failed, then asked again alone).
    let asked = card_list_asks(&app).await;
    assert_eq!(asked, ["oA", "oB", "oC", "oB"]);
    assert!(app.binding(appid(), CARD, "700002").await.is_some());
    // That run went to its end: the next one asks everyone again.
    run_cli_ok("bindings", &config, &["backfill", "--openids", &list]).await;
    assert_eq!(card_list_asks(&app).await.len(), 7);
    app.shutdown().await;
}

#[tokio::test]
async fn a_lost_answer_is_never_kept_as_already_consumed_for_its_own_key() {
    let (app, till) = till_with_code(Backend::Sqlite, "900001", "oLost", "till-l").await;
    // WeChat consumes, but its answer comes after the client's timeout (500 ms in tests).
    till.delay_consumes(Duration::from_millis(900));
    let order = json!({"code": "900001", "card_id": CARD, "idempotency_key": "lost-1"});
    let (status, first) = consume(&app, order.clone()).await;
    assert_eq!(
        (status, first["error"].as_str()),
        (502, Some("wechat_api_error")),
        "{first}"
    );
    assert_eq!(till.consumes_of("900001"), 1);
    till.delay_consumes(Duration::ZERO);
    // The retry asks again and WeChat says consumed: maybe by the lost attempt — said so, not kept.
    for _ in 0..2 {
        let (status, again) = consume(&app, order.clone()).await;
        assert_eq!(
            (status, again["error"].as_str(), again["errcode"].as_i64()),
            (409, Some("code_consumed_maybe_by_this_key"), Some(40099)),
            "{again}"
        );
    }
    let row = entity::code_consume::Entity::find_by_id((appid().to_owned(), "lost-1".to_owned()))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.state, "pending");
    assert_eq!(till.consumes_of("900001"), 1);
    app.shutdown().await;
}
