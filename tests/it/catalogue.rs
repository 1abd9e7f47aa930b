//! The card catalogue (issue 25): images uploaded as WeChat expects them, cards created from a JSON
//! file with their local images uploaded first, review pushes moving `card list`, stock, update and
//! the one-click form — through the real binary and admin API, against a fake WeChat catalogue.

use std::path::{Path, PathBuf};

use cardhook::wechat::Mode;
use reqwest::Method;
use sea_orm::EntityTrait;
use serde_json::{json, Value};

use crate::support::fake_catalogue::FakeCatalogue;
use crate::support::fake_codes::FakeCodes;
use crate::support::fixtures::assert_success;
use crate::support::process::{run_cli, run_cli_ok, write_config};
use crate::support::{account_for, spawn_app, TestApp};

const UPLOAD: &str = "/cgi-bin/media/uploadimg";

/// The admin routes whose answers are checked against the OpenAPI document here.
pub const CATALOGUE_PATHS: [&str; 2] = ["/api/v1/cards", "/api/v1/cards/{card_id}"];

fn cards_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cards")
}

fn fixture(name: &str) -> String {
    cards_dir().join(name).display().to_string()
}

fn json_file(path: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// An app, its fake catalogue, and a CLI config on the same database and fake.
async fn catalogue_app() -> (TestApp, FakeCatalogue, PathBuf) {
    let app = spawn_app().await;
    app.fake_wechat.token_ok("TOKEN", 7200, None).await;
    let catalogue = FakeCatalogue::mount(&app.fake_wechat).await;
    let db = format!("sqlite://{}?mode=rwc", app.db_path.display());
    let config = write_config(app.dir.path(), &db, &app.fake_wechat.uri(), "");
    (app, catalogue, config)
}

async fn card_list(config: &Path) -> Vec<Value> {
    let out = run_cli_ok("card", config, &["list", "--format", "json"]).await;
    let list: Value = serde_json::from_str(&out).unwrap();
    list["cards"].as_array().unwrap().clone()
}

/// The card `card_id` of the list: (status, refuse_reason).
async fn review_of(config: &Path, card_id: &str) -> (Value, Value) {
    let cards = card_list(config).await;
    let card = cards
        .iter()
        .find(|c| c["card_id"] == card_id)
        .unwrap_or_else(|| panic!("{card_id} not in {cards:?}"));
    (card["status"].clone(), card["refuse_reason"].clone())
}

#[tokio::test]
async fn an_image_is_one_multipart_part_named_media_and_bad_images_never_leave() {
    let (app, _catalogue, config) = catalogue_app().await;
    let logo = fixture("logo.png");
    let url = run_cli_ok("media", &config, &["uploadimg", &logo]).await;
    assert_eq!(url.trim(), "http://mmbiz.qpic.cn/mmbiz/fake-upload-1/0");
    let sent = app.fake_wechat.requests_to(UPLOAD).await;
    assert_eq!(sent.len(), 1);
    let content_type = sent[0].headers["content-type"].to_str().unwrap().to_owned();
    let boundary = content_type
        .strip_prefix("multipart/form-data; boundary=")
        .unwrap_or_else(|| panic!("{content_type}"));
    let png = std::fs::read(&logo).unwrap();
    let mut expected = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"media\"; filename=\"logo.png\"\r\n\
         Content-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    expected.extend_from_slice(&png);
    expected.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    assert_eq!(
        sent[0].body, expected,
        "exactly one part, as WeChat expects it"
    );
    assert_eq!(
        sent[0].url.query_pairs().collect::<Vec<_>>(),
        [("access_token".into(), "TOKEN".into())]
    );

    let gif = app.dir.path().join("logo.gif");
    std::fs::write(&gif, b"GIF89a\x01\x00\x01\x00").unwrap();
    let mut big = vec![0xFF, 0xD8, 0xFF, 0xE0];
    big.resize(1024 * 1024 + 1, 7);
    let huge = app.dir.path().join("huge.jpg");
    std::fs::write(&huge, big).unwrap();
    for (file, words) in [
        (&gif, "logo.gif is not a JPG or PNG image"),
        (&huge, "images of at most 1 MB"),
    ] {
        let out = run_cli("media", &config, &["uploadimg", file.to_str().unwrap()]).await;
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(words), "{stderr}");
    }
    assert_eq!(
        app.fake_wechat.requests_to(UPLOAD).await.len(),
        1,
        "nothing more sent"
    );
}

