//! Signed webhooks, delivered at least once (issue 33): every domain event is POSTed to each
//! `[[webhooks]]` endpoint as the Standard Webhooks specification says, in `seq` order; a failed
//! event is retried on the endpoint's schedule and the next one waits; past the schedule the
//! endpoint is marked failing and stops, until `retry`; `replay` delivers again from a seq; a
//! SIGKILL mid-delivery loses nothing; two instances on PostgreSQL share an endpoint through its
//! lease, one of them killed. The receiver is `tests/webhook_sink.py`, which verifies each delivery
//! with the `standardwebhooks` Python package.

use std::collections::HashSet;
use std::time::Duration;

use cardhook::event_type::EventType;
use cardhook::store::outbox;
use cardhook::wechat::Mode;
use entity::domain_event;
use sea_orm::{Database, EntityTrait, QueryOrder};
use serde_json::{json, Value};

use crate::admin::documented;
use crate::support::backend::{Backend, TestDatabase};
use crate::support::fixtures::{assert_success, code_event_xml, get_card_xml};
use crate::support::nginx::Nginx;
use crate::support::process::{push_to, run_cli_ok, sqlite_url, write_config, ServeProcess};
use crate::support::webhook_sink::{Attempt, WebhookSink, SECRET};
use crate::support::{account_for, spawn_app_with, TestApp};

/// The admin routes of issue 33, whose answers are checked against the OpenAPI document here and in
/// `feed.rs` (every status they are asked for).
pub const EVENTS_OUT_PATHS: [&str; 4] = [
    "/api/v1/events",
    "/api/v1/webhooks",
    "/api/v1/webhooks/{name}/retry",
    "/api/v1/webhooks/{name}/replay",
];

/// Long enough for any wait on a loaded machine; a wait ends as soon as its condition holds.
const PATIENCE: Duration = Duration::from_secs(90);

