//! Members' points and balance mirrored to WeChat exactly once (issue 24): `PUT
//! /api/v1/members/{member_no}`, `members update`, an import, the `update_member` job against a fake
//! WeChat that keeps each card's points and balance, `update_member_card` pushes, and `members
//! reconcile` — through the real app and the real binary.

use std::time::Duration;

use cardhook::config::{Activation, BindBy, CardSettings, UnknownMember};
use cardhook::wechat::Mode;
use cardhook::worker::outcome::JobOutcome;
use entity::member;
use reqwest::Method;
use sea_orm::{Database, DatabaseConnection, EntityTrait};
use serde_json::{json, Value};

use crate::members::import;
use crate::support::fake_member_cards::FakeMemberCards;
use crate::support::fake_wechat::FakeWeChat;
use crate::support::fixtures::{assert_success, code_event_xml};
use crate::support::process::{run_cli, run_cli_ok, sqlite_url, write_config, ServeProcess};
use crate::support::{account_for, member_card, spawn_app_with, TestApp};

pub(crate) const CARD: &str = "pSYNC";
pub(crate) const CODE: &str = "880001";
pub(crate) const PHONE: &str = "15521328888";
const UPDATEUSER: &str = "/card/membercard/updateuser";

fn appid() -> &'static str {
    account_for(Mode::Safe).0
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn sync_card() -> CardSettings {
    CardSettings {
        bind_by: Some(BindBy::Phone),
        unknown_member: UnknownMember::Refuse,
        ..member_card(CARD, Activation::OnSubmit, "N{seq:6}")
    }
}

/// The one-click form of `CODE` submitted by its holder.
fn submitted() -> String {
    code_event_xml(
        "submit_membercard_user_info",
        "oHolder",
        1_700_000_000,
        CARD,
        CODE,
    )
}

/// An app with member VIP-1 (100 points, 50.00 yuan) bound to card `CODE` and activated with
/// those values, through the one-click form; WeChat's member cards.
pub(crate) async fn bound_member() -> (TestApp, FakeMemberCards) {
    let app = spawn_app_with(|s| {
        s.cards = vec![sync_card()];
        s.worker.retry_schedule_secs = vec![10, 60];
        s.worker.retry_jitter = 0.0;
    })
    .await;
    app.fake_wechat.token_ok("T", 7200, None).await;
    let cards = FakeMemberCards::mount(&app.fake_wechat).await;
    cards.form_gives(CODE, PHONE);
    import(
        &app,
        &format!("member_no,phone,bonus,balance\nVIP-1,{PHONE},100,5000\n"),
    )
    .await;
    assert_success(app.push_xml(&submitted(), Mode::Safe).await).await;
    assert_eq!(
        app.drain_jobs(now()).await,
        vec![JobOutcome::Done, JobOutcome::Done],
        "bound, then activated"
    );
    assert_eq!(cards.shown(CODE), Some((100, 5000)));
    (app, cards)
}

/// PUT VIP-1's values: the status and the JSON answer, which is checked against the OpenAPI document.
async fn put_member(app: &TestApp, body: Value) -> (u16, Value) {
    let response = app
        .admin_json(
            Method::PUT,
            &format!("/api/v1/members/VIP-1?appid={}", appid()),
            &body,
        )
        .await;
    crate::admin::documented(response, "/api/v1/members/{member_no}", "put").await
}

