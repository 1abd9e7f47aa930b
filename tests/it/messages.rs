//! Cards by message (issue 26): a follow QR code that hands out its card once per follower and
//! counts the get in its channel, a card to one customer, mass sends in batches with a preview, and
//! the MASSSENDJOBFINISH report — through the real binary, the real app and a fake WeChat API.

use std::path::{Path, PathBuf};

use cardhook::wechat::jssdk::card_ext_signature;
use cardhook::wechat::Mode;
use cardhook::worker::outcome::JobOutcome;
use reqwest::Method;
use serde_json::{json, Value};

use crate::support::fake_messages::{self, FOLLOW_TICKET};
use crate::support::fixtures::{assert_success, get_card_xml};
use crate::support::process::{run_cli, run_cli_ok, write_config};
use crate::support::{account_for, spawn_app, TestApp};

const CARD: &str = "pFOLLOW";
const CUSTOM_SEND: &str = "/cgi-bin/message/custom/send";

/// The admin routes whose answers are checked against the OpenAPI document here.
pub const MESSAGE_PATHS: [&str; 3] = [
    "/api/v1/channels/follow-qrcode",
    "/api/v1/send/card",
    "/api/v1/mass",
];

fn appid() -> &'static str {
    account_for(Mode::Safe).0
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// An app with the message routes faked, and a CLI config on its database and fake.
async fn messages_app() -> (TestApp, PathBuf) {
    let app = spawn_app().await;
    app.fake_wechat.token_ok("TOKEN", 7200, None).await;
    app.fake_wechat.tickets_ok(None).await;
    fake_messages::mount(&app.fake_wechat).await;
    let db = format!("sqlite://{}?mode=rwc", app.db_path.display());
    let config = write_config(app.dir.path(), &db, &app.fake_wechat.uri(), "");
    (app, config)
}

/// A follow or scan push of `openid` at `time`; `key` is its EventKey (None: none at all).
fn follow_xml(event: &str, openid: &str, time: i64, key: Option<&str>) -> String {
    let key = key.map_or(String::new(), |k| {
        format!("<EventKey><![CDATA[{k}]]></EventKey><Ticket><![CDATA[{FOLLOW_TICKET}]]></Ticket>")
    });
    format!(
        "<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>\
         <CreateTime>{time}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{event}]]></Event>{key}</xml>"
    )
}

async fn push(app: &TestApp, xml: &str) {
    assert_success(app.push_xml(xml, Mode::Safe).await).await;
}

#[tokio::test]
async fn a_follow_qr_code_hands_out_its_card_once_and_counts_the_get_in_its_channel() {
    let (app, config) = messages_app().await;
    let png = app.dir.path().join("poster.png");
    let created = run_cli_ok(
        "qrcode",
        &config,
        &[
            "follow",
            "--scene",
            "poster1",
            "--card-id",
            CARD,
            "--name",
            "Spring poster",
            "--permanent",
            "--png",
            png.to_str().unwrap(),
            "--json",
        ],
    )
    .await;
    let created: Value = serde_json::from_str(&created).unwrap();
    assert_eq!(created["channel"]["kind"], "follow_qrcode");
    assert_eq!(created["channel"]["outer_str"], "poster1");
    assert!(created["show_qrcode_url"]
        .as_str()
        .unwrap()
        .starts_with("https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=gQH47joAAAAAAAAAASxod"));
    assert!(
        std::fs::metadata(&png).unwrap().len() > 100,
        "the poster's PNG"
    );
    // A temporary one, through the admin API.
    let order = json!({"appid": appid(), "scene": "poster2", "card_id": CARD, "name": "Week poster",
                       "expire_seconds": 604800});
    let temporary = app
        .admin_json(Method::POST, "/api/v1/channels/follow-qrcode", &order)
        .await;
    let (status, temporary) =
        crate::admin::documented(temporary, "/api/v1/channels/follow-qrcode", "post").await;
    assert_eq!(
        (status, &temporary["expire_seconds"]),
        (201, &json!(604800))
    );
    assert_eq!(
        app.fake_wechat.bodies("/cgi-bin/qrcode/create").await,
        [
            json!({"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": "poster1"}}}),
            json!({"expire_seconds": 604800, "action_name": "QR_STR_SCENE",
                   "action_info": {"scene": {"scene_str": "poster2"}}}),
        ]
    );

    // A follow through the poster, its redelivery, a later scan; a plain follow; an unknown scene.
    let followed = follow_xml("subscribe", "oFan", 1_700_000_000, Some("qrscene_poster1"));
    push(&app, &followed).await;
    push(&app, &followed).await;
    push(
        &app,
        &follow_xml("SCAN", "oFan", 1_700_000_500, Some("poster1")),
    )
    .await;
    push(
        &app,
        &follow_xml("subscribe", "oPlain", 1_700_000_600, None),
    )
    .await;
    push(
        &app,
        &follow_xml("SCAN", "oOther", 1_700_000_700, Some("not-a-poster")),
    )
    .await;
    assert_eq!(app.drain_jobs(now()).await, vec![JobOutcome::Done]);
    let sent = app.fake_wechat.bodies(CUSTOM_SEND).await;
    assert_eq!(sent.len(), 1, "one message: {sent:?}");
    assert_eq!(
        (
            &sent[0]["touser"],
            &sent[0]["msgtype"],
            &sent[0]["wxcard"]["card_id"]
        ),
        (&json!("oFan"), &json!("wxcard"), &json!(CARD))
    );
    let ext: Value = serde_json::from_str(sent[0]["wxcard"]["card_ext"].as_str().unwrap()).unwrap();
    assert_eq!(ext["outer_str"], "poster1");
    let expected = card_ext_signature(
        "wx_card-ticket",
        ext["timestamp"].as_str().unwrap(),
        CARD,
        None,
        None,
        ext["nonce_str"].as_str().unwrap(),
    );
    assert_eq!(
        ext["signature"], expected,
        "the cardExt verifies against the ticket"
    );

    // The get that follows counts in the poster's channel, by name.
    push(
        &app,
        &get_card_xml("oFan", 1_700_000_900, CARD, "9001", 0, "poster1"),
    )
    .await;
    let stats: Value = serde_json::from_str(
        &run_cli_ok("stats", &config, &["--card-id", CARD, "--format", "json"]).await,
    )
    .unwrap();
    let row = stats["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["outer_str"] == "poster1")
        .cloned()
        .unwrap_or_else(|| panic!("{stats}"));
    assert_eq!(
        (&row["channel_name"], &row["got"]),
        (&json!("Spring poster"), &json!(1))
    );
}

