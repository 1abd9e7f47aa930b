//! The ordered feed of domain events (issue 33): every fact cardhook records becomes an event in
//! the same transaction — a card got, deleted, consumed, gifted, a review, a member bound, a card
//! activated, points changed by the merchant or by WeChat — read in `seq` order through `GET
//! /api/v1/events` and `cardhook events tail`, the cursor carrying a reader across restarts of
//! either side without a miss or a repeat. Pushes sealed as WeChat seals them; the real binary.

use cardhook::wechat::Mode;
use reqwest::Method;
use serde_json::{json, Value};

use crate::admin::documented;
use crate::member_sync::{bound_member, CARD, CODE, PHONE};
use crate::members::import;
use crate::support::fixtures::{assert_success, code_event_xml, get_card_xml};
use crate::support::process::{
    push_to, run_cli, run_cli_ok, sqlite_url, write_config, ServeProcess,
};
use crate::support::{account_for, spawn_app, TestApp};

fn appid() -> &'static str {
    account_for(Mode::Safe).0
}

async fn page(app: &TestApp, query: &str) -> Value {
    let response = app.admin_get(&format!("/api/v1/events?{query}")).await;
    let (status, body) = documented(response, "/api/v1/events", "get").await;
    assert_eq!(status, 200, "{body}");
    body
}

