//! Issue 8 end to end: channels created and named through cardhook (admin API and CLI) against the
//! fake WeChat API, their funnel read back by name, code deposits resumed, JS-SDK signatures.

use std::path::{Path, PathBuf};

use cardhook::wechat::jssdk::{card_ext_signature, card_sign, config_signature, ChooseCard};
use cardhook::wechat::Mode;
use reqwest::Method;
use serde_json::{json, Value};

use crate::admin::DISTRIBUTION_PATHS;
use crate::support::backend::Backend;
use crate::support::fake_codes::FakeCodes;
use crate::support::fixtures::{assert_success, code_event_xml, get_card_xml};
use crate::support::process::{run_cli, run_cli_ok, write_config};
use crate::support::{account_for, spawn_app, spawn_app_on, TestApp};

const QR_URL: &str = "http://weixin.qq.com/q/BHWya_zlfioH6fXeL16o";

fn safe_appid() -> &'static str {
    account_for(Mode::Safe).0
}

/// A CLI configuration on the app's database and fake WeChat API (one account: the safe one).
fn cli_config(app: &TestApp) -> PathBuf {
    let db = format!("sqlite://{}?mode=rwc", app.db_path.display());
    write_config(app.dir.path(), &db, &app.fake_wechat.uri(), "")
}

/// The answer's JSON; an admin answer of issue 8 is also checked against what the OpenAPI document
/// says for its path and status.
async fn json_of(response: reqwest::Response, status: u16) -> Value {
    let got = response.status().as_u16();
    let path = response.url().path().to_owned();
    let body = response.text().await.unwrap();
    assert_eq!(got, status, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    if let Some(template) = DISTRIBUTION_PATHS
        .iter()
        .find(|t| matches_template(t, &path))
    {
        let spec = cardhook::http::openapi::document();
        let schemas: Vec<&Value> = spec["paths"][*template]
            .as_object()
            .unwrap()
            .values()
            .map(|op| &op["responses"][status.to_string()]["content"]["application/json"]["schema"])
            .filter(|schema| !schema.is_null())
            .collect();
        assert_eq!(schemas.len(), 1, "{template} {status} is documented once");
        crate::admin::check(spec, schemas[0], &answer, &path);
    }
    answer
}

/// Whether `path` is an instance of the OpenAPI path `template` (`{name}` matches one segment).
fn matches_template(template: &str, path: &str) -> bool {
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len() && t.iter().zip(&p).all(|(t, p)| t.starts_with('{') || t == p)
}

/// The QR code in a PNG, decoded.
fn decode_qr(png: &[u8]) -> String {
    let mut reader = png::Decoder::new(std::io::Cursor::new(png))
        .read_info()
        .unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    let (w, h) = (info.width as usize, info.height as usize);
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| pixels[y * w + x]);
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    grids[0].decode().unwrap().1
}

