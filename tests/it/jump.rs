//! Jump-style one-click activation (跳转型一键激活, issue 34) through the real server: WeChat's
//! redirect to `/h5/{appid}/activated` with a ticket binds the member whose phone WeChat's form
//! verified, to the code's holder as WeChat names it (never the query's `openid`), and queues its
//! activation once; a used, forged or incomplete link is a page that says so, never a 500.

use cardhook::config::{Activation, UnknownMember};
use cardhook::wechat::Mode;
use entity::member;
use sea_orm::EntityTrait;
use serde_json::{json, Value};

use crate::members::{card, h5_app_with, holds, import};
use crate::support::fake_catalogue::FakeCatalogue;
use crate::support::process::{run_cli_ok, write_config};
use crate::support::{account_for, TestApp};
use cardhook::config::SmsProvider;

pub const JUMP_CARD: &str = "pJUMPCARD";
pub const PUBLIC_URL: &str = "https://hooks.example.com";

fn appid() -> &'static str {
    account_for(Mode::Safe).0
}

pub async fn jump_app() -> TestApp {
    let h5 = h5_app_with(PUBLIC_URL, SmsProvider::Webhook, |s| {
        s.cards
            .push(card(JUMP_CARD, Activation::Jump, UnknownMember::Refuse));
    })
    .await;
    h5.app
}

/// The page WeChat sends the customer to, with `params` (already encoded).
async fn landing(app: &TestApp, params: &str) -> (u16, String) {
    let response = app
        .client
        .get(app.url(&format!("/h5/{}/activated?{params}", appid())))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    (status, response.text().await.unwrap())
}

pub fn query(card_id: &str, encrypt_code: &str, ticket: &str, openid: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("card_id", card_id)
        .append_pair("encrypt_code", encrypt_code)
        .append_pair("outer_str", "poster-9")
        .append_pair("activate_ticket", ticket)
        .append_pair("openid", openid)
        .finish()
}

async fn member(app: &TestApp, member_no: &str) -> member::Model {
    member::Entity::find_by_id((appid().to_owned(), member_no.to_owned()))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn a_jump_activation_binds_the_forms_member_to_the_real_holder_and_activates_once() {
    let app = jump_app().await;
    import(&app, "member_no,phone,name\nJ-1,13800138001,Wang\n").await;
    let encrypt_code = holds(&app, JUMP_CARD, "800001", "oHolder").await;
    app.fake_wechat
        .jump_form_gives("TICKET-1", "13800138001")
        .await;
    let link = query(JUMP_CARD, &encrypt_code, "TICKET-1", "oSomeoneElse");

    let (status, html) = landing(&app, &link).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("J-1") && html.contains("开通成功"), "{html}");
    assert_eq!(
        app.fake_wechat
            .bodies("/card/membercard/activatetempinfo/get")
            .await,
        [json!({"activate_ticket": "TICKET-1"})]
    );
    let m = member(&app, "J-1").await;
    assert_eq!(
        (m.openid.as_deref(), m.card_id.as_deref(), m.code.as_deref()),
        (Some("oHolder"), Some(JUMP_CARD), Some("800001")),
        "bound to the holder WeChat names, not the query's openid"
    );
    // The activation goes out once.
    app.drain_jobs(chrono::Utc::now().timestamp()).await;
    let activations = app.fake_wechat.activate_requests().await;
    assert_eq!(activations.len(), 1);
    assert_eq!(activations[0].0["code"], "800001");

    // The same link again: used.
    let (status, html) = landing(&app, &link).await;
    assert_eq!(status, 400);
    assert!(html.contains("已使用"), "{html}");
    app.drain_jobs(chrono::Utc::now().timestamp()).await;
    assert_eq!(app.fake_wechat.activate_requests().await.len(), 1);
    let feed: Value = app
        .admin_get("/api/v1/events?type=member.bound")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(feed["events"].as_array().unwrap().len(), 1);
    app.shutdown().await;
}