#[tokio::test]
async fn a_closed_service_window_ends_the_send_dead_with_the_reason() {
    let (app, config) = messages_app().await;
    run_cli_ok(
        "qrcode",
        &config,
        &[
            "follow",
            "--scene",
            "late",
            "--card-id",
            CARD,
            "--name",
            "Late poster",
        ],
    )
    .await;
    app.fake_wechat.answer_errcode(CUSTOM_SEND, 45015, 1).await;
    push(
        &app,
        &follow_xml("SCAN", "oLate", 1_700_000_000, Some("late")),
    )
    .await;
    assert_eq!(app.drain_jobs(now()).await, vec![JobOutcome::Dead]);
    let job = app.job_rows().await.pop().unwrap();
    assert_eq!(
        (job.kind.as_str(), job.state.as_str()),
        ("send_card", "dead")
    );
    let reason = job.last_error.unwrap();
    assert!(
        reason.contains("errcode 45015") && reason.contains("customer-service window"),
        "{reason}"
    );
    assert!(
        !reason.contains("oLate"),
        "no OpenID in the reason: {reason}"
    );
}

#[tokio::test]
async fn one_card_to_one_customer() {
    let (app, config) = messages_app().await;
    let out = run_cli_ok(
        "send",
        &config,
        &[
            "card",
            "--card-id",
            CARD,
            "--openid",
            "oOne",
            "--outer-str",
            "desk",
        ],
    )
    .await;
    assert!(out.contains("card pFOLLOW sent"), "{out}");
    let order = json!({"appid": appid(), "card_id": CARD, "openid": "oTwo"});
    let answer = app
        .admin_json(Method::POST, "/api/v1/send/card", &order)
        .await;
    let (status, answer) = crate::admin::documented(answer, "/api/v1/send/card", "post").await;
    assert_eq!(
        (status, answer),
        (200, json!({"card_id": CARD, "sent": true}))
    );
    let sent = app.fake_wechat.bodies(CUSTOM_SEND).await;
    let ext = |i: usize| -> Value {
        serde_json::from_str(sent[i]["wxcard"]["card_ext"].as_str().unwrap()).unwrap()
    };
    assert_eq!(
        (&sent[0]["touser"], &ext(0)["outer_str"]),
        (&json!("oOne"), &json!("desk"))
    );
    assert_eq!(
        (&sent[1]["touser"], &ext(1)["outer_str"]),
        (&json!("oTwo"), &Value::Null)
    );
    // WeChat's refusal is named, with a non-zero exit.
    app.fake_wechat.answer_errcode(CUSTOM_SEND, 45015, 1).await;
    let refused = run_cli(
        "send",
        &config,
        &["card", "--card-id", CARD, "--openid", "oOne"],
    )
    .await;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("errcode 45015"));
}

fn openid_file(dir: &Path, count: usize) -> String {
    let path = dir.join("openids.txt");
    let lines: String = (0..count).map(|i| format!("oMember{i:05}\n")).collect();
    std::fs::write(&path, lines).unwrap();
    path.display().to_string()
}