fn types(page: &Value) -> Vec<&str> {
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn each_card_event_is_in_the_feed_once_in_order_with_its_fields() {
    let app = spawn_app().await;
    // A named channel: its card.got carries the name.
    let named = app
        .admin_json(
            Method::POST,
            "/api/v1/channels",
            &json!({"appid": appid(), "card_id": "pFEED", "outer_str": "poster-门店", "name": "门店海报"}),
        )
        .await;
    assert!(
        named.status().is_success(),
        "{}",
        named.text().await.unwrap()
    );
    let t = 1_700_000_000;
    let pushes = [
        get_card_xml("oA", t, "pFEED", "1001", 0, "poster-门店"),
        get_card_xml("oB", t + 1, "pFEED", "1002", 0, ""),
        code_event_xml("user_consume_card", "oA", t + 2, "pFEED", "1001"),
        code_event_xml("user_del_card", "oB", t + 3, "pFEED", "1002"),
        code_event_xml("user_view_card", "oA", t + 4, "pFEED", "1001"),
    ];
    for xml in &pushes {
        assert_success(app.push_xml(xml, Mode::Safe).await).await;
    }
    // A redelivery of the first push is no new event.
    assert_success(app.push_xml(&pushes[0], Mode::Safe).await).await;

    let all = page(&app, "").await;
    assert_eq!(
        types(&all),
        [
            "card.got",
            "card.got",
            "card.consumed",
            "card.deleted",
            "card.event"
        ]
    );
    let events = all["events"].as_array().unwrap();
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(all["next"], *seqs.last().unwrap());
    let got = &events[0];
    assert_eq!(got["appid"], appid());
    assert_eq!(got["occurred_at"], t);
    assert!(got["id"].as_str().unwrap().starts_with("evt_"));
    assert_eq!(got["data"]["code"], "1001");
    assert_eq!(got["data"]["openid"], "oA");
    assert_eq!(got["data"]["outer_str"], "poster-门店");
    assert_eq!(got["data"]["channel"], "门店海报");
    assert_eq!(events[1]["data"]["channel"], Value::Null);
    assert_eq!(events[2]["data"]["code"], "1001");
    assert_eq!(events[4]["data"]["event"], "user_view_card");

    // Pages by cursor: two, then the rest, then nothing (next stays where it was).
    let first = page(&app, "limit=2").await;
    assert_eq!(types(&first), ["card.got", "card.got"]);
    let rest = page(&app, &format!("after={}", first["next"])).await;
    assert_eq!(types(&rest).len(), 3);
    let end = page(&app, &format!("after={}", rest["next"])).await;
    assert_eq!(types(&end).len(), 0);
    assert_eq!(end["next"], rest["next"]);
    // Filters: types (comma-separated) and account.
    let used = page(&app, "type=card.consumed,card.deleted").await;
    assert_eq!(types(&used), ["card.consumed", "card.deleted"]);
    let other = page(&app, "appid=wxnobody").await;
    assert_eq!(types(&other).len(), 0);

    // Wrong parameters are named.
    for (query, name) in [
        ("type=card.stolen", "type"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("after=-1", "after"),
    ] {
        let response = app.admin_get(&format!("/api/v1/events?{query}")).await;
        let (status, body) = documented(response, "/api/v1/events", "get").await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body["message"].as_str().unwrap().contains(name), "{body}");
    }
    // And the feed is the admin's only.
    let anonymous = app
        .client
        .get(format!("http://{}/api/v1/events", app.admin_addr))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn members_bound_activated_and_their_points_changed_by_either_side_are_events() {
    let (app, _cards) = bound_member().await;
    let feed = page(&app, "").await;
    assert_eq!(
        types(&feed),
        ["card.event", "member.bound", "card.activated"],
        "{feed}"
    );
    let events = feed["events"].as_array().unwrap();
    assert_eq!(events[0]["data"]["event"], "submit_membercard_user_info");
    assert_eq!(
        events[1]["data"],
        json!({"member_no": "VIP-1", "card_id": CARD, "code": CODE, "openid": "oHolder"})
    );
    assert_eq!(events[2]["data"]["member_no"], "VIP-1");
    assert_eq!(events[2]["data"]["code"], CODE);

    // The merchant changes the points through cardhook…
    let put = app
        .admin_json(
            Method::PUT,
            &format!("/api/v1/members/VIP-1?appid={}", appid()),
            &json!({"bonus": 130, "balance": 5000}),
        )
        .await;
    assert!(put.status().is_success(), "{}", put.status());
    // …and WeChat changes them on its side (not the echo of cardhook's update).
    let xml = code_event_xml("update_member_card", "oHolder", 1_700_000_100, CARD, CODE).replace(
        "</xml>",
        "<ModifyBonus>-20</ModifyBonus><ModifyBalance>0</ModifyBalance></xml>",
    );
    assert_success(app.push_xml(&xml, Mode::Safe).await).await;
    let changed = page(
        &app,
        &format!("after={}&type=member.points_changed", feed["next"]),
    )
    .await;
    let changes: Vec<&Value> = changed["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["data"])
        .collect();
    assert_eq!(changes.len(), 2, "{changed}");
    assert_eq!(changes[0]["source"], "cardhook");
    assert_eq!(
        (
            changes[0]["bonus"].as_i64(),
            changes[0]["bonus_change"].as_i64()
        ),
        (Some(130), Some(30))
    );
    assert_eq!(changes[1]["source"], "wechat");
    assert_eq!(changes[1]["bonus_change"], -20);
    assert_eq!(changes[1]["member_no"], "VIP-1");
    // An import that changes the member's points is the merchant's change too.
    import(
        &app,
        &format!("member_no,phone,bonus,balance\nVIP-1,{PHONE},200,5000\n"),
    )
    .await;
    let imported = page(
        &app,
        &format!("after={}&type=member.points_changed", changed["next"]),
    )
    .await;
    let data = &imported["events"][0]["data"];
    assert_eq!(
        (
            data["source"].as_str(),
            data["bonus"].as_i64(),
            data["bonus_change"].as_i64()
        ),
        (Some("cardhook"), Some(200), Some(70)),
        "{imported}"
    );
}

/// Each line `events tail` printed, as JSON.
fn lines(out: &str) -> Vec<Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `events tail` prints JSON lines from a cursor; a reader that keeps the last seq it handled and
/// starts again from it, across restarts of `serve` and of itself, misses and repeats nothing.
#[tokio::test]
async fn a_reader_with_a_cursor_misses_and_repeats_nothing_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &sqlite_url(&dir.path().join("feed.db")),
        "http://127.0.0.1:9",
        "",
    );
    let t = 1_700_000_000;
    let mut sent = Vec::new();
    let mut read = Vec::new();
    let mut cursor = 0;
    for round in 0..3 {
        let serve = ServeProcess::start(&config, "warn").await;
        for i in round * 4..round * 4 + 4 {
            let code = format!("{i}");
            push_to(
                &serve.callback,
                &get_card_xml("oT", t + i, "pTAIL", &code, 0, ""),
            )
            .await;
            push_to(
                &serve.callback,
                &code_event_xml("user_del_card", "oT", t + i, "pTAIL", &code),
            )
            .await;
            sent.push(code);
        }
        // The reader handles two events of each sitting, keeping the seq of the last one handled.
        let out = run_cli_ok(
            "events",
            &config,
            &["tail", "--after", &cursor.to_string(), "--type", "card.got"],
        )
        .await;
        for event in lines(&out).into_iter().take(2) {
            cursor = event["seq"].as_i64().unwrap();
            read.push(event["data"]["code"].as_str().unwrap().to_owned());
        }
        serve.terminate().await;
        serve.wait().await;
    }
    let out = run_cli_ok(
        "events",
        &config,
        &["tail", "--after", &cursor.to_string(), "--type", "card.got"],
    )
    .await;
    read.extend(
        lines(&out)
            .iter()
            .map(|e| e["data"]["code"].as_str().unwrap().to_owned()),
    );
    assert_eq!(read, sent);
    // Without a type filter the deletions are there too, in the order they were recorded.
    let every = lines(&run_cli_ok("events", &config, &["tail"]).await);
    assert_eq!(every.len(), 24);
    assert!(every
        .windows(2)
        .all(|w| w[0]["seq"].as_i64() < w[1]["seq"].as_i64()));
    assert_eq!(every[1]["type"], "card.deleted");
    // --follow keeps printing what comes.
    let serve = ServeProcess::start(&config, "warn").await;
    let mut follow = tokio::process::Command::new(env!("CARGO_BIN_EXE_cardhook"))
        .args(["events", "--config"])
        .arg(&config)
        .args([
            "tail",
            "--follow",
            "--after",
            &every.last().unwrap()["seq"].to_string(),
        ])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines =
        tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(follow.stdout.take().unwrap()));
    push_to(
        &serve.callback,
        &get_card_xml("oT", t + 99, "pTAIL", "99", 0, ""),
    )
    .await;
    let line = tokio::time::timeout(std::time::Duration::from_secs(60), lines.next_line())
        .await
        .expect("--follow printed the new event")
        .unwrap()
        .unwrap();
    let event: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(
        (event["type"].as_str(), event["data"]["code"].as_str()),
        (Some("card.got"), Some("99"))
    );
    follow.kill().await.unwrap();
    serve.terminate().await;
    serve.wait().await;
    let wrong = run_cli("events", &config, &["tail", "--type", "card.stolen"]).await;
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("card.stolen"));
}