async fn member_json(app: &TestApp) -> Value {
    let response = app
        .admin_get(&format!("/api/v1/members/VIP-1?appid={}", appid()))
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn stored(db: &DatabaseConnection) -> member::Model {
    member::Entity::find_by_id((appid().to_owned(), "VIP-1".to_owned()))
        .one(db)
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn an_update_refused_once_is_retried_and_lands_once() {
    let (app, cards) = bound_member().await;
    app.fake_wechat.answer_errcode(UPDATEUSER, -1, 1).await;
    let (status, member) = put_member(
        &app,
        json!({"bonus": 130, "record_bonus": "消费30元，获得30积分"}),
    )
    .await;
    assert_eq!(status, 202);
    assert_eq!(
        (&member["bonus"], &member["balance"], &member["synced"]),
        (&json!(130), &json!(5000), &json!(false)),
        "{member}"
    );
    let t = now();
    assert_eq!(app.drain_jobs(t).await, vec![JobOutcome::RetryLater]);
    assert_eq!(cards.shown(CODE), Some((100, 5000)), "-1 changed nothing");
    assert_eq!(app.drain_jobs(t + 10).await, vec![JobOutcome::Done]);
    assert_eq!(
        cards.shown(CODE),
        Some((130, 5000)),
        "the target, not twice the change"
    );
    assert_eq!(cards.messages(), vec![(CODE.to_owned(), 30, 0)]);
    let sent = app.fake_wechat.bodies(UPDATEUSER).await;
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0], sent[1], "the retry sends what the first call sent");
    assert_eq!(
        sent[1],
        json!({
            "code": CODE, "card_id": CARD, "bonus": 130, "add_bonus": 30,
            "record_bonus": "消费30元，获得30积分", "balance": 5000, "add_balance": 0,
            "notify_optional": {"is_notify_bonus": true, "is_notify_balance": false}
        })
    );
    let member = member_json(&app).await;
    assert_eq!(
        (&member["wechat_bonus"], &member["synced"]),
        (&json!(130), &json!(true)),
        "{member}"
    );
    assert_eq!(
        (
            app.metrics.member_updates("ok"),
            app.metrics.member_updates("error")
        ),
        (1, 1)
    );
    // Nothing left to send: the job is done and running it again calls nobody.
    assert_eq!(app.drain_jobs(t + 100).await, vec![]);
    assert_eq!(app.fake_wechat.bodies(UPDATEUSER).await.len(), 2);
}

#[tokio::test]
async fn an_update_whose_answer_was_lost_is_confirmed_not_sent_again() {
    let (app, cards) = bound_member().await;
    // WeChat takes the update, but its answer comes after the client gave up (500 ms).
    cards.slow_updates(1, Duration::from_secs(2));
    assert_eq!(put_member(&app, json!({"balance": 4500})).await.0, 202);
    let t = now();
    assert_eq!(app.drain_jobs(t).await, vec![JobOutcome::RetryLater]);
    assert_eq!(cards.shown(CODE), Some((100, 4500)));
    assert_eq!(app.drain_jobs(t + 10).await, vec![JobOutcome::Done]);
    assert_eq!(
        app.fake_wechat.bodies(UPDATEUSER).await.len(),
        1,
        "the retry read the card and found the update there"
    );
    assert_eq!(
        cards.messages(),
        vec![(CODE.to_owned(), 0, -500)],
        "one message"
    );
    assert_eq!(app.metrics.member_updates("already"), 1);
    assert_eq!(member_json(&app).await["synced"], true);
}

#[tokio::test]
async fn quick_updates_end_with_the_last_values_in_at_most_two_calls() {
    let (app, cards) = bound_member().await;
    // Two updates before the worker runs share one call.
    for bonus in [105, 110] {
        assert_eq!(put_member(&app, json!({"bonus": bonus})).await.0, 202);
    }
    assert_eq!(app.drain_jobs(now()).await, vec![JobOutcome::Done]);
    assert_eq!(app.fake_wechat.bodies(UPDATEUSER).await.len(), 1);
    assert_eq!(cards.shown(CODE), Some((110, 5000)));
    // An update made while a call is in flight is sent after it.
    cards.slow_updates(1, Duration::from_millis(300));
    assert_eq!(put_member(&app, json!({"bonus": 120})).await.0, 202);
    let t = now();
    let second = async {
        while app.fake_wechat.bodies(UPDATEUSER).await.len() < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        put_member(&app, json!({"bonus": 125, "balance": 4000})).await
    };
    let (outcomes, (status, _)) = tokio::join!(app.drain_jobs(t), second);
    assert_eq!(status, 202);
    assert!(
        outcomes.iter().all(|o| *o == JobOutcome::Done),
        "{outcomes:?}"
    );
    app.drain_jobs(t).await;
    let sent = app.fake_wechat.bodies(UPDATEUSER).await;
    assert_eq!(
        sent.len(),
        3,
        "one call per round, at most two for the pair: {sent:?}"
    );
    assert_eq!(
        (&sent[2]["bonus"], &sent[2]["balance"]),
        (&json!(125), &json!(4000))
    );
    assert_eq!(cards.shown(CODE), Some((125, 4000)));
    let member = member_json(&app).await;
    assert_eq!(member["synced"], true, "{member}");
}

