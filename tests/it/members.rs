//! 会员卡打通 (issue 23): the merchant's members imported, and a WeChat member card bound to the
//! member with the customer's phone — on the H5 activation page (OAuth2 `snsapi_base`, a phone form)
//! and through the one-click form — then activated with the member's own number, points and balance.
//! Against the fake WeChat API (and its authorize page), through the real app.

use cardhook::config::{Activation, BindBy, CardSettings, SmsProvider, UnknownMember};
use cardhook::wechat::Mode;
use entity::{job, member};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use secrecy::SecretString;

use crate::support::fixtures::code_event_xml;
use crate::support::sms_gateway::SmsGateway;
use crate::support::visitor::{hidden, location, oauth_state, Visitor};
use crate::support::{account_for, member_card, TestApp, ADMIN_TOKEN};

pub const SECRET: &str = "a-test-session-secret-of-32-chars-or-more";
const H5_CARD: &str = "pH5CARD";
const REFUSING_CARD: &str = "pH5REFUSE";
const ONE_CLICK_CARD: &str = "pONECLICK";
/// The page's one answer to every refused binding (web::activate::REFUSED).
const REFUSED: &str = "手机号或验证码不正确，或该手机号无法开通这张会员卡";

fn appid() -> &'static str {
    account_for(Mode::Safe).0
}

pub fn card(card_id: &str, activation: Activation, unknown: UnknownMember) -> CardSettings {
    CardSettings {
        bind_by: Some(BindBy::Phone),
        unknown_member: unknown,
        init_bonus: 50,
        init_balance: 1000,
        ..member_card(card_id, activation, "N{seq:6}")
    }
}

/// An app whose cards bind members by phone, proven by SMS codes through a fake gateway.
pub struct H5App {
    pub app: TestApp,
    pub sms: SmsGateway,
}

impl std::ops::Deref for H5App {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}

/// An H5 app whose public URL is `public_url` (`{callback}`: its own), sending codes through the
/// merchant's own gateway (Standard Webhooks).
pub async fn h5_app(public_url: &str) -> H5App {
    h5_app_with(public_url, SmsProvider::Webhook, |_| {}).await
}

pub async fn h5_app_with(
    public_url: &str,
    provider: SmsProvider,
    configure: impl FnOnce(&mut cardhook::config::Settings),
) -> H5App {
    h5_app_on(
        crate::support::backend::Backend::Sqlite,
        public_url,
        provider,
        configure,
    )
    .await
}

pub async fn h5_app_on(
    backend: crate::support::backend::Backend,
    public_url: &str,
    provider: SmsProvider,
    configure: impl FnOnce(&mut cardhook::config::Settings),
) -> H5App {
    let sms = SmsGateway::start().await;
    let sms_settings = sms.settings(provider);
    let public_url = public_url.to_owned();
    let app = crate::support::spawn_app_on(backend, move |s| {
        s.web.public_url = Some(public_url);
        s.web.session_secret = Some(SecretString::from(SECRET.to_owned()));
        s.web.allowed_origins = vec!["https://shop.example.com".to_owned()];
        s.wechat.oauth_base = s.wechat.api_base.clone();
        s.sms = Some(sms_settings);
        s.cards = vec![
            card(H5_CARD, Activation::H5, UnknownMember::Create),
            card(REFUSING_CARD, Activation::H5, UnknownMember::Refuse),
            card(ONE_CLICK_CARD, Activation::OnSubmit, UnknownMember::Refuse),
        ];
        configure(s);
    })
    .await;
    app.fake_wechat.token_ok("T", 7200, None).await;
    app.fake_wechat.activate_ok().await;
    H5App { app, sms }
}