#[tokio::test]
async fn card_create_uploads_the_local_logo_and_sends_the_golden_body() {
    let (app, catalogue, config) = catalogue_app().await;
    let out = run_cli_ok(
        "card",
        &config,
        &["create", "--from", &fixture("member_card.json")],
    )
    .await;
    assert!(out.contains("card_id pFAKE1"), "{out}");
    assert!(
        out.contains(
            "[[cards]]\ncard_id = \"pFAKE1\"\nactivation = \"on_submit\"\nbind_by = \"phone\""
        ),
        "the block to paste: {out}"
    );
    assert_eq!(app.fake_wechat.requests_to(UPLOAD).await.len(), 1);
    let golden = json_file(&format!(
        "{}/fixtures/wechat_api/card_create_request_golden.json",
        env!("CARGO_MANIFEST_DIR")
    ));
    assert_eq!(app.fake_wechat.bodies("/card/create").await, [golden]);
    assert_eq!(catalogue.quantity("pFAKE1"), Some(50_000_000));
    assert_eq!(
        card_list(&config).await,
        [json!({
            "appid": account_for(Mode::Safe).0, "card_id": "pFAKE1", "card_type": "MEMBER_CARD",
            "title": "示例会员卡", "status": "CARD_STATUS_NOT_VERIFY", "refuse_reason": null,
            "quantity": 50_000_000
        })]
    );
    // --json prints only the id.
    let again = run_cli_ok(
        "card",
        &config,
        &["create", "--from", &fixture("member_card.json"), "--json"],
    )
    .await;
    assert_eq!(
        serde_json::from_str::<Value>(&again).unwrap(),
        json!({"card_id": "pFAKE2"})
    );
    // A missing local image is named, and nothing is created.
    let broken = app.dir.path().join("broken.json");
    let mut body = json_file(&fixture("member_card.json"));
    body["card"]["member_card"]["base_info"]["logo_url"] = json!("no-such-logo.png");
    std::fs::write(&broken, body.to_string()).unwrap();
    let out = run_cli(
        "card",
        &config,
        &["create", "--from", broken.to_str().unwrap()],
    )
    .await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no-such-logo.png"),
        "{out:?}"
    );
    assert_eq!(app.fake_wechat.bodies("/card/create").await.len(), 2);
}