/// An import that changes a member while its update is in flight (the call made, its answer not yet
/// recorded) is sent after it: the import gives the member a new revision, and the update's
/// confirmation sees it.
#[tokio::test]
async fn an_import_during_an_update_in_flight_is_sent_after_it() {
    let (app, cards) = bound_member().await;
    assert_eq!(put_member(&app, json!({"bonus": 120})).await.0, 202);
    cards.slow_updates(1, Duration::from_millis(300));
    let t = now();
    let calls_before = app.fake_wechat.bodies(UPDATEUSER).await.len();
    let import_meanwhile = async {
        while app.fake_wechat.bodies(UPDATEUSER).await.len() == calls_before {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        import(
            &app,
            &format!("member_no,phone,bonus,balance\nVIP-1,{PHONE},130,5000\n"),
        )
        .await
    };
    let (outcomes, report) = tokio::join!(app.drain_jobs(t), import_meanwhile);
    assert_eq!(report["updated"], 1, "{report}");
    assert!(
        outcomes.iter().all(|o| *o == JobOutcome::Done),
        "{outcomes:?}"
    );
    app.drain_jobs(t).await;
    let sent = app.fake_wechat.bodies(UPDATEUSER).await;
    assert_eq!(sent.last().unwrap()["bonus"], json!(130), "{sent:?}");
    assert_eq!(cards.shown(CODE), Some((130, 5000)));
    assert_eq!(member_json(&app).await["synced"], true);
}

#[tokio::test]
async fn a_refused_token_is_refreshed_once_and_the_update_lands() {
    let (app, cards) = bound_member().await;
    let tokens_before = app.fake_wechat.token_requests().await.len();
    app.fake_wechat.answer_errcode(UPDATEUSER, 40001, 1).await;
    assert_eq!(put_member(&app, json!({"bonus": 90})).await.0, 202);
    assert_eq!(app.drain_jobs(now()).await, vec![JobOutcome::Done]);
    assert_eq!(
        app.fake_wechat.token_requests().await.len(),
        tokens_before + 1
    );
    assert_eq!(app.fake_wechat.bodies(UPDATEUSER).await.len(), 2);
    assert_eq!(cards.shown(CODE), Some((90, 5000)));
    assert_eq!(cards.messages(), vec![(CODE.to_owned(), -10, 0)]);
}

#[tokio::test]
async fn bad_updates_get_a_clear_error_and_change_nothing() {
    let (app, _cards) = bound_member().await;
    for (body, status, words) in [
        (json!({}), 400, "nothing to change"),
        (
            json!({"bonus": -1}),
            400,
            "bonus must be between 0 and 2147483647",
        ),
        (
            json!({"balance": 2147483648_i64}),
            400,
            "balance must be between 0 and 2147483647",
        ),
        (json!({"bonus": "ten"}), 400, "bonus"),
        (
            json!({"bonus": 1.5}),
            400,
            "bonus: invalid type: floating point",
        ),
        (json!({"bonus": 1, "points": 2}), 400, "points"),
    ] {
        let (got, error) = put_member(&app, body.clone()).await;
        assert_eq!(got, status, "{body}");
        assert!(
            error["message"].as_str().unwrap().contains(words),
            "{body}: {error}"
        );
    }
    // Not UTF-8 inside a string (any Content-Type is read, as JSON).
    let not_utf8 = app
        .client
        .put(format!(
            "http://{}/api/v1/members/VIP-1?appid={}",
            app.admin_addr,
            appid()
        ))
        .bearer_auth(crate::support::ADMIN_TOKEN)
        .body(b"{\"bonus\": 1, \"record_bonus\": \"\xff\"}".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(not_utf8.status(), 400);
    let missing = app
        .admin_json(
            Method::PUT,
            &format!("/api/v1/members/NOPE?appid={}", appid()),
            &json!({"bonus": 1}),
        )
        .await;
    assert_eq!(missing.status(), 404);
    let member = stored(&app.db).await;
    assert_eq!((member.bonus, member.revision), (100, 0));
    assert!(app.job_rows().await.iter().all(|j| j.state == "done"));
}

#[tokio::test]
async fn a_whole_number_written_as_a_float_is_that_integer() {
    // JSON Schema's `integer` (the API description's) takes 101.0; so does the code.
    let (app, _cards) = bound_member().await;
    let (status, shown) = put_member(&app, json!({"bonus": 101.0, "balance": 2.5e3})).await;
    assert_eq!(
        (status, shown["bonus"].clone(), shown["balance"].clone()),
        (202, json!(101), json!(2500))
    );
    assert_eq!(stored(&app.db).await.bonus, 101);
}

#[tokio::test]
async fn update_member_card_pushes_move_what_wechat_shows_once() {
    let (app, cards) = bound_member().await;
    assert_eq!(put_member(&app, json!({"bonus": 130})).await.0, 202);
    assert_eq!(app.drain_jobs(now()).await, vec![JobOutcome::Done]);
    let push = |bonus: i64, balance: i64, time: i64| {
        code_event_xml("update_member_card", "oHolder", time, CARD, CODE).replace(
            "</xml>",
            &format!(
                "<ModifyBonus>{bonus}</ModifyBonus><ModifyBalance>{balance}</ModifyBalance></xml>"
            ),
        )
    };
    // The echo of cardhook's own update, redelivered: WeChat's values were already known.
    for _ in 0..2 {
        assert_success(app.push_xml(&push(30, 0, 1_700_000_100), Mode::Safe).await).await;
    }
    let member = stored(&app.db).await;
    assert_eq!((member.wechat_bonus, member.echo_bonus), (Some(130), None));
    // A change made at WeChat (a member's points spent there), redelivered: applied once.
    cards.set_shown(CODE, (110, 5000));
    for _ in 0..2 {
        assert_success(app.push_xml(&push(-20, 0, 1_700_000_200), Mode::Safe).await).await;
    }
    let member = member_json(&app).await;
    assert_eq!(
        (&member["bonus"], &member["wechat_bonus"], &member["synced"]),
        (&json!(130), &json!(110), &json!(false)),
        "{member}"
    );
    assert_eq!(app.event_count().await, 1 + 2, "each push stored once");
}

/// The echo of cardhook's own update may come before the update's answer is recorded: it is
/// recognised all the same, and a later identical change made at WeChat still counts.
#[tokio::test]
async fn an_echo_before_the_answer_is_recognised_and_swallows_no_later_change() {
    let (app, cards) = bound_member().await;
    let push = |bonus: i64, time: i64| {
        code_event_xml("update_member_card", "oHolder", time, CARD, CODE).replace(
            "</xml>",
            &format!("<ModifyBonus>{bonus}</ModifyBonus><ModifyBalance>0</ModifyBalance></xml>"),
        )
    };
    assert_eq!(put_member(&app, json!({"bonus": 120})).await.0, 202);
    cards.slow_updates(1, Duration::from_millis(300));
    let calls_before = app.fake_wechat.bodies(UPDATEUSER).await.len();
    let echo_first = async {
        while app.fake_wechat.bodies(UPDATEUSER).await.len() == calls_before {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // WeChat pushes the change while its answer to the call is still on the way.
        app.push_xml(&push(20, 1_700_000_100), Mode::Safe).await
    };
    let (outcomes, echoed) = tokio::join!(app.drain_jobs(now()), echo_first);
    assert_success(echoed).await;
    assert_eq!(outcomes, vec![JobOutcome::Done]);
    let member = stored(&app.db).await;
    assert_eq!((member.wechat_bonus, member.echo_bonus), (Some(120), None));
    // Later the customer earns 20 points at WeChat: the same change, but WeChat's own.
    cards.set_shown(CODE, (140, 5000));
    assert_success(app.push_xml(&push(20, 1_700_000_200), Mode::Safe).await).await;
    let member = member_json(&app).await;
    assert_eq!(
        (&member["wechat_bonus"], &member["synced"]),
        (&json!(140), &json!(false)),
        "{member}"
    );
}

#[tokio::test]
async fn an_import_queues_the_syncs_of_changed_bound_members_only() {
    let (app, cards) = bound_member().await;
    let report = import(
        &app,
        &format!("member_no,phone,bonus,balance\nVIP-1,{PHONE},140,5000\nVIP-2,13800000002,1,1\n"),
    )
    .await;
    assert_eq!(
        (
            &report["updated"],
            &report["inserted"],
            &report["syncs_queued"]
        ),
        (&json!(1), &json!(1), &json!(1)),
        "{report}"
    );
    assert_eq!(app.drain_jobs(now()).await, vec![JobOutcome::Done]);
    assert_eq!(cards.shown(CODE), Some((140, 5000)));
    // The same file again changes nothing and queues nothing.
    let again = import(
        &app,
        &format!("member_no,phone,bonus,balance\nVIP-1,{PHONE},140,5000\nVIP-2,13800000002,1,1\n"),
    )
    .await;
    assert_eq!(again["syncs_queued"], 0, "{again}");
    assert_eq!(app.drain_jobs(now()).await, vec![]);
}

/// A bound, activated member VIP-1 on the real `serve`: its config, database and fakes.
struct Served {
    dir: tempfile::TempDir,
    config: std::path::PathBuf,
    db: DatabaseConnection,
    fake: FakeWeChat,
    cards: FakeMemberCards,
    serve: ServeProcess,
}

async fn served_member() -> Served {
    let fake = FakeWeChat::start().await;
    fake.token_ok("T", 7200, None).await;
    let cards = FakeMemberCards::mount(&fake).await;
    cards.form_gives(CODE, PHONE);
    let dir = tempfile::tempdir().unwrap();
    let db_url = sqlite_url(&dir.path().join("cardhook.db"));
    let extra = format!(
        "[worker]\napi_timeout_ms = 1000\nlease_secs = 7\npoll_interval_ms = 100\nretry_jitter = 0.0\n\
         retry_schedule_secs = [1, 1, 1]\n\
         [[cards]]\ncard_id = \"{CARD}\"\nactivation = \"on_submit\"\nbind_by = \"phone\"\n\
         unknown_member = \"refuse\"\nmembership_number = \"N{{seq:6}}\"\n"
    );
    let config = write_config(dir.path(), &db_url, &fake.uri(), &extra);
    let csv = dir.path().join("members.csv");
    std::fs::write(
        &csv,
        format!("member_no,phone,bonus,balance\nVIP-1,{PHONE},100,5000\n"),
    )
    .unwrap();
    run_cli_ok("migrate", &config, &[]).await;
    run_cli_ok("members", &config, &["import", csv.to_str().unwrap()]).await;
    let serve = ServeProcess::start(&config, "warn").await;
    let push = dir.path().join("submit.xml");
    std::fs::write(&push, submitted()).unwrap();
    let url = format!("http://{}/wechat/{}", serve.callback, appid());
    run_cli_ok(
        "replay",
        &config,
        &["--url", &url, "--mode", "safe", push.to_str().unwrap()],
    )
    .await;
    let db = Database::connect(&db_url).await.unwrap();
    until(&db, |m| m.activated_at.is_some()).await;
    Served {
        dir,
        config,
        db,
        fake,
        cards,
        serve,
    }
}

/// Wait (at most 30 s) until VIP-1 is as `wanted` says.
async fn until(db: &DatabaseConnection, wanted: impl Fn(&member::Model) -> bool) -> member::Model {
    for _ in 0..300 {
        let member = stored(db).await;
        if wanted(&member) {
            return member;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("VIP-1 is still {:?}", stored(db).await);
}

#[tokio::test]
async fn reconcile_reports_drift_and_fix_repairs_it() {
    let served = served_member().await;
    let config = &served.config;
    let clean = run_cli("members", config, &["reconcile", "--format", "json"]).await;
    assert!(clean.status.success(), "{clean:?}");
    let report: Value = serde_json::from_slice(&clean.stdout).unwrap();
    assert_eq!(
        (&report["checked"], &report["drift"]),
        (&json!(1), &json!([]))
    );
    // A change at WeChat that cardhook never heard of.
    served.cards.set_shown(CODE, (999, 1));
    let drifted = run_cli("members", config, &["reconcile", "--card-id", CARD]).await;
    assert!(!drifted.status.success(), "drift makes the exit non-zero");
    let table = String::from_utf8_lossy(&drifted.stdout);
    assert!(table.contains("checked 1 / differ 1 / unread 0"), "{table}");
    assert!(table.contains("VIP-1") && table.contains("999"), "{table}");
    // Progress is drawn on a terminal only: a pipe gets none.
    assert!(
        !String::from_utf8_lossy(&drifted.stderr).contains("1/1"),
        "no progress on a pipe"
    );
    let on_terminal = crate::support::process::run_cli_on_terminal(
        "members",
        config,
        &["reconcile", "--card-id", CARD],
    )
    .await;
    let screen = String::from_utf8_lossy(&on_terminal.stdout);
    assert!(
        screen.contains("1/1 members read"),
        "a bar on a terminal: {screen}"
    );
    let fixed = run_cli(
        "members",
        config,
        &["reconcile", "--fix", "--format", "json"],
    )
    .await;
    assert!(fixed.status.success(), "{fixed:?}");
    let report: Value = serde_json::from_slice(&fixed.stdout).unwrap();
    assert_eq!(
        report["drift"],
        json!([{"member_no": "VIP-1", "card_id": CARD, "bonus": 100, "balance": 5000,
                "wechat_bonus": 999, "wechat_balance": 1}])
    );
    assert_eq!(
        report["fixed"],
        json!({"queued": 1, "still_differ": []}),
        "{report}"
    );
    assert_eq!(served.cards.shown(CODE), Some((100, 5000)));
    let after = run_cli("members", config, &["reconcile"]).await;
    assert!(after.status.success(), "{after:?}");
    served.serve.terminate().await;
    let (status, log) = served.serve.wait().await;
    assert!(status.success(), "{log}");
    for secret in [CODE, PHONE, "oHolder"] {
        assert!(!log.contains(secret), "the log shows {secret}:\n{log}");
    }
}

#[tokio::test]
async fn sigkill_during_an_update_loses_nothing() {
    let served = served_member().await;
    let Served {
        dir: _dir,
        config,
        db,
        fake,
        cards,
        serve,
    } = served;
    // The update reaches WeChat; its answer is still on the way when the process dies.
    cards.slow_updates(1, Duration::from_millis(800));
    run_cli_ok(
        "members",
        &config,
        &[
            "update",
            "--member-no",
            "VIP-1",
            "--bonus",
            "175",
            "--record-bonus",
            "积分兑换",
        ],
    )
    .await;
    for _ in 0..300 {
        if !fake.bodies(UPDATEUSER).await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        fake.bodies(UPDATEUSER).await.len(),
        1,
        "the call is in flight"
    );
    serve.kill_hard().await;
    let serve = ServeProcess::start(&config, "warn").await;
    // Once the dead worker's lease (7 s) runs out, the job runs again and finds the update there.
    let member = until(&db, |m| m.wechat_bonus == Some(175)).await;
    assert_eq!(member.bonus, 175);
    assert_eq!(cards.shown(CODE), Some((175, 5000)));
    assert_eq!(fake.bodies(UPDATEUSER).await.len(), 1, "not sent twice");
    assert_eq!(
        cards.messages(),
        vec![(CODE.to_owned(), 75, 0)],
        "one message"
    );
    let shown = run_cli_ok(
        "members",
        &config,
        &["show", "--member-no", "VIP-1", "--format", "json"],
    )
    .await;
    let shown: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["synced"], true, "{shown}");
    serve.terminate().await;
    serve.wait().await;
}