/// Import members through the admin API; the report.
pub async fn import(app: &TestApp, csv: &str) -> serde_json::Value {
    let response = app
        .client
        .post(format!(
            "http://{}/api/v1/members/import?appid={}",
            app.admin_addr,
            appid()
        ))
        .bearer_auth(ADMIN_TOKEN)
        .header("Content-Type", "text/csv")
        .body(csv.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// The customer `openid` holds `code` of `card_id`, which WeChat hands the page as `encrypt_code`.
pub async fn holds(app: &TestApp, card_id: &str, code: &str, openid: &str) -> String {
    let encrypt_code = format!("ENC+{code}/x=");
    app.fake_wechat.code_decrypts(&encrypt_code, code).await;
    app.fake_wechat.code_held_by(card_id, code, openid).await;
    encrypt_code
}

pub fn activate_url(app: &TestApp, card_id: &str, encrypt_code: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("card_id", card_id)
        .append_pair("encrypt_code", encrypt_code)
        .finish();
    app.url(&format!("/h5/{}/activate?{query}", appid()))
}

/// Open the page as `openid` (through WeChat's authorize page); the form page's HTML.
async fn open_form(app: &TestApp, visitor: &mut Visitor, page: &str, openid: &str) -> String {
    let to_wechat = visitor.get(page).await;
    assert_eq!(to_wechat.status(), 302);
    let state = oauth_state(&to_wechat);
    let oauth_code = format!("OC-{openid}");
    app.fake_wechat.oauth_code(&oauth_code, openid).await;
    let back = visitor
        .get(&app.url(&format!(
            "/h5/{}/oauth?code={oauth_code}&state={state}",
            appid()
        )))
        .await;
    assert_eq!(back.status(), 302);
    let form = visitor.get(&app.url(&location(&back))).await;
    assert_eq!(form.status(), 200);
    form.text().await.unwrap()
}

/// A customer `openid` holding `code` of `card_id`, signed in on the page: their browser and the form.
pub async fn signed_in(
    app: &TestApp,
    card_id: &str,
    code: &str,
    openid: &str,
) -> (Visitor, String) {
    let encrypt_code = holds(app, card_id, code, openid).await;
    let mut visitor = Visitor::new();
    let page = activate_url(app, card_id, &encrypt_code);
    let form = open_form(app, &mut visitor, &page, openid).await;
    (visitor, form)
}

/// Open `page` without a session: the `state` of the authorize page it redirects to.
async fn state_of_redirect(visitor: &mut Visitor, page: &str) -> String {
    let to_wechat = visitor.get(page).await;
    assert_eq!(to_wechat.status(), 302);
    oauth_state(&to_wechat)
}

/// POST one of the page's forms (`/sms` or `/activate`) with the hidden fields of `form`.
pub async fn post(
    app: &TestApp,
    visitor: &mut Visitor,
    route: &str,
    form: &str,
    more: &[(&str, &str)],
) -> reqwest::Response {
    visitor
        .post_page(&app.url(&format!("/h5/{}/{route}", appid())), form, more)
        .await
}

/// Ask for a code for `phone`: the answer (the form with the code field, when sent).
pub async fn ask_code(
    app: &TestApp,
    visitor: &mut Visitor,
    form: &str,
    phone: &str,
) -> reqwest::Response {
    post(app, visitor, "sms", form, &[("phone", phone)]).await
}

/// Submit `phone` with `sms_code`.
pub async fn submit(
    app: &TestApp,
    visitor: &mut Visitor,
    form: &str,
    phone: &str,
    sms_code: &str,
) -> reqwest::Response {
    post(
        app,
        visitor,
        "activate",
        form,
        &[("phone", phone), ("sms_code", sms_code)],
    )
    .await
}

/// Ask for a code for `phone`, read it off the phone (the gateway), and submit it.
async fn bind_with_sms(
    app: &H5App,
    visitor: &mut Visitor,
    form: &str,
    phone: &str,
) -> reqwest::Response {
    let asked = ask_code(app, visitor, form, phone).await;
    assert_eq!(asked.status(), 200);
    let code_form = asked.text().await.unwrap();
    assert!(code_form.contains("name=\"sms_code\""), "{code_form}");
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    let code = app.sms.code_for(&digits[digits.len() - 11..]).await;
    submit(app, visitor, &code_form, phone, &code).await
}

pub async fn member_of_phone(app: &TestApp, phone: &str) -> Option<member::Model> {
    member::Entity::find()
        .filter(member::Column::Phone.eq(phone))
        .one(&app.db)
        .await
        .unwrap()
}

/// Time passes for the SMS limits: every send and code of the app `minutes` (and a second) older.
pub async fn minutes_pass(app: &TestApp, minutes: i64) {
    use sea_orm::ConnectionTrait;
    let seconds = minutes * 60 + 1;
    for statement in [
        format!("UPDATE sms_send SET sent_at = sent_at - {seconds}"),
        format!(
            "UPDATE sms_code SET created_at = created_at - {seconds}, expires_at = expires_at - {seconds}"
        ),
    ] {
        app.db.execute_unprepared(&statement).await.unwrap();
    }
}

#[tokio::test]
async fn no_session_redirects_to_the_authorize_page_with_its_parameters_in_order() {
    let app = h5_app("https://hooks.example.com").await;
    let mut visitor = Visitor::new();
    let response = visitor
        .get(&activate_url(&app, H5_CARD, "ENC+secret/x="))
        .await;
    assert_eq!(response.status(), 302);
    let to = location(&response);
    let expected = format!(
        "{}/connect/oauth2/authorize?appid={appid}&redirect_uri=https%3A%2F%2Fhooks.example.com%2Fh5%2F{appid}%2Foauth&response_type=code&scope=snsapi_base&state=",
        app.settings.wechat.oauth_base,
        appid = appid()
    );
    assert!(to.starts_with(&expected), "{to}");
    assert!(to.ends_with("#wechat_redirect"), "{to}");
    let state = &to[expected.len()..to.len() - "#wechat_redirect".len()];
    assert!(
        !state.is_empty() && state.len() <= 128 && state.bytes().all(|b| b.is_ascii_alphanumeric()),
        "{state}"
    );
    assert!(
        !to.contains("ENC"),
        "the card's code stays out of the URL: {to}"
    );
    let (_, set_cookie) = &visitor.cookies["cardhook_return"];
    for attribute in ["HttpOnly", "SameSite=Lax", "Secure"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    assert_eq!(app.metrics.pages("activate", "redirect"), 1);
}

#[tokio::test]
async fn a_customer_binds_the_card_to_their_member_and_it_is_activated_with_the_members_values() {
    let app = h5_app("https://hooks.example.com").await;
    let report = import(
        &app,
        "member_no,phone,name,bonus,balance\nM-0042,13800138000,王芳,880,12345\n",
    )
    .await;
    assert_eq!(report["inserted"], 1);
    // The customer got the card first (user_get_card), through a QR code channel.
    let got = crate::support::fixtures::get_card_xml(
        "oCustomer",
        1_700_000_000,
        H5_CARD,
        "100200300",
        3,
        "poster",
    );
    crate::support::fixtures::assert_success(app.push_xml(&got, Mode::Safe).await).await;
    let (mut visitor, form) = signed_in(&app, H5_CARD, "100200300", "oCustomer").await;
    let (_, session) = &visitor.cookies["cardhook_session"];
    for attribute in ["HttpOnly", "SameSite=Lax", "Secure"] {
        assert!(session.contains(attribute), "{session}");
    }
    assert!(
        !session.contains("oCustomer"),
        "the OpenID is not readable in the cookie"
    );

    assert!(
        form.contains("name=\"phone\"") && !form.contains("name=\"sms_code\""),
        "first the phone: {form}"
    );
    let result = bind_with_sms(&app, &mut visitor, &form, "+86 138 0013 8000").await;
    assert_eq!(result.status(), 200);
    // The code went to the phone through the merchant's gateway, signed (checked there).
    let sent = app.sms.sent().await;
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (
            &sent[0]["phone"],
            &sent[0]["ttl_seconds"],
            &sent[0]["appid"]
        ),
        (&"13800138000".into(), &300.into(), &appid().into())
    );
    assert!(app.sms.refused().await.is_empty());
    let page = result.text().await.unwrap();
    assert!(
        page.contains("M-0042") && page.contains("开通成功"),
        "{page}"
    );

    let bound = member_of_phone(&app, "13800138000").await.unwrap();
    assert_eq!(
        (
            bound.openid.as_deref(),
            bound.card_id.as_deref(),
            bound.code.as_deref()
        ),
        (Some("oCustomer"), Some(H5_CARD), Some("100200300"))
    );
    let now = chrono::Utc::now().timestamp();
    let outcomes = app.drain_jobs(now).await;
    assert_eq!(outcomes.len(), 1);
    let calls = app.fake_wechat.activate_requests().await;
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].0,
        serde_json::json!({
            "card_id": H5_CARD, "code": "100200300", "membership_number": "M-0042",
            "init_bonus": 880, "init_balance": 12345,
        })
    );
    // The member as the admin API shows it, activated; the binding names the member.
    let shown: serde_json::Value = app
        .admin_get(&format!("/api/v1/members/M-0042?appid={}", appid()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["activated"], true, "{shown}");
    assert_eq!(shown["openid"], "oCustomer");
    for key in [
        "appid",
        "member_no",
        "phone",
        "name",
        "bonus",
        "balance",
        "card_id",
        "code",
        "bound_at",
    ] {
        assert!(shown.get(key).is_some(), "{key} missing: {shown}");
    }
    let binding: serde_json::Value = app
        .admin_get(&format!("/api/v1/cards/{H5_CARD}/codes/100200300"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(binding["member_no"], "M-0042", "{binding}");
    assert_eq!(binding["membership_number"], "M-0042", "{binding}");
    assert_eq!(app.channel(appid(), 3, "poster").await.activated, 1);
}

#[tokio::test]
async fn submitting_twice_binds_and_activates_once() {
    let app = h5_app("https://hooks.example.com").await;
    import(&app, "member_no,phone\nM1,13800000001\n").await;
    let (mut visitor, form) = signed_in(&app, H5_CARD, "2001", "oTwice").await;
    let asked = ask_code(&app, &mut visitor, &form, "13800000001").await;
    let code_form = asked.text().await.unwrap();
    let code = app.sms.code_for("13800000001").await;
    let first = submit(&app, &mut visitor, &code_form, "13800000001", &code).await;
    assert_eq!(first.status(), 200);
    // The same code again: used up, so nothing more happens.
    let second = submit(&app, &mut visitor, &code_form, "13800000001", &code).await;
    assert_eq!(second.status(), 422);
    // Opening the page again shows the binding, not the form.
    let page = activate_url(&app, H5_CARD, &hidden(&form, "encrypt_code"));
    let again = visitor.get(&page).await;
    assert!(again.text().await.unwrap().contains("M1"));
    let jobs = job::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(jobs.len(), 1);
    app.drain_jobs(chrono::Utc::now().timestamp()).await;
    assert_eq!(app.fake_wechat.activate_requests().await.len(), 1);
    assert_eq!(app.metrics.bindings("h5", "bound"), 1);
    assert_eq!(app.metrics.bindings("h5", "no_code"), 1);
}

#[tokio::test]
async fn a_forged_or_expired_state_gets_400_and_nothing_else() {
    let app = h5_app("https://hooks.example.com").await;
    let mut visitor = Visitor::new();
    let page = activate_url(&app, H5_CARD, "ENC+x/y=");
    let state = state_of_redirect(&mut visitor, &page).await;
    app.fake_wechat.oauth_code("OC", "oForged").await;
    let forged = state.replacen(|c: char| c.is_ascii_digit(), "0", 3);
    let forged = if forged == state {
        format!("{state}0")
    } else {
        forged
    };
    let response = visitor
        .get(&app.url(&format!("/h5/{}/oauth?code=OC&state={forged}", appid())))
        .await;
    assert_eq!(response.status(), 400);
    assert!(!visitor.cookies.contains_key("cardhook_session"));
    // Signed with the same secret, but an hour ago: expired.
    let signer = cardhook::web::signing::Signer::new(SECRET);
    let return_to = format!(
        "/h5/{}/activate?{}",
        appid(),
        page.split_once('?').unwrap().1
    );
    let browser = visitor.cookies["cardhook_return"]
        .0
        .split('.')
        .next()
        .unwrap()
        .to_owned();
    let stale = signer.state(
        appid(),
        &return_to,
        &browser,
        chrono::Utc::now().timestamp() - 3600,
        1,
    );
    let response = visitor
        .get(&app.url(&format!("/h5/{}/oauth?code=OC&state={stale}", appid())))
        .await;
    assert_eq!(response.status(), 400);
    let body = response.text().await.unwrap();
    assert!(body.contains("过期"), "{body}");
    assert!(app
        .fake_wechat
        .requests_to("/sns/oauth2/access_token")
        .await
        .is_empty());
    assert_eq!(app.metrics.pages("oauth", "state_invalid"), 1);
    assert_eq!(app.metrics.pages("oauth", "state_expired"), 1);
}

#[tokio::test]
async fn an_invalid_or_used_oauth_code_gives_a_page_that_starts_again() {
    let app = h5_app("https://hooks.example.com").await;
    for errcode in [40029, 40163] {
        let mut visitor = Visitor::new();
        let page = activate_url(&app, H5_CARD, "ENC+z/z=");
        let state = state_of_redirect(&mut visitor, &page).await;
        let code = format!("BAD{errcode}");
        app.fake_wechat.oauth_code_errcode(&code, errcode).await;
        let response = visitor
            .get(&app.url(&format!("/h5/{}/oauth?code={code}&state={state}", appid())))
            .await;
        assert_eq!(response.status(), 400, "{errcode}");
        let body = response.text().await.unwrap();
        assert!(
            body.contains("id=\"again\"") && body.contains("/activate?card_id="),
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_code_held_by_someone_else_is_refused_403() {
    let app = h5_app("https://hooks.example.com").await;
    let encrypt_code = holds(&app, H5_CARD, "3001", "oTheHolder").await;
    let mut visitor = Visitor::new();
    let to_wechat = visitor
        .get(&activate_url(&app, H5_CARD, &encrypt_code))
        .await;
    let state = oauth_state(&to_wechat);
    app.fake_wechat.oauth_code("OC-x", "oSomeoneElse").await;
    let back = visitor
        .get(&app.url(&format!("/h5/{}/oauth?code=OC-x&state={state}", appid())))
        .await;
    let page = visitor.get(&app.url(&location(&back))).await;
    assert_eq!(page.status(), 403);
    assert!(page.text().await.unwrap().contains("不属于当前微信用户"));
}

#[tokio::test]
async fn a_bad_phone_shows_the_form_again_with_the_message() {
    let app = h5_app("https://hooks.example.com").await;
    let (mut visitor, form) = signed_in(&app, H5_CARD, "4001", "oTypo").await;
    let response = ask_code(&app, &mut visitor, &form, "1380013").await;
    assert_eq!(response.status(), 422);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("name=\"phone\"") && page.contains("11 位手机号"),
        "{page}"
    );
    assert!(job::Entity::find().all(&app.db).await.unwrap().is_empty());
    assert!(app.sms.sent().await.is_empty());
}

#[tokio::test]
async fn a_post_without_its_csrf_token_binds_nothing() {
    let app = h5_app("https://hooks.example.com").await;
    import(&app, "member_no,phone\nM1,13800000001\n").await;
    let (mut visitor, form) = signed_in(&app, H5_CARD, "4501", "oCsrf").await;
    let forged = form.replace(&hidden(&form, "csrf"), "1.00");
    let response = ask_code(&app, &mut visitor, &forged, "13800000001").await;
    assert_eq!(response.status(), 403);
    let response = submit(&app, &mut visitor, &forged, "13800000001", "123456").await;
    assert_eq!(response.status(), 403);
    assert!(app.sms.sent().await.is_empty(), "no code sent");
    assert!(member_of_phone(&app, "13800000001")
        .await
        .unwrap()
        .code
        .is_none());
}

#[tokio::test]
async fn an_unknown_phone_gets_a_new_member_or_is_refused_as_the_card_says() {
    let app = h5_app("https://hooks.example.com").await;
    // create: a new member numbered by the card's template, with its initial points and balance.
    let (mut visitor, form) = signed_in(&app, H5_CARD, "5001", "oNew").await;
    assert_eq!(
        bind_with_sms(&app, &mut visitor, &form, "13900000009")
            .await
            .status(),
        200
    );
    let created = member_of_phone(&app, "13900000009").await.unwrap();
    assert_eq!(
        (created.member_no.as_str(), created.bonus, created.balance),
        ("N000001", 50, 1000)
    );
    // refuse: nothing is made, nothing activated, and the customer is told.
    let (mut visitor, form) = signed_in(&app, REFUSING_CARD, "5002", "oStranger").await;
    let refused = bind_with_sms(&app, &mut visitor, &form, "13900000010").await;
    assert_eq!(refused.status(), 422);
    assert!(refused.text().await.unwrap().contains(REFUSED));
    assert_eq!(app.metrics.bindings("h5", "unknown_member"), 1);
    assert!(member_of_phone(&app, "13900000010").await.is_none());
    let jobs = job::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(jobs.len(), 1, "only the created member's activation");
}

#[tokio::test]
async fn a_second_card_claiming_a_bound_member_is_refused_and_says_so() {
    let app = h5_app("https://hooks.example.com").await;
    import(&app, "member_no,phone\nM7,13700000007\n").await;
    for (code, openid, expected) in [("6001", "oFirst", 200), ("6002", "oSecond", 422)] {
        let encrypt_code = holds(&app, H5_CARD, code, openid).await;
        let mut visitor = Visitor::new();
        let form = open_form(
            &app,
            &mut visitor,
            &activate_url(&app, H5_CARD, &encrypt_code),
            openid,
        )
        .await;
        let response = bind_with_sms(&app, &mut visitor, &form, "13700000007").await;
        assert_eq!(response.status(), expected, "{code}");
        if expected == 422 {
            assert!(response.text().await.unwrap().contains(REFUSED));
        }
        // A minute later, the phone may get another code.
        minutes_pass(&app, 1).await;
    }
    assert_eq!(app.metrics.bindings("h5", "member_has_another_card"), 1);
    let member = member_of_phone(&app, "13700000007").await.unwrap();
    assert_eq!(member.code.as_deref(), Some("6001"));
}

#[tokio::test]
async fn the_one_click_form_binds_the_member_of_its_mobile_number() {
    let app = h5_app("https://hooks.example.com").await;
    import(
        &app,
        "member_no,phone,bonus,balance\nVIP-9,15521328888,12,300\n",
    )
    .await;
    app.fake_wechat
        .form_gives("7001", Some("15521328888"))
        .await;
    app.fake_wechat.form_gives("7002", None).await;
    for code in ["7001", "7002"] {
        let xml = code_event_xml(
            "submit_membercard_user_info",
            &format!("o{code}"),
            1_700_000_000,
            ONE_CLICK_CARD,
            code,
        );
        crate::support::fixtures::assert_success(app.push_xml(&xml, Mode::Safe).await).await;
    }
    // The redelivered push queues nothing more.
    let xml = code_event_xml(
        "submit_membercard_user_info",
        "o7001",
        1_700_000_000,
        ONE_CLICK_CARD,
        "7001",
    );
    crate::support::fixtures::assert_success(app.push_xml(&xml, Mode::Safe).await).await;
    app.drain_jobs(chrono::Utc::now().timestamp()).await;
    let calls = app.fake_wechat.activate_requests().await;
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0["membership_number"], "VIP-9");
    assert_eq!(
        (
            calls[0].0["init_bonus"].as_i64(),
            calls[0].0["init_balance"].as_i64()
        ),
        (Some(12), Some(300))
    );
    let bound = member_of_phone(&app, "15521328888").await.unwrap();
    assert_eq!(
        (bound.code.as_deref(), bound.openid.as_deref()),
        (Some("7001"), Some("o7001"))
    );
    let jobs = job::Entity::find().all(&app.db).await.unwrap();
    let dead: Vec<&job::Model> = jobs.iter().filter(|j| j.state == "dead").collect();
    assert_eq!(dead.len(), 1, "{jobs:?}");
    assert!(dead[0]
        .last_error
        .as_deref()
        .unwrap()
        .contains("USER_FORM_INFO_FLAG_MOBILE"));
    assert_eq!(
        jobs.iter().filter(|j| j.state == "done").count(),
        2,
        "the binding and the activation"
    );
}

#[tokio::test]
async fn a_member_import_reports_every_line_and_changes_nothing_unchanged() {
    let app = h5_app("https://hooks.example.com").await;
    let csv = "member_no,phone,name,bonus,balance\n\
               M1,13800000001,甲,10,100\n\
               M2,13800000002,乙,20,200\n\
               ,13800000003,丙,30,300\n\
               M4,123,丁,40,400\n\
               M5,13800000001,戊,50,500\n\
               M6,13800000006,己,x,600\n";
    let report = import(&app, csv).await;
    assert_eq!(
        (
            &report["inserted"],
            &report["updated"],
            &report["unchanged"],
            &report["rejected"]
        ),
        (&2.into(), &0.into(), &0.into(), &4.into())
    );
    let lines: Vec<u64> = report["rejected_lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, vec![4, 5, 6, 7]);
    let again = import(
        &app,
        "member_no,phone,name,bonus,balance\nM1,13800000001,甲,10,100\nM2,13800000002,乙,25,200\n",
    )
    .await;
    assert_eq!(
        (&again["updated"], &again["unchanged"]),
        (&1.into(), &1.into())
    );
    // A header that names another column is refused whole.
    let response = app
        .client
        .post(format!(
            "http://{}/api/v1/members/import?appid={}",
            app.admin_addr,
            appid()
        ))
        .bearer_auth(ADMIN_TOKEN)
        .body("member_no,phone,tier\n")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("tier"), "{body}");
}

/// The page in a real headless browser (Debian's chromium) at a phone's viewport: WeChat's authorize
/// page and back, the form renders and fits the screen, a typed phone gets a code by SMS, the typed
/// code binds, the result shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_real_browser_at_a_phone_viewport_a_phone_proven_by_sms_binds_the_card() {
    // Over http on the test's own address: the browser must send the session cookie back.
    let app = h5_app("http://{callback}").await;
    import(
        &app,
        "member_no,phone,name,bonus,balance\nB-77,13612345678,李雷,5,60\n",
    )
    .await;
    let encrypt_code = holds(&app, H5_CARD, "880088", "oBrowser").await;
    app.fake_wechat.authorize_gives("OC-browser").await;
    app.fake_wechat.oauth_code("OC-browser", "oBrowser").await;

    let browser = crate::support::browser::Browser::phone().await;
    browser
        .goto(&activate_url(&app, H5_CARD, &encrypt_code))
        .await;
    let phone = browser.find("#phone").await;
    let fits = browser
        .run(
            "return [window.innerWidth, document.documentElement.scrollWidth, \
             document.querySelector('#send-code').getBoundingClientRect().right];",
        )
        .await;
    let (inner, scroll, button_right) = (
        fits[0].as_f64().unwrap(),
        fits[1].as_f64().unwrap(),
        fits[2].as_f64().unwrap(),
    );
    assert_eq!(
        inner,
        f64::from(crate::support::browser::PHONE.0),
        "a phone's viewport"
    );
    assert!(
        scroll <= inner && button_right <= inner,
        "the form fits the screen: {fits}"
    );
    browser.type_into(&phone, "136 1234 5678").await;
    let send = browser.find("#send-code").await;
    browser.click(&send).await;
    let code_field = browser.find("#sms_code").await;
    std::fs::write(
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("h5-code.png"),
        browser.screenshot().await,
    )
    .unwrap();
    let code = app.sms.code_for("13612345678").await;
    browser.type_into(&code_field, &code).await;
    let submit_button = browser.find("#submit").await;
    browser.click(&submit_button).await;
    let member_no = browser.find("#member-no").await;
    assert_eq!(browser.text(&member_no).await, "B-77");
    let title = browser.find("#result").await;
    assert_eq!(browser.text(&title).await, "开通成功");
    // Kept for a look: target/tmp/h5-result.png.
    std::fs::write(
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("h5-result.png"),
        browser.screenshot().await,
    )
    .unwrap();
    browser.close().await;

    let bound = member_of_phone(&app, "13612345678").await.unwrap();
    assert_eq!(
        (bound.code.as_deref(), bound.openid.as_deref()),
        (Some("880088"), Some("oBrowser"))
    );
    app.drain_jobs(chrono::Utc::now().timestamp()).await;
    let calls = app.fake_wechat.activate_requests().await;
    assert_eq!(calls[0].0["membership_number"], "B-77");
}