async fn feed_ids(app: &TestApp) -> Vec<(String, i64)> {
    let page: Value = app
        .admin_get("/api/v1/events?limit=1000")
        .await
        .json()
        .await
        .unwrap();
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap().to_owned(),
                e["seq"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn ids(attempts: &[Attempt]) -> Vec<(String, i64)> {
    attempts.iter().map(|a| (a.id.clone(), a.seq)).collect()
}

async fn endpoint(app: &TestApp, name: &str) -> Value {
    let response = app.admin_get("/api/v1/webhooks").await;
    let (status, list) = documented(response, "/api/v1/webhooks", "get").await;
    assert_eq!(status, 200);
    list["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("{name} listed: {list}"))
}

/// Wait until the endpoint's listing satisfies `done`; the listing.
async fn wait_endpoint(app: &TestApp, name: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let listed = endpoint(app, name).await;
        if done(&listed) || tokio::time::Instant::now() > deadline {
            return listed;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn got(i: i64) -> String {
    get_card_xml("oHook", 1_700_000_000 + i, "pHOOK", &format!("{i}"), 0, "")
}

async fn metric(app: &TestApp, line_start: &str) -> Option<f64> {
    let text = app.admin_get("/metrics").await.text().await.unwrap();
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn events_arrive_in_order_signed_and_a_failed_one_holds_the_next_until_it_goes() {
    let sink = WebhookSink::start().await;
    let app = spawn_app_with(|s| s.webhooks = vec![sink.settings("crm", &[1, 1, 1, 1])]).await;
    for i in 0..3 {
        assert_success(app.push_xml(&got(i), Mode::Safe).await).await;
    }
    let delivered = sink.wait_delivered(3, PATIENCE).await;
    assert_eq!(
        ids(&delivered),
        feed_ids(&app).await,
        "each event once, in seq order"
    );
    assert!(delivered.iter().all(|a| a.kind == "card.got"));

    // The receiver fails the next event three times (a redirect is not followed: a failure too):
    // it is retried on the schedule, and the one after it waits for it.
    sink.control(json!({"plan": [307, 500, 500]})).await;
    assert_success(app.push_xml(&got(3), Mode::Safe).await).await;
    assert_success(
        app.push_xml(
            &code_event_xml("user_del_card", "oHook", 1_700_000_010, "pHOOK", "3"),
            Mode::Safe,
        )
        .await,
    )
    .await;
    sink.wait_delivered(5, PATIENCE).await;
    let feed = feed_ids(&app).await;
    let after: Vec<(String, u16)> = sink.attempts().await[3..]
        .iter()
        .map(|a| (a.id.clone(), a.status))
        .collect();
    let (fourth, fifth) = (feed[3].0.clone(), feed[4].0.clone());
    assert_eq!(
        after,
        [
            (fourth.clone(), 307),
            (fourth.clone(), 500),
            (fourth.clone(), 500),
            (fourth, 200),
            (fifth, 200)
        ]
    );
    assert!(sink.refused().await.is_empty(), "every signature verified");
    let listed = wait_endpoint(&app, "crm", |w| w["lag"] == 0).await;
    assert_eq!(listed["state"], "ok", "{listed}");
    assert_eq!(listed["cursor"], feed[4].1);
    assert_eq!(listed["attempts"], 0);
    assert_eq!(
        metric(
            &app,
            "cardhook_webhook_deliveries_total{endpoint=\"crm\",outcome=\"rejected\"}"
        )
        .await,
        Some(3.0)
    );
    assert_eq!(
        metric(
            &app,
            "cardhook_webhook_deliveries_total{endpoint=\"crm\",outcome=\"delivered\"}"
        )
        .await,
        Some(5.0)
    );
    assert_eq!(
        metric(&app, "cardhook_webhook_lag_events{endpoint=\"crm\"}").await,
        Some(0.0)
    );
    // The listing shows the URL without its query (a token there) and never the secret.
    let text = app
        .admin_get("/api/v1/webhooks")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !text.contains("t0ps3cret") && !text.contains(SECRET),
        "{text}"
    );
    assert!(text.contains(&format!("{}/hook", sink.base)), "{text}");
}

#[tokio::test]
async fn a_receiver_down_for_a_while_gets_everything_after_without_a_gap() {
    let sink = WebhookSink::start().await;
    let app = spawn_app_with(|s| s.webhooks = vec![sink.settings("crm", &[1; 30])]).await;
    sink.control(json!({"down": true})).await;
    for i in 0..10 {
        assert_success(app.push_xml(&got(i), Mode::Safe).await).await;
    }
    let backing_off = wait_endpoint(&app, "crm", |w| w["attempts"].as_i64() >= Some(2)).await;
    assert_eq!(backing_off["state"], "backing_off", "{backing_off}");
    assert_eq!(backing_off["last_error"], "answered HTTP 503");
    assert_eq!(backing_off["lag"], 10);
    // Only the first event was tried while the receiver was down.
    let tried: HashSet<i64> = sink.attempts().await.iter().map(|a| a.seq).collect();
    assert_eq!(tried.len(), 1, "{tried:?}");
    assert!(metric(
        &app,
        "cardhook_webhook_oldest_undelivered_seconds{endpoint=\"crm\"}"
    )
    .await
    .is_some());

    sink.control(json!({"down": false})).await;
    let delivered = sink.wait_delivered(10, PATIENCE).await;
    assert_eq!(ids(&delivered), feed_ids(&app).await);
    // Readiness is cardhook's, not the receiver's.
    assert_eq!(app.admin_get("/readyz").await.status(), 200);
}

#[tokio::test]
async fn a_failing_endpoint_stops_until_retried_and_replay_delivers_again() {
    let sink = WebhookSink::start().await;
    let app = spawn_app_with(|s| s.webhooks = vec![sink.settings("crm", &[1])]).await;
    sink.control(json!({"down": true})).await;
    for i in 0..2 {
        assert_success(app.push_xml(&got(i), Mode::Safe).await).await;
    }
    let failing = wait_endpoint(&app, "crm", |w| w["state"] == "failing").await;
    assert_eq!(failing["state"], "failing", "{failing}");
    assert_eq!(
        failing["attempts"], 2,
        "the first try and the schedule's one retry"
    );
    assert_eq!(failing["next_attempt_at"], Value::Null);
    sink.control(json!({"down": false})).await;
    // A failing endpoint's cursor stays (nothing skipped) and nothing more is scheduled on its own.
    assert_eq!(sink.attempts().await.len(), 2);
    assert_eq!(failing["lag"], 2);
    assert_eq!(failing["cursor"], 0);

    let retry = app.admin_post("/api/v1/webhooks/crm/retry").await;
    let (status, _) = documented(retry, "/api/v1/webhooks/{name}/retry", "post").await;
    assert_eq!(status, 202);
    let delivered = sink.wait_delivered(2, PATIENCE).await;
    assert_eq!(ids(&delivered), feed_ids(&app).await);
    assert_eq!(
        wait_endpoint(&app, "crm", |w| w["state"] == "ok").await["state"],
        "ok"
    );

    // Replay from the first event's seq: the second arrives again (a receiver dedupes by id).
    let first_seq = delivered[0].seq;
    let replay = app
        .admin_json(
            reqwest::Method::POST,
            "/api/v1/webhooks/crm/replay",
            &json!({"after": first_seq}),
        )
        .await;
    let (status, _) = documented(replay, "/api/v1/webhooks/{name}/replay", "post").await;
    assert_eq!(status, 202);
    let again = sink.wait_delivered(2, PATIENCE).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut all = again;
    while all.len() < 3 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        all = sink.delivered().await;
    }
    assert_eq!(all.len(), 3);
    assert_eq!(all[2].id, delivered[1].id);

    // A retry of an endpoint that waits on nothing changes nothing.
    let idle = app.admin_post("/api/v1/webhooks/crm/retry").await;
    let (status, body) = documented(idle, "/api/v1/webhooks/{name}/retry", "post").await;
    assert_eq!((status, &body["retry"]), (202, &json!(false)));
    // A replay goes back, never forward: past the cursor or past the feed is refused.
    let cursor = endpoint(&app, "crm").await["cursor"].as_i64().unwrap();
    let _ = app
        .admin_json(
            reqwest::Method::POST,
            "/api/v1/webhooks/crm/replay",
            &json!({"after": cursor}),
        )
        .await;
    for after in [cursor + 1, cursor + 1000] {
        let refused = app
            .admin_json(
                reqwest::Method::POST,
                "/api/v1/webhooks/crm/replay",
                &json!({"after": after}),
            )
            .await;
        let (status, body) = documented(refused, "/api/v1/webhooks/{name}/replay", "post").await;
        assert_eq!(status, 400, "{after}: {body}");
    }

    // Wrong names and bodies are named.
    assert_eq!(
        app.admin_post("/api/v1/webhooks/nobody/retry")
            .await
            .status(),
        404
    );
    for body in [json!({"after": -1}), json!({"from": 1})] {
        let refused = app
            .admin_json(reqwest::Method::POST, "/api/v1/webhooks/crm/replay", &body)
            .await;
        assert_eq!(refused.status(), 400, "{body}");
    }
    let anonymous = app
        .client
        .post(format!(
            "http://{}/api/v1/webhooks/crm/retry",
            app.admin_addr
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

/// Not ordered: a window of events goes out at once (their requests overlap at the receiver); a
/// failed one is retried with the window after it, and nothing is skipped.
#[tokio::test]
async fn a_not_ordered_endpoint_sends_a_window_at_once_and_retries_from_the_failure() {
    let sink = WebhookSink::start().await;
    let app = spawn_app_with(|s| {
        let mut endpoint = sink.settings("bulk", &[1; 10]);
        endpoint.ordered = false;
        s.webhooks = vec![endpoint];
    })
    .await;
    // While the receiver is down the events pile up behind the first; then the window holds all.
    sink.control(json!({"down": true})).await;
    for i in 0..6 {
        assert_success(app.push_xml(&got(i), Mode::Safe).await).await;
    }
    wait_endpoint(&app, "bulk", |w| {
        w["attempts"].as_i64() >= Some(1) && w["lag"] == 6
    })
    .await;
    // Back, slow, and failing the first request it gets.
    sink.control(json!({"down": false, "delay": 0.3, "plan": [500]}))
        .await;
    let delivered = sink.wait_delivered(6, PATIENCE).await;
    let feed = feed_ids(&app).await;
    let distinct: HashSet<&str> = delivered.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(distinct.len(), feed.len(), "every event delivered");
    let attempts = sink.attempts().await;
    let answered: Vec<&Attempt> = attempts.iter().filter(|a| a.status != 503).collect();
    let overlapping = answered.iter().any(|a| {
        answered
            .iter()
            .any(|b| a.id != b.id && b.start < a.end && a.start < b.end)
    });
    assert!(overlapping, "a window's requests overlap: {answered:?}");
    let failed = answered.iter().find(|a| a.status == 500).unwrap();
    assert_eq!(
        delivered.iter().filter(|a| a.id == failed.id).count(),
        1,
        "the failed event went on its retry"
    );
    assert!(sink.refused().await.is_empty());
    let listed = wait_endpoint(&app, "bulk", |w| w["lag"] == 0).await;
    assert_eq!(listed["ordered"], false);
    assert_eq!(listed["cursor"], feed.last().unwrap().1);
}

/// An endpoint's `types` and `appid` choose its events; its cursor passes the others (lag 0).
#[tokio::test]
async fn an_endpoint_gets_only_the_types_and_account_it_asks_for() {
    let sink = WebhookSink::start().await;
    let (safe, _) = account_for(Mode::Safe);
    let app = spawn_app_with(|s| {
        let mut deletions = sink.settings("deletions", &[1]);
        deletions.types = vec!["card.deleted".to_owned()];
        deletions.appid = Some(safe.to_owned());
        let mut other = sink.settings("other-account", &[1]);
        other.appid = Some("wxsomeoneelse00001".to_owned());
        s.webhooks = vec![deletions, other];
    })
    .await;
    for i in 0..3 {
        assert_success(app.push_xml(&got(i), Mode::Safe).await).await;
        let deleted = code_event_xml(
            "user_del_card",
            "oHook",
            1_700_000_100 + i,
            "pHOOK",
            &format!("{i}"),
        );
        assert_success(app.push_xml(&deleted, Mode::Safe).await).await;
    }
    // A deletion of the other test account (compat mode): not this endpoint's.
    let compat = code_event_xml("user_del_card", "oHook", 1_700_000_200, "pHOOK", "9");
    assert_success(app.push_xml(&compat, Mode::Compat).await).await;
    let delivered = sink.wait_delivered(3, PATIENCE).await;
    let last = feed_ids(&app).await.last().unwrap().1;
    for name in ["deletions", "other-account"] {
        let listed = wait_endpoint(&app, name, |w| w["cursor"] == last).await;
        assert_eq!(
            (listed["cursor"].as_i64(), listed["lag"].as_i64()),
            (Some(last), Some(0)),
            "{listed}"
        );
    }
    assert!(
        delivered
            .iter()
            .all(|a| a.kind == "card.deleted" && a.appid == safe),
        "{delivered:?}"
    );
    assert_eq!(
        sink.delivered().await.len(),
        3,
        "the other account's endpoint got nothing"
    );
}

/// Every event of the feed delivered at least once, the first deliveries in seq order (no gap:
/// a later event never before an earlier one), and how many deliveries were repeats.
fn assert_every_event_once_in_order(feed: &[domain_event::Model], delivered: &[Attempt]) -> usize {
    let mut first = Vec::new();
    let mut seen = HashSet::new();
    for a in delivered {
        if seen.insert(a.id.clone()) {
            first.push((a.id.clone(), a.seq));
        }
    }
    let expected: Vec<(String, i64)> = feed
        .iter()
        .map(|e| {
            let kind = EventType::parse(&e.kind).unwrap();
            (outbox::event_id(&e.cause, kind), e.seq)
        })
        .collect();
    assert_eq!(
        first, expected,
        "first deliveries in seq order, none missing"
    );
    delivered.len() - first.len()
}

async fn feed_rows(url: &str) -> Vec<domain_event::Model> {
    let db = Database::connect(url).await.unwrap();
    let rows = domain_event::Entity::find()
        .order_by_asc(domain_event::Column::Seq)
        .all(&db)
        .await
        .unwrap();
    db.close().await.unwrap();
    rows
}

#[tokio::test]
async fn a_sigkill_mid_delivery_loses_nothing() {
    let sink = WebhookSink::start().await;
    sink.control(json!({"delay": 0.03})).await;
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir.path().join("hooks.db"));
    let config = write_config(
        dir.path(),
        &url,
        "http://127.0.0.1:9",
        &sink.toml(
            "crm",
            "retry_schedule_secs = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\ntimeout_secs = 3\nlease_secs = 7",
        ),
    );
    let serve = ServeProcess::start(&config, "warn").await;
    for i in 0..40 {
        push_to(&serve.callback, &got(i)).await;
    }
    sink.wait_delivered(10, PATIENCE).await;
    serve.kill_hard().await;
    // After the restart the receiver fails twice: the log names the endpoint's URL, not its query.
    sink.control(json!({"plan": [503, 503]})).await;
    let serve = ServeProcess::start(&config, "warn").await;
    let delivered = sink.wait_delivered(40, PATIENCE).await;
    serve.terminate().await;
    let (status, log) = serve.wait().await;
    assert!(status.success(), "{log}");
    assert!(log.contains("webhook delivery failed"), "{log}");
    assert!(log.contains(&format!("{}/hook", sink.base)), "{log}");
    assert!(!log.contains("t0ps3cret") && !log.contains(SECRET), "{log}");
    let repeats = assert_every_event_once_in_order(&feed_rows(&url).await, &delivered);
    println!("webhooks through a SIGKILL: 40 events, {repeats} delivered twice");
    assert!(
        repeats <= 100,
        "at most the page in flight is delivered again"
    );
    // The CLI lists it caught up.
    let listed: Value =
        serde_json::from_str(&run_cli_ok("webhooks", &config, &["list", "--format", "json"]).await)
            .unwrap();
    assert_eq!(listed["webhooks"][0]["state"], "ok", "{listed}");
    assert_eq!(listed["webhooks"][0]["lag"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_postgresql_share_an_endpoint_and_one_killed_loses_nothing() {
    let sink = WebhookSink::start().await;
    sink.control(json!({"delay": 0.02})).await;
    let dir = tempfile::tempdir().unwrap();
    let pg = TestDatabase::create(Backend::Postgres, dir.path()).await;
    let hook = sink.toml(
        "crm",
        "timeout_secs = 3\nlease_secs = 7\nretry_schedule_secs = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]",
    );
    let config = write_config(dir.path(), &pg.url, "http://127.0.0.1:9", &hook);
    let mut instances =
        futures_util::future::join_all((0..2).map(|_| ServeProcess::start(&config, "warn"))).await;
    let upstreams: Vec<String> = instances.iter().map(|s| s.callback.clone()).collect();
    let nginx = Nginx::start(dir.path(), &upstreams).await;
    for i in 0..120 {
        push_to(&nginx.addr, &got(i)).await;
    }
    sink.wait_delivered(15, PATIENCE).await;
    // Kill the instance that holds the endpoint's lease (its holder name starts with its pid).
    let db = Database::connect(&pg.url).await.unwrap();
    let holder = entity::webhook_delivery::Entity::find_by_id("crm".to_owned())
        .one(&db)
        .await
        .unwrap()
        .and_then(|row| row.lease_holder)
        .expect("an instance holds the endpoint");
    let pid = holder.split(':').next().unwrap().to_owned();
    let index = instances
        .iter()
        .position(|s| s.pid() == pid)
        .unwrap_or_else(|| panic!("holder {holder} is one of the instances"));
    instances.remove(index).kill_hard().await;
    let delivered = sink.wait_delivered(120, PATIENCE).await;
    let taken_over = entity::webhook_delivery::Entity::find_by_id("crm".to_owned())
        .one(&db)
        .await
        .unwrap()
        .and_then(|row| row.lease_holder);
    assert_ne!(
        taken_over.as_deref(),
        Some(holder.as_str()),
        "the other instance took over"
    );
    for serve in instances {
        serve.terminate().await;
        let (status, log) = serve.wait().await;
        assert!(status.success(), "{log}");
    }
    let repeats = assert_every_event_once_in_order(&feed_rows(&pg.url).await, &delivered);
    println!(
        "webhooks over two instances, the holder killed: 120 events, {repeats} delivered twice"
    );
    assert!(
        repeats <= 100,
        "at most the killed holder's page in flight is delivered again"
    );
    nginx.stop().await;
}