#[tokio::test]
async fn forged_used_and_incomplete_links_get_a_page_never_a_500() {
    let app = jump_app().await;
    import(&app, "member_no,phone\nJ-2,13800138002\n").await;
    let encrypt_code = holds(&app, JUMP_CARD, "800002", "oHolder2").await;
    app.fake_wechat
        .jump_form_gives("TICKET-2", "13900139000")
        .await;
    let long = "x".repeat(600);
    let cases: [(String, u16, &str); 6] = [
        // WeChat knows no such ticket (72012, asked again once, then refused).
        (
            query(JUMP_CARD, &encrypt_code, "FORGED", "o"),
            400,
            "无效或已过期",
        ),
        (
            "card_id=pJUMPCARD&activate_ticket=T".to_owned(),
            400,
            "链接不完整",
        ),
        (
            query(JUMP_CARD, &encrypt_code, &long, "o"),
            400,
            "链接不完整",
        ),
        // Not a jump card.
        (
            query("pH5CARD", &encrypt_code, "TICKET-X", "o"),
            404,
            "未开通此激活方式",
        ),
        // A code WeChat cannot decrypt.
        (
            query(JUMP_CARD, "NOT-A-CODE", "TICKET-3", "o"),
            400,
            "无效或已过期",
        ),
        // The form's phone is no member's (refused generically).
        (
            query(JUMP_CARD, &encrypt_code, "TICKET-2", "o"),
            422,
            "未能开通",
        ),
    ];
    app.fake_wechat
        .jump_form_gives("TICKET-3", "13800138002")
        .await;
    // WeChat refuses to decrypt what it did not encrypt.
    wiremock::Mock::given(wiremock::matchers::path("/card/code/decrypt"))
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .set_body_json(json!({"errcode": 40075, "errmsg": "invalid encrypt code"})),
        )
        .with_priority(10)
        .mount(&app.fake_wechat.server)
        .await;
    for (params, status, says) in &cases {
        let (got, html) = landing(&app, params).await;
        assert_eq!(got, *status, "{params}: {html}");
        assert!(html.contains(says), "{params}: {html}");
    }
    assert_eq!(
        app.fake_wechat
            .bodies("/card/membercard/activatetempinfo/get")
            .await
            .iter()
            .filter(|b| b["activate_ticket"] == "FORGED")
            .count(),
        2,
        "72012 is asked again once"
    );
    assert!(member(&app, "J-2").await.code.is_none());
    // A code its holder deleted binds nobody.
    import(&app, "member_no,phone\nJ-4,13800138004\n").await;
    app.fake_wechat.code_decrypts("ENC-DELETED", "800004").await;
    wiremock::Mock::given(wiremock::matchers::path("/card/code/get"))
        .and(wiremock::matchers::body_partial_json(
            json!({"code": "800004"}),
        ))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(json!({
            "errcode": 0, "errmsg": "ok", "card": {"card_id": JUMP_CARD},
            "openid": "oGone", "can_consume": false, "user_card_status": "DELETE"})))
        .mount(&app.fake_wechat.server)
        .await;
    app.fake_wechat
        .jump_form_gives("TICKET-4", "13800138004")
        .await;
    let (status, html) = landing(&app, &query(JUMP_CARD, "ENC-DELETED", "TICKET-4", "o")).await;
    assert_eq!(status, 410, "{html}");
    assert!(html.contains("已删除"), "{html}");
    assert!(member(&app, "J-4").await.code.is_none());
    // An account cardhook does not serve.
    let response = app
        .client
        .get(app.url("/h5/wxunknown000000/activated?card_id=a&encrypt_code=b&activate_ticket=c"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    app.shutdown().await;
}

#[tokio::test]
async fn card_form_set_points_a_jump_cards_form_at_the_page() {
    let app = jump_app().await;
    let catalogue = FakeCatalogue::mount(&app.fake_wechat).await;
    catalogue.console_card(JUMP_CARD, "跳转卡", 100, "CARD_STATUS_VERIFY_OK");
    let db = format!("sqlite://{}?mode=rwc", app.db_path.display());
    let extra = format!(
        "[web]\npublic_url = \"{PUBLIC_URL}\"\n[[cards]]\ncard_id = \"{JUMP_CARD}\"\nactivation = \"jump\"\nbind_by = \"phone\"\n"
    );
    let config = write_config(app.dir.path(), &db, &app.fake_wechat.uri(), &extra);
    let form = app.dir.path().join("form.json");
    std::fs::write(
        &form,
        r#"{"required_form": {"common_field_id_list": ["USER_FORM_INFO_FLAG_MOBILE"]}}"#,
    )
    .unwrap();
    let form = form.display().to_string();
    let out = run_cli_ok(
        "card",
        &config,
        &["form", "set", "--card-id", JUMP_CARD, "--from", &form],
    )
    .await;
    let url = format!("{PUBLIC_URL}/h5/{}/activated", appid());
    assert!(out.contains(&url), "{out}");
    assert_eq!(
        app.fake_wechat.bodies("/card/update").await,
        [json!({"card_id": JUMP_CARD, "member_card": {
            "wx_activate": true, "wx_activate_after_submit": true, "wx_activate_after_submit_url": url}})]
    );
    app.shutdown().await;
}

#[tokio::test]
async fn in_a_real_browser_at_a_phone_viewport_the_jump_page_shows_the_member_then_a_used_link() {
    let app = jump_app().await;
    import(&app, "member_no,phone,name\nJ-3,13800138003,韩梅梅\n").await;
    let encrypt_code = holds(&app, JUMP_CARD, "800003", "oBrowserJump").await;
    app.fake_wechat
        .jump_form_gives("TICKET-B", "13800138003")
        .await;
    let link = app.url(&format!(
        "/h5/{}/activated?{}",
        appid(),
        query(JUMP_CARD, &encrypt_code, "TICKET-B", "oBrowserJump")
    ));
    let browser = crate::support::browser::Browser::phone().await;
    browser.goto(&link).await;
    let member_no = browser.find("#member-no").await;
    assert_eq!(browser.text(&member_no).await, "J-3");
    let title = browser.find("#result").await;
    assert_eq!(browser.text(&title).await, "开通成功");
    let fits = browser
        .run("return [window.innerWidth, document.documentElement.scrollWidth];")
        .await;
    assert!(
        fits[1].as_f64() <= fits[0].as_f64(),
        "the page fits the screen: {fits}"
    );
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    // Kept for a look: target/tmp/jump-result.png, jump-used.png.
    std::fs::write(shots.join("jump-result.png"), browser.screenshot().await).unwrap();
    browser.goto(&link).await;
    let message = browser.find("#message").await;
    assert!(browser.text(&message).await.contains("已使用"));
    std::fs::write(shots.join("jump-used.png"), browser.screenshot().await).unwrap();
    browser.close().await;
    app.shutdown().await;
}