#[tokio::test]
async fn review_pushes_move_the_card_through_its_states() {
    let (app, _catalogue, config) = catalogue_app().await;
    let appid = account_for(Mode::Safe).0;
    let mut body = json_file(&fixture("member_card.json"));
    body["card"]["member_card"]["base_info"]["logo_url"] =
        json!("http://mmbiz.qpic.cn/mmbiz/logo/0");
    let created = app
        .admin_json(Method::POST, &format!("/api/v1/cards?appid={appid}"), &body)
        .await;
    let (status, created) = crate::admin::documented(created, "/api/v1/cards", "post").await;
    assert_eq!((status, &created), (201, &json!({"card_id": "pFAKE1"})));
    assert_eq!(app.fake_wechat.requests_to(UPLOAD).await.len(), 0);

    let review = |event: &str, card_id: &str, time: i64, reason: &str| {
        format!(
            "<xml><ToUserName>gh_test</ToUserName><FromUserName>o</FromUserName><CreateTime>{time}</CreateTime>\
             <MsgType>event</MsgType><Event>{event}</Event><CardId>{card_id}</CardId>\
             <RefuseReason><![CDATA[{reason}]]></RefuseReason></xml>"
        )
    };
    let refused = review("card_not_pass_check", "pFAKE1", 1_700_000_100, "非法代制");
    for _ in 0..2 {
        assert_success(app.push_xml(&refused, Mode::Safe).await).await;
    }
    assert_eq!(
        review_of(&config, "pFAKE1").await,
        (json!("CARD_STATUS_VERIFY_FAIL"), json!("非法代制"))
    );
    // Passed after a fix (WeChat's sample carries a RefuseReason even then: it is not kept).
    let passed = review("card_pass_check", "pFAKE1", 1_700_000_300, "非法代制");
    assert_success(app.push_xml(&passed, Mode::Safe).await).await;
    assert_eq!(
        review_of(&config, "pFAKE1").await,
        (json!("CARD_STATUS_VERIFY_OK"), Value::Null)
    );
    // An older refusal delivered late changes nothing.
    let late = review("card_not_pass_check", "pFAKE1", 1_700_000_200, "旧的理由");
    assert_success(app.push_xml(&late, Mode::Safe).await).await;
    assert_eq!(
        review_of(&config, "pFAKE1").await.0,
        json!("CARD_STATUS_VERIFY_OK")
    );
    // A card created elsewhere gets a row.
    let elsewhere = review("card_pass_check", "pELSEWHERE", 1_700_000_400, "");
    assert_success(app.push_xml(&elsewhere, Mode::Safe).await).await;
    let listed = app.admin_get(&format!("/api/v1/cards?appid={appid}")).await;
    let (_, listed) = crate::admin::documented(listed, "/api/v1/cards", "get").await;
    let ids: Vec<&str> = listed["cards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["card_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&"pELSEWHERE") && ids.contains(&"pFAKE1"));
    // One card, refreshed from /card/get.
    let shown = app
        .admin_get(&format!("/api/v1/cards/pFAKE1?appid={appid}"))
        .await;
    let (status, shown) = crate::admin::documented(shown, "/api/v1/cards/{card_id}", "get").await;
    assert_eq!(status, 200);
    assert_eq!(
        (&shown["title"], &shown["quantity"], &shown["status"]),
        (
            &json!("示例会员卡"),
            &json!(50_000_000),
            &json!("CARD_STATUS_VERIFY_OK")
        )
    );
    // The admin API takes no local file, and a body not shaped as WeChat's is named.
    let mut local = json_file(&fixture("member_card.json"));
    local["card"]["member_card"]["background_pic_url"] = json!("bg.jpg");
    for (body, words) in [
        (
            local,
            "images must be URLs here (upload each first: cardhook media uploadimg): \
             /card/member_card/background_pic_url (\"bg.jpg\"), /card/member_card/base_info/logo_url (\"logo.png\")",
        ),
        (json!({"card_type": "GROUPON"}), "top-level \"card\" object"),
    ] {
        let refused = app
            .admin_json(Method::POST, &format!("/api/v1/cards?appid={appid}"), &body)
            .await;
        let (status, error) = crate::admin::documented(refused, "/api/v1/cards", "post").await;
        assert_eq!(status, 400, "{error}");
        assert!(error["message"].as_str().unwrap().contains(words), "{error}");
    }
    // WeChat's refusal is named with its errcode.
    app.fake_wechat
        .answer_errcode("/card/create", 40071, 1)
        .await;
    let refused = app
        .admin_json(Method::POST, &format!("/api/v1/cards?appid={appid}"), &body)
        .await;
    let (status, error) = crate::admin::documented(refused, "/api/v1/cards", "post").await;
    assert_eq!(status, 502);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("errcode 40071 (invalid card_type)"),
        "{error}"
    );
}