async fn mass_list(config: &Path) -> Vec<Value> {
    let out = run_cli_ok("mass", config, &["list", "--format", "json"]).await;
    serde_json::from_str::<Value>(&out).unwrap()["sends"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn mass_sends_go_in_batches_after_a_preview_and_their_report_fills_the_list() {
    let (app, config) = messages_app().await;
    let preview = run_cli_ok(
        "mass",
        &config,
        &[
            "card",
            "--card-id",
            CARD,
            "--preview",
            "oOperator",
            "--json",
        ],
    )
    .await;
    assert_eq!(
        serde_json::from_str::<Value>(&preview).unwrap()["status"],
        "preview"
    );
    assert_eq!(
        app.fake_wechat
            .bodies("/cgi-bin/message/mass/preview")
            .await,
        [json!({"touser": "oOperator", "wxcard": {"card_id": CARD}, "msgtype": "wxcard"})]
    );
    run_cli_ok(
        "mass",
        &config,
        &[
            "card",
            "--card-id",
            CARD,
            "--tag-id",
            "2",
            "--name",
            "VIP tag",
        ],
    )
    .await;
    run_cli_ok("mass", &config, &["card", "--card-id", CARD, "--all"]).await;
    assert_eq!(
        app.fake_wechat
            .bodies("/cgi-bin/message/mass/sendall")
            .await,
        [
            json!({"filter": {"is_to_all": false, "tag_id": 2}, "wxcard": {"card_id": CARD}, "msgtype": "wxcard"}),
            json!({"filter": {"is_to_all": true}, "wxcard": {"card_id": CARD}, "msgtype": "wxcard"}),
        ]
    );
    let file = openid_file(app.dir.path(), 10_001);
    run_cli_ok(
        "mass",
        &config,
        &["card", "--card-id", CARD, "--openids", &file],
    )
    .await;
    let batches = app.fake_wechat.bodies("/cgi-bin/message/mass/send").await;
    let sizes: Vec<usize> = batches
        .iter()
        .map(|b| b["touser"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, [5_001, 5_000], "10 001 OpenIDs in two even calls");
    assert_eq!(
        (&batches[0]["msgtype"], &batches[0]["wxcard"]),
        (&json!("wxcard"), &json!({"card_id": CARD}))
    );
    // A send to one OpenID is refused before anything is sent.
    let one = openid_file(app.dir.path(), 1);
    let refused = run_cli(
        "mass",
        &config,
        &["card", "--card-id", CARD, "--openids", &one],
    )
    .await;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("at least 2"));
    assert_eq!(
        app.fake_wechat
            .bodies("/cgi-bin/message/mass/send")
            .await
            .len(),
        2
    );
    // The admin API does the same.
    let order = json!({"appid": appid(), "card_id": CARD, "target": {"tag": 3}});
    let created = app.admin_json(Method::POST, "/api/v1/mass", &order).await;
    let (status, created) = crate::admin::documented(created, "/api/v1/mass", "post").await;
    assert_eq!((status, &created["target"]), (201, &json!("tag:3")));

    // msg_ids: preview 1000, tag 1001, all 1002, openids 1003 and 1004, admin 1005.
    let finish = |msg_id: i64, status: &str, time: i64| {
        format!(
            "<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[oSystem]]></FromUserName>\
             <CreateTime>{time}</CreateTime><MsgType><![CDATA[event]]></MsgType>\
             <Event><![CDATA[MASSSENDJOBFINISH]]></Event><MsgID>{msg_id}</MsgID><Status><![CDATA[{status}]]></Status>\
             <TotalCount>100</TotalCount><FilterCount>80</FilterCount><SentCount>75</SentCount><ErrorCount>5</ErrorCount></xml>"
        )
    };
    let tag_done = finish(1001, "sendsuccess", 1_700_000_000);
    push(&app, &tag_done).await;
    push(&app, &tag_done).await;
    push(&app, &finish(1003, "sendsuccess", 1_700_000_001)).await;
    push(&app, &finish(1002, "err(30003)", 1_700_000_002)).await;
    let sends = mass_list(&config).await;
    let by_name = |name: &str| -> Value {
        sends
            .iter()
            .find(|s| s["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name}: {sends:?}"))
    };
    let tag = by_name("VIP tag");
    assert_eq!(
        (
            &tag["msg_ids"],
            &tag["status"],
            &tag["total"],
            &tag["sent"],
            &tag["errors"]
        ),
        (
            &json!([1001]),
            &json!("sendsuccess"),
            &json!(100),
            &json!(75),
            &json!(5)
        ),
        "reported once, though delivered twice"
    );
    assert_eq!(by_name("all")["status"], "err(30003)");
    let listed = by_name("openids:10001");
    assert_eq!(
        (&listed["msg_ids"], &listed["status"], &listed["sent"]),
        (&json!([1003, 1004]), &json!("submitted"), &json!(75)),
        "one of its two calls reported"
    );
    let keys: Vec<&str> = tag
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for key in [
        "id",
        "appid",
        "card_id",
        "name",
        "target",
        "msg_ids",
        "status",
        "total",
        "sent",
        "errors",
        "created_at",
    ] {
        assert!(keys.contains(&key), "{key}: {tag}");
    }
    assert_eq!(tag["appid"], appid());
    let listed = app.admin_get("/api/v1/mass").await;
    let (_, listed) = crate::admin::documented(listed, "/api/v1/mass", "get").await;
    assert_eq!(listed["sends"].as_array().unwrap().len(), 5);
}