async fn stats_row(app: &TestApp, outer_str: &str) -> Value {
    let stats = json_of(
        app.admin_get(&format!("/api/v1/stats/channels?appid={}", safe_appid()))
            .await,
        200,
    )
    .await;
    stats["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["outer_str"] == outer_str)
        .cloned()
        .unwrap_or_else(|| panic!("no row for {outer_str}: {stats}"))
}

async fn push(app: &TestApp, xml: &str) {
    assert_success(app.push_xml(xml, Mode::Safe).await).await;
}

#[tokio::test]
async fn a_qr_code_channel_is_read_back_by_name_with_its_funnel() {
    let app = spawn_app().await;
    app.fake_wechat.token_ok("TOKEN", 7200, None).await;
    app.fake_wechat
        .answer_ok("/card/qrcode/create", "qrcode_create_ok.json")
        .await;
    let order = json!({
        "appid": safe_appid(), "card_id": "pCardA", "outer_str": "t12",
        "name": "Store 12 table tent", "expire_seconds": 1800
    });
    let created = json_of(
        app.admin_json(Method::POST, "/api/v1/channels/qrcode", &order)
            .await,
        201,
    )
    .await;
    assert_eq!(created["url"], QR_URL);
    assert_eq!(created["channel"]["name"], "Store 12 table tent");
    let sent = app.fake_wechat.bodies("/card/qrcode/create").await;
    assert_eq!(
        sent,
        [json!({"action_name": "QR_CARD", "expire_seconds": 1800,
                "action_info": {"card": {"card_id": "pCardA", "outer_str": "t12"}}})]
    );
    let calls = app.fake_wechat.requests_to("/card/qrcode/create").await;
    assert!(calls[0].url.query().unwrap().contains("access_token=TOKEN"));

    // Registered, nobody has used it yet: it shows with zeros.
    let row = stats_row(&app, "t12").await;
    assert_eq!(
        (row["channel_name"].clone(), row["got"].clone()),
        (json!("Store 12 table tent"), json!(0))
    );

    let now = chrono::Utc::now().timestamp();
    push(&app, &get_card_xml("o1", now, "pCardA", "c1", 0, "t12")).await;
    push(&app, &get_card_xml("o2", now, "pCardA", "c2", 0, "t12")).await;
    push(
        &app,
        &get_card_xml("o3", now, "pCardA", "c3", 0, "elsewhere"),
    )
    .await;
    push(
        &app,
        &code_event_xml("user_del_card", "o1", now + 1, "pCardA", "c1"),
    )
    .await;
    push(
        &app,
        &code_event_xml("user_consume_card", "o2", now + 1, "pCardA", "c2"),
    )
    .await;
    let row = stats_row(&app, "t12").await;
    assert_eq!(row["channel_name"], "Store 12 table tent");
    assert_eq!(
        [
            &row["got"],
            &row["deleted"],
            &row["consumed"],
            &row["users"]
        ],
        [&json!(2), &json!(1), &json!(1), &json!(2)]
    );
    assert_eq!(
        stats_row(&app, "elsewhere").await["channel_name"],
        Value::Null
    );
    let csv = app
        .admin_get(&format!(
            "/api/v1/stats/channels?appid={}&format=csv",
            safe_appid()
        ))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        csv.starts_with("appid,card_id,outer_id,outer_str,got,"),
        "{csv}"
    );
    assert!(
        csv.lines().next().unwrap().ends_with(",users,channel_name"),
        "{csv}"
    );
    assert!(csv.contains(",Store 12 table tent\n"), "{csv}");

    // The printable QR code decodes back to WeChat's url.
    let id = created["channel"]["id"].as_i64().unwrap();
    let png = app
        .admin_get(&format!("/api/v1/channels/{id}/qrcode.png"))
        .await;
    assert_eq!(png.headers()["content-type"], "image/png");
    assert_eq!(decode_qr(&png.bytes().await.unwrap()), QR_URL);

    // A new QR code for the same channel updates it: one channel, the new name.
    let renamed = json!({"appid": safe_appid(), "card_id": "pCardA", "outer_str": "t12", "name": "Store 12 (reprint)"});
    let again = json_of(
        app.admin_json(Method::POST, "/api/v1/channels/qrcode", &renamed)
            .await,
        201,
    )
    .await;
    assert_eq!(again["channel"]["id"], id);
    let list = json_of(app.admin_get("/api/v1/channels").await, 200).await;
    assert_eq!(list["channels"].as_array().unwrap().len(), 1);
    assert_eq!(
        stats_row(&app, "t12").await["channel_name"],
        "Store 12 (reprint)"
    );
    assert_eq!(
        app.fake_wechat.token_requests().await.len(),
        1,
        "the token is cached"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn the_cli_creates_named_qr_codes_prints_them_and_reads_them_back() {
    let app = spawn_app().await;
    app.fake_wechat.token_ok("TOKEN", 7200, None).await;
    app.fake_wechat
        .answer_ok("/card/qrcode/create", "qrcode_create_ok.json")
        .await;
    let config = cli_config(&app);
    let png = app.dir.path().join("shop7.png");
    let png_arg = png.display().to_string();
    let out = run_cli_ok(
        "qrcode",
        &config,
        &[
            "create",
            "--card-id",
            "pCardB",
            "--outer-str",
            "s7",
            "--name",
            "Shop 7 window",
            "--expire",
            "600",
            "--unique-code",
            "--png",
            &png_arg,
        ],
    )
    .await;
    assert!(out.contains(QR_URL), "{out}");
    assert_eq!(decode_qr(&std::fs::read(&png).unwrap()), QR_URL);
    run_cli_ok(
        "qrcode",
        &config,
        &[
            "create",
            "--multiple",
            "pCardB,pCardC",
            "--outer-id",
            "5",
            "--name",
            "Both cards",
        ],
    )
    .await;
    let sent = app.fake_wechat.bodies("/card/qrcode/create").await;
    assert_eq!(
        sent[0]["action_info"]["card"],
        json!({"card_id": "pCardB", "outer_str": "s7", "is_unique_code": true})
    );
    assert_eq!(sent[0]["expire_seconds"], 600);
    assert_eq!(
        sent[1]["action_info"]["multiple_card"]["card_list"],
        json!([{"card_id": "pCardB", "outer_id": 5}, {"card_id": "pCardC", "outer_id": 5}])
    );

    let now = chrono::Utc::now().timestamp();
    push(&app, &get_card_xml("o1", now, "pCardB", "b1", 0, "s7")).await;
    push(&app, &get_card_xml("o2", now, "pCardC", "x1", 5, "")).await;
    let stats: Value =
        serde_json::from_str(&run_cli_ok("stats", &config, &["--format", "json"]).await).unwrap();
    let names: Vec<(String, i64, String)> = stats["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["card_id"].as_str().unwrap().to_owned(),
                r["got"].as_i64().unwrap(),
                r["channel_name"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect();
    // The multi-card QR code names its channel on every card.
    assert_eq!(
        names,
        [
            ("pCardB".to_owned(), 1, "Shop 7 window".to_owned()),
            ("pCardC".to_owned(), 1, "Both cards".to_owned())
        ]
    );
    let table = run_cli_ok("stats", &config, &[]).await;
    assert!(table.contains("Shop 7 window"), "{table}");
    let channels: Value =
        serde_json::from_str(&run_cli_ok("channels", &config, &["list", "--json"]).await).unwrap();
    let kinds: Vec<&str> = channels
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["qrcode", "qrcode_multiple"]);
    app.shutdown().await;
}

#[tokio::test]
async fn wechat_errcodes_and_bad_orders_get_clear_answers_and_register_nothing() {
    let app = spawn_app().await;
    app.fake_wechat.token_ok("TOKEN", 7200, None).await;
    app.fake_wechat
        .answer_errcode("/card/qrcode/create", 40053, 1)
        .await;
    let order =
        json!({"appid": safe_appid(), "card_id": "pCardA", "outer_str": "t1", "name": "T1"});
    let refused = json_of(
        app.admin_json(Method::POST, "/api/v1/channels/qrcode", &order)
            .await,
        502,
    )
    .await;
    assert_eq!(refused["error"], "wechat_api_error");
    let message = refused["message"].as_str().unwrap();
    assert!(message.contains("40053 (invalid action_info)"), "{message}");
    assert!(!message.contains("TOKEN"), "{message}");

    for (body, status, reason) in [
        (
            json!({"appid": safe_appid(), "card_id": "pCardA", "name": "no key"}),
            400,
            "bad_request",
        ),
        (
            json!({"appid": safe_appid(), "card_id": "pCardA", "outer_str": "t", "name": "x", "expire_seconds": 30}),
            400,
            "bad_request",
        ),
        (
            json!({"card_id": "pCardA", "outer_str": "t", "name": "x"}),
            400,
            "appid_required",
        ),
        (
            json!({"appid": "wxnobody", "card_id": "pCardA", "outer_str": "t", "name": "x"}),
            404,
            "unknown_appid",
        ),
        (
            json!({"appid": safe_appid(), "outer_str": "t"}),
            400,
            "bad_param",
        ),
    ] {
        let answer = json_of(
            app.admin_json(Method::POST, "/api/v1/channels/qrcode", &body)
                .await,
            status,
        )
        .await;
        assert_eq!(answer["error"], reason, "{body}: {answer}");
    }
    assert_eq!(
        app.fake_wechat.bodies("/card/qrcode/create").await.len(),
        1,
        "bad orders made no call"
    );
    let list = json_of(app.admin_get("/api/v1/channels").await, 200).await;
    assert_eq!(list["channels"], json!([]));

    // The CLI says the same: out of stock.
    app.fake_wechat
        .answer_errcode("/card/qrcode/create", 45031, 1)
        .await;
    let out = run_cli(
        "qrcode",
        &cli_config(&app),
        &[
            "create",
            "--card-id",
            "pCardA",
            "--outer-str",
            "t1",
            "--name",
            "T1",
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("45031 (out of stock)"), "{stderr}");
    app.shutdown().await;
}

fn code_file(dir: &Path, name: &str, codes: &[String]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, codes.join("\n") + "\n").unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn an_interrupted_deposit_resumes_and_imports_each_code_once() {
    let app = spawn_app().await;
    app.fake_wechat.token_ok("TOKEN", 7200, None).await;
    let fake = FakeCodes::mount(&app.fake_wechat).await;
    let config = cli_config(&app);
    let codes: Vec<String> = (1..=250)
        .map(|i| format!("{:012}", 880_000_000 + i))
        .collect();
    let file = code_file(app.dir.path(), "codes.txt", &codes);
    // The second call reaches WeChat, which stores its codes, but the answer is lost.
    fake.fail_call(2, 502, true);

    let first = run_cli(
        "codes",
        &config,
        &["deposit", "--card-id", "pDeposit", &file],
    )
    .await;
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(!first.status.success());
    assert!(
        stderr.contains("stopped after 100 of 250") && stderr.contains("again to resume"),
        "{stderr}"
    );

    let second = run_cli_ok(
        "codes",
        &config,
        &["deposit", "--card-id", "pDeposit", &file, "--json"],
    )
    .await;
    let report: Value = serde_json::from_str(&second).unwrap();
    assert_eq!(
        [
            &report["already_deposited"],
            &report["deposited"],
            &report["duplicate"],
            &report["calls"],
            &report["deposit_count"]
        ],
        [&json!(100), &json!(50), &json!(100), &json!(2), &json!(250)]
    );
    assert_eq!(report["missing"], json!([]));
    assert_eq!(fake.held("pDeposit").len(), 250);
    let sends = fake.accepted_sends();
    // The first 100 were never sent again; the lost answer's 100 were (WeChat said duplicate).
    for (i, code) in codes.iter().enumerate() {
        let expected = if (100..200).contains(&i) { 2 } else { 1 };
        assert_eq!(sends[code], expected, "{code}");
    }
    assert_eq!(fake.deposit_calls(), 4, "100 per call: 2 + 2");

    // Done: a third run sends nothing and still verifies.
    let third = run_cli_ok(
        "codes",
        &config,
        &["deposit", "--card-id", "pDeposit", &file],
    )
    .await;
    assert!(third.contains("already deposited  250"), "{third}");
    assert_eq!(fake.deposit_calls(), 4);

    // A code WeChat refuses is reported, and the exit status says so.
    fake.refuse("bad-code-1");
    let refused = code_file(
        app.dir.path(),
        "refused.txt",
        &["ok-code-1".into(), "bad-code-1".into(), "ok-code-1".into()],
    );
    let out = run_cli(
        "codes",
        &config,
        &["deposit", "--card-id", "pOther", &refused],
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(
        stdout.contains("failed             1") && stdout.contains("  bad-code-1"),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 repeated line"));

    // check: what WeChat does not have.
    let mixed = code_file(
        app.dir.path(),
        "mixed.txt",
        &[codes[0].clone(), "never-deposited".into()],
    );
    let out = run_cli(
        "codes",
        &config,
        &["check", "--card-id", "pDeposit", &mixed],
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(
        stdout.contains("exist      1") && stdout.contains("  never-deposited"),
        "{stdout}"
    );

    // The admin API runs the same deposit.
    let body = json!({"appid": safe_appid(), "codes": ["api-1", "api-2", "api-1"]});
    let report = json_of(
        app.admin_json(Method::POST, "/api/v1/cards/pApi/codes/deposit", &body)
            .await,
        200,
    )
    .await;
    assert_eq!(
        (report["codes"].clone(), report["deposited"].clone()),
        (json!(2), json!(2))
    );
    let check = json_of(
        app.admin_json(
            Method::POST,
            "/api/v1/cards/pApi/codes/check",
            &json!({"appid": safe_appid(), "codes": ["api-2", "api-3"]}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(check["not_exist"], json!(["api-3"]));
    // One code per item: a blank item, or blanks inside one, is refused whole (nothing deposited).
    let calls = fake.deposit_calls();
    for codes in [json!(["api-4", " "]), json!(["api-4", "api 5"])] {
        let body = json!({"appid": safe_appid(), "codes": codes});
        let refusal = json_of(
            app.admin_json(Method::POST, "/api/v1/cards/pApi/codes/deposit", &body)
                .await,
            400,
        )
        .await;
        assert_eq!(refusal["error"], "bad_param", "{refusal}");
        assert!(
            refusal["message"]
                .as_str()
                .unwrap()
                .contains("codes` item 1"),
            "{refusal}"
        );
    }
    assert_eq!(
        fake.deposit_calls(),
        calls,
        "nothing sent for a refused list"
    );
    // deposit and check are the path's two actions: any other is a method the path does not take.
    let other = app
        .admin_json(Method::POST, "/api/v1/cards/pApi/codes/other", &json!({}))
        .await;
    assert_eq!(other.status(), 405);

    // Reference 001 documents the answer's lists as counts: the codes WeChat then holds are found
    // with checkcode, and a second run sends none again.
    fake.answer_with_counts();
    fake.refuse("count-bad");
    let body = json!({"appid": safe_appid(), "codes": ["count-1", "count-bad", "count-2"]});
    let report = json_of(
        app.admin_json(Method::POST, "/api/v1/cards/pCount/codes/deposit", &body)
            .await,
        200,
    )
    .await;
    assert_eq!(
        (report["deposited"].clone(), report["failed"].clone()),
        (json!(2), json!(["count-bad"]))
    );
    let calls = fake.deposit_calls();
    let body = json!({"appid": safe_appid(), "codes": ["count-1", "count-2"]});
    let again = json_of(
        app.admin_json(Method::POST, "/api/v1/cards/pCount/codes/deposit", &body)
            .await,
        200,
    )
    .await;
    assert_eq!(again["already_deposited"], json!(2));
    assert_eq!(fake.deposit_calls(), calls, "nothing sent twice");
    app.shutdown().await;
}

#[tokio::test]
async fn whitelist_mpnews_and_landing_pages() {
    let app = spawn_app().await;
    app.fake_wechat.token_ok("TOKEN", 7200, None).await;
    app.fake_wechat
        .answer_ok("/card/testwhitelist/set", "activate_ok.json")
        .await;
    app.fake_wechat
        .answer_ok("/card/mpnews/gethtml", "mpnews_gethtml_ok.json")
        .await;
    app.fake_wechat
        .answer_ok("/card/landingpage/create", "landingpage_create_ok.json")
        .await;
    let eleven: Vec<String> = (0..11).map(|i| format!("o{i}")).collect();
    let too_many = json!({"appid": safe_appid(), "openid": eleven});
    let answer = json_of(
        app.admin_json(Method::PUT, "/api/v1/testwhitelist", &too_many)
            .await,
        400,
    )
    .await;
    assert!(
        answer["message"].as_str().unwrap().contains("1 to 10"),
        "{answer}"
    );
    let list =
        json!({"appid": safe_appid(), "openid": ["oTest1"], "username": ["merchant_tester"]});
    json_of(
        app.admin_json(Method::PUT, "/api/v1/testwhitelist", &list)
            .await,
        200,
    )
    .await;
    let config = cli_config(&app);
    run_cli_ok("whitelist", &config, &["set", "--openid", "oTest2"]).await;
    assert_eq!(
        app.fake_wechat.bodies("/card/testwhitelist/set").await,
        [
            json!({"openid": ["oTest1"], "username": ["merchant_tester"]}),
            json!({"openid": ["oTest2"], "username": []})
        ]
    );

    let html = run_cli_ok(
        "mpnews-html",
        &config,
        &["--card-id", "p1Pj9jr90_SQRaVqYI239Ka1erkI"],
    )
    .await;
    assert!(
        html.starts_with("<iframe class=\"res_iframe card_iframe"),
        "{html}"
    );
    assert_eq!(
        app.fake_wechat.bodies("/card/mpnews/gethtml").await,
        [json!({"card_id": "p1Pj9jr90_SQRaVqYI239Ka1erkI"})]
    );
    let via_api = json_of(
        app.admin_get(&format!(
            "/api/v1/cards/pX/mpnews-html?appid={}",
            safe_appid()
        ))
        .await,
        200,
    )
    .await;
    assert!(via_api["content"].as_str().unwrap().contains("iframe"));

    let out = run_cli_ok(
        "landingpage",
        &config,
        &[
            "create",
            "--title",
            "惠城优惠大派送",
            "--banner",
            "http://mmbiz.qpic.cn/banner",
            "--scene",
            "SCENE_QRCODE",
            "--card",
            "pCardA=http://mmbiz.qpic.cn/a",
            "--card",
            "pCardB=http://mmbiz.qpic.cn/b",
            "--share",
            "--outer-str",
            "shelf",
        ],
    )
    .await;
    assert!(out.contains("page_id  1"), "{out}");
    assert_eq!(
        app.fake_wechat.bodies("/card/landingpage/create").await,
        [
            json!({"banner": "http://mmbiz.qpic.cn/banner", "page_title": "惠城优惠大派送", "can_share": true, "scene": "SCENE_QRCODE",
                "card_list": [{"card_id": "pCardA", "thumb_url": "http://mmbiz.qpic.cn/a"}, {"card_id": "pCardB", "thumb_url": "http://mmbiz.qpic.cn/b"}]})
        ]
    );
    let bad = run_cli(
        "landingpage",
        &config,
        &[
            "create",
            "--title",
            "t",
            "--banner",
            "b",
            "--scene",
            "SCENE_MOON",
            "--card",
            "pA=u",
        ],
    )
    .await;
    assert!(String::from_utf8_lossy(&bad.stderr).contains("scene must be one of"));
    let push_time = chrono::Utc::now().timestamp();
    push(
        &app,
        &get_card_xml("o9", push_time, "pCardB", "shelf-1", 0, "shelf"),
    )
    .await;
    assert_eq!(
        stats_row(&app, "shelf").await["channel_name"],
        "惠城优惠大派送"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn jssdk_parameters_are_signed_with_cached_tickets() {
    let app = spawn_app().await;
    // The first token is refused by getticket (40001): cardhook refreshes it once and goes on.
    app.fake_wechat.token_ok("OLD", 7200, Some(1)).await;
    app.fake_wechat.token_ok("NEW", 7200, None).await;
    app.fake_wechat.tickets_ok(Some("OLD")).await;
    let order = json!({"appid": safe_appid(), "card_id": "pCardA", "code": "1434008071", "outer_str": "h5_banner", "fixed_begintimestamp": 1404896688});
    let mut signed = vec![];
    for _ in 0..2 {
        signed.push(
            json_of(
                app.admin_json(Method::POST, "/api/v1/jssdk/card-ext", &order)
                    .await,
                200,
            )
            .await,
        );
    }
    for answer in &signed {
        assert_eq!(answer["card_id"], "pCardA");
        let ext: Value = serde_json::from_str(answer["card_ext"].as_str().unwrap()).unwrap();
        assert_eq!(
            (
                ext["outer_str"].clone(),
                ext["fixed_begintimestamp"].clone(),
                ext["code"].clone()
            ),
            (json!("h5_banner"), json!(1404896688), json!("1434008071"))
        );
        let expected = card_ext_signature(
            "wx_card-ticket",
            ext["timestamp"].as_str().unwrap(),
            "pCardA",
            Some("1434008071"),
            None,
            ext["nonce_str"].as_str().unwrap(),
        );
        assert_eq!(ext["signature"], expected);
    }
    let nonce = |a: &Value| {
        serde_json::from_str::<Value>(a["card_ext"].as_str().unwrap()).unwrap()["nonce_str"].clone()
    };
    assert_ne!(nonce(&signed[0]), nonce(&signed[1]), "a nonce per request");

    let choose = json_of(
        app.admin_json(
            Method::POST,
            "/api/v1/jssdk/card-sign",
            &json!({"appid": safe_appid(), "card_type": "MEMBER_CARD"}),
        )
        .await,
        200,
    )
    .await;
    let expected = card_sign(
        "wx_card-ticket",
        safe_appid(),
        &choose["timestamp"].to_string(),
        choose["nonceStr"].as_str().unwrap(),
        ChooseCard {
            card_type: "MEMBER_CARD",
            ..ChooseCard::default()
        },
    );
    assert_eq!(
        (choose["cardSign"].clone(), choose["signType"].clone()),
        (json!(expected), json!("SHA1"))
    );

    let config = json_of(
        app.admin_json(
            Method::POST,
            "/api/v1/jssdk/config",
            &json!({"appid": safe_appid(), "url": "https://shop.example/card?id=7#section"}),
        )
        .await,
        200,
    )
    .await;
    let expected = config_signature(
        "jsapi-ticket",
        config["nonceStr"].as_str().unwrap(),
        &config["timestamp"].to_string(),
        "https://shop.example/card?id=7",
    );
    assert_eq!(
        (config["signature"].clone(), config["appId"].clone()),
        (json!(expected), json!(safe_appid()))
    );
    let bad = json_of(
        app.admin_json(
            Method::POST,
            "/api/v1/jssdk/config",
            &json!({"appid": safe_appid(), "url": "ftp://x"}),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(bad["error"], "bad_request");

    // Fetched once each (plus the refused try), never per request.
    let tickets = app
        .fake_wechat
        .requests_to("/cgi-bin/ticket/getticket")
        .await;
    let types: Vec<String> = tickets
        .iter()
        .map(|r| {
            r.url
                .query_pairs()
                .find(|(k, _)| k == "type")
                .unwrap()
                .1
                .into_owned()
        })
        .collect();
    assert_eq!(types, ["wx_card", "wx_card", "jsapi"]);
    assert_eq!(app.fake_wechat.token_requests().await.len(), 2);
    let metrics = app.admin_get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("credential=\"wx_card\""), "{metrics}");
    assert!(
        !metrics.contains("-ticket") && !metrics.contains("NEW"),
        "no ticket or token in metrics"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn the_registry_keys_channels_on_postgres_too() {
    let app = spawn_app_on(Backend::Postgres, |_| {}).await;
    app.fake_wechat.token_ok("TOKEN", 7200, None).await;
    app.fake_wechat
        .answer_ok("/card/landingpage/create", "landingpage_create_ok.json")
        .await;
    let named = json!({"appid": safe_appid(), "outer_str": "poster", "name": "Poster"});
    let first = json_of(
        app.admin_json(Method::POST, "/api/v1/channels", &named)
            .await,
        201,
    )
    .await;
    let renamed = json!({"appid": safe_appid(), "outer_str": "poster", "name": "Poster, lobby"});
    let second = json_of(
        app.admin_json(Method::POST, "/api/v1/channels", &renamed)
            .await,
        201,
    )
    .await;
    assert_eq!(first["id"], second["id"]);
    // Landing pages without a key are kept side by side.
    let page = json!({"appid": safe_appid(), "title": "Shelf", "banner": "http://b", "scene": "SCENE_MENU", "cards": [{"card_id": "pA", "thumb_url": "http://t"}]});
    for _ in 0..2 {
        json_of(
            app.admin_json(Method::POST, "/api/v1/channels/landingpage", &page)
                .await,
            201,
        )
        .await;
    }
    let list = json_of(app.admin_get("/api/v1/channels").await, 200).await;
    let names: Vec<&str> = list["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Poster, lobby", "Shelf", "Shelf"]);
    push(
        &app,
        &get_card_xml(
            "o1",
            chrono::Utc::now().timestamp(),
            "pA",
            "k1",
            0,
            "poster",
        ),
    )
    .await;
    assert_eq!(
        stats_row(&app, "poster").await["channel_name"],
        "Poster, lobby"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_sharing_a_database_fetch_each_ticket_once() {
    use cardhook::credentials::TokenProvider;
    use cardhook::metrics::Metrics;
    use cardhook::wechat_api::ticket::TicketKind;
    let app = spawn_app().await;
    app.fake_wechat.token_ok("TOKEN", 7200, None).await;
    app.fake_wechat.tickets_ok(None).await;
    // Three "instances": their own providers (own caches, own lease owners) on one database.
    let providers: Vec<TokenProvider> = (0..3)
        .map(|_| {
            TokenProvider::from_settings(
                &app.settings,
                cardhook::store::Db::new(app.db.clone()),
                Metrics::new().unwrap(),
            )
            .unwrap()
        })
        .collect();
    let now = chrono::Utc::now().timestamp();
    let asks = providers.iter().flat_map(|p| {
        [TicketKind::Card, TicketKind::JsApi, TicketKind::Card]
            .map(|kind| async move { p.ticket(safe_appid(), kind, now).await.unwrap() })
    });
    let tickets = futures_util::future::join_all(asks).await;
    assert_eq!(tickets.iter().filter(|t| *t == "wx_card-ticket").count(), 6);
    assert_eq!(tickets.iter().filter(|t| *t == "jsapi-ticket").count(), 3);
    let fetched = app
        .fake_wechat
        .requests_to("/cgi-bin/ticket/getticket")
        .await;
    assert_eq!(
        fetched.len(),
        2,
        "one fetch per ticket across the instances"
    );
    assert_eq!(app.fake_wechat.token_requests().await.len(), 1);
    app.shutdown().await;
}

#[tokio::test]
async fn a_channel_list_writes_an_outer_id_beyond_64_bits_with_its_digits() {
    let app = spawn_app().await;
    let digits = format!("1{}", "0".repeat(57));
    let named = json!({"appid": safe_appid(), "outer_id": digits, "name": "Poster, 58 digits"});
    let created = app
        .admin_json(Method::POST, "/api/v1/channels", &named)
        .await;
    assert_eq!(created.status(), 201);
    assert!(created
        .text()
        .await
        .unwrap()
        .contains(&format!("\"outer_id\":{digits},")));
    // The list too (schemathesis found it written as 1e+57: its answer went through f64).
    let list = app
        .admin_get("/api/v1/channels")
        .await
        .text()
        .await
        .unwrap();
    assert!(list.contains(&format!("\"outer_id\":{digits},")), "{list}");
    app.shutdown().await;
}