#[tokio::test]
async fn stock_update_and_form_send_their_documented_bodies() {
    let (app, catalogue, config) = catalogue_app().await;
    run_cli_ok(
        "card",
        &config,
        &["create", "--from", &fixture("member_card.json")],
    )
    .await;
    let stock = |args: [&'static str; 2]| {
        let config = config.clone();
        async move {
            run_cli(
                "card",
                &config,
                &["stock", "--card-id", "pFAKE1", args[0], args[1]],
            )
            .await
        }
    };
    assert!(stock(["--reduce", "49999000"]).await.status.success());
    assert!(stock(["--increase", "5"]).await.status.success());
    assert_eq!(catalogue.quantity("pFAKE1"), Some(1005));
    let too_many = stock(["--reduce", "2000"]).await;
    assert!(!too_many.status.success());
    assert!(
        String::from_utf8_lossy(&too_many.stderr).contains("errcode 45031 (out of stock)"),
        "{too_many:?}"
    );
    assert_eq!(
        app.fake_wechat.bodies("/card/modifystock").await,
        [
            json!({"card_id": "pFAKE1", "reduce_stock_value": 49_999_000}),
            json!({"card_id": "pFAKE1", "increase_stock_value": 5}),
            json!({"card_id": "pFAKE1", "reduce_stock_value": 2000}),
        ]
    );
    assert_eq!(card_list(&config).await[0]["quantity"], 1005);

    run_cli_ok(
        "card",
        &config,
        &[
            "update",
            "--card-id",
            "pFAKE1",
            "--from",
            &fixture("update_patch.json"),
        ],
    )
    .await;
    let mut patch = json_file(&fixture("update_patch.json"));
    patch["card_id"] = json!("pFAKE1");
    assert_eq!(app.fake_wechat.bodies("/card/update").await, [patch]);

    let out = run_cli_ok(
        "card",
        &config,
        &[
            "form",
            "set",
            "--card-id",
            "pFAKE1",
            "--from",
            &fixture("activate_form.json"),
        ],
    )
    .await;
    assert!(out.contains("activation form of pFAKE1 set"), "{out}");
    let mut form = json_file(&fixture("activate_form.json"));
    form["card_id"] = json!("pFAKE1");
    assert_eq!(
        app.fake_wechat
            .bodies("/card/membercard/activateuserform/set")
            .await,
        [form]
    );
    let shown = run_cli_ok(
        "card",
        &config,
        &["show", "--card-id", "pFAKE1", "--format", "json"],
    )
    .await;
    let shown: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["quantity"], 1005);
}

#[tokio::test]
async fn a_deposit_with_sync_stock_sets_the_stock_to_the_codes_deposited() {
    let (app, catalogue, config) = catalogue_app().await;
    FakeCodes::mount(&app.fake_wechat).await;
    let mut body = json_file(&fixture("member_card.json"));
    body["card"]["member_card"]["base_info"]["use_custom_code"] = json!(true);
    body["card"]["member_card"]["base_info"]["sku"]["quantity"] = json!(0);
    let file = app.dir.path().join("custom.json");
    std::fs::write(&file, body.to_string()).unwrap();
    // Its logo is a local file next to it.
    std::fs::copy(fixture("logo.png"), app.dir.path().join("logo.png")).unwrap();
    run_cli_ok(
        "card",
        &config,
        &["create", "--from", file.to_str().unwrap()],
    )
    .await;
    assert_eq!(catalogue.quantity("pFAKE1"), Some(0));
    let codes: String = (1..=250)
        .map(|i| format!("{:012}\n", 770_000_000 + i))
        .collect();
    let codes_file = app.dir.path().join("codes.txt");
    std::fs::write(&codes_file, codes).unwrap();
    let out = run_cli(
        "codes",
        &config,
        &[
            "deposit",
            "--card-id",
            "pFAKE1",
            codes_file.to_str().unwrap(),
            "--sync-stock",
        ],
    )
    .await;
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("stock of pFAKE1 set to 250 (+250)"),
        "{out:?}"
    );
    assert_eq!(catalogue.quantity("pFAKE1"), Some(250));
    assert_eq!(card_list(&config).await[0]["quantity"], 250);
}

/// Each card of the catalogue and when its row was last written.
async fn written_at(app: &TestApp) -> Vec<(String, i64)> {
    entity::card::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.card_id, c.updated_at))
        .collect()
}

#[tokio::test]
async fn card_sync_brings_in_the_consoles_cards_over_pages_and_a_rerun_changes_nothing() {
    let (app, catalogue, config) = catalogue_app().await;
    for n in 1..=25 {
        let status = if n % 5 == 0 {
            "CARD_STATUS_VERIFY_FAIL"
        } else {
            "CARD_STATUS_VERIFY_OK"
        };
        catalogue.console_card(
            &format!("pConsole{n:02}"),
            &format!("门店卡 {n}"),
            100 + n,
            status,
        );
    }
    // Cards of a status the first syncs leave out.
    for n in 26..=75 {
        catalogue.console_card(&format!("pConsole{n:02}"), "old", 0, "CARD_STATUS_DELETE");
    }
    // The cards in use: verified, and refused by the review.
    const LIVE: [&str; 4] = [
        "sync",
        "--status",
        "CARD_STATUS_VERIFY_OK,CARD_STATUS_VERIFY_FAIL",
        "--json",
    ];
    let sync = |args: &'static [&'static str]| {
        let config = config.clone();
        async move {
            let out = run_cli_ok("card", &config, args).await;
            serde_json::from_str::<Value>(&out).unwrap()
        }
    };
    let report = sync(&LIVE).await;
    assert_eq!(
        (
            &report["cards"],
            &report["added"],
            &report["changed"],
            &report["unchanged"],
            &report["pages"]
        ),
        (&json!(25), &json!(25), &json!(0), &json!(0), &json!(3)),
        "{report}"
    );
    let sent = app.fake_wechat.bodies("/card/batchget").await;
    assert_eq!(
        sent[0],
        json!({"offset": 0, "count": 50, "status_list": ["CARD_STATUS_VERIFY_OK", "CARD_STATUS_VERIFY_FAIL"]})
    );
    let cards = card_list(&config).await;
    assert_eq!(cards.len(), 25);
    let card = cards.iter().find(|c| c["card_id"] == "pConsole07").unwrap();
    assert_eq!(
        (
            &card["title"],
            &card["card_type"],
            &card["status"],
            &card["quantity"]
        ),
        (
            &json!("门店卡 7"),
            &json!("MEMBER_CARD"),
            &json!("CARD_STATUS_VERIFY_OK"),
            &json!(107)
        )
    );
    let failed = cards.iter().find(|c| c["card_id"] == "pConsole10").unwrap();
    assert_eq!(failed["status"], "CARD_STATUS_VERIFY_FAIL");

    // A rerun writes nothing (updated_at stays); a changed card is written.
    let before = written_at(&app).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    catalogue.console_card("pConsole03", "门店卡 3 (新)", 103, "CARD_STATUS_VERIFY_OK");
    let report = sync(&LIVE).await;
    assert_eq!(
        (&report["added"], &report["changed"], &report["unchanged"]),
        (&json!(0), &json!(1), &json!(24))
    );
    let after = written_at(&app).await;
    let moved: Vec<&String> = after
        .iter()
        .filter(|row| !before.contains(row))
        .map(|(id, _)| id)
        .collect();
    assert_eq!(moved, ["pConsole03"]);

    // Every card of the account: 75 over 8 pages of 10.
    let report = sync(&["sync", "--json"]).await;
    assert_eq!(
        (&report["cards"], &report["added"], &report["pages"]),
        (&json!(75), &json!(50), &json!(8)),
        "{report}"
    );
    assert_eq!(card_list(&config).await.len(), 75);
    app.shutdown().await;
}
