//! The H5 page attacked (issue 31): nobody binds a member without the member's phone in hand
//! (an SMS code), a refusal tells no outsider which phones are members, every try and send is
//! bounded, an OAuth state is single use and its browser's own, a session reads a code from WeChat
//! once, rate limits follow the client behind a trusted proxy, and slow bodies hold nothing.

use std::time::{Duration, Instant};

use cardhook::config::SmsProvider;
use cardhook::wechat::Mode;
use entity::job;
use sea_orm::EntityTrait;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::members::{self, h5_app, h5_app_on, h5_app_with, member_of_phone, minutes_pass, H5App};
use crate::support::fixtures::{assert_success, get_card_xml};
use crate::support::visitor::{oauth_state, Visitor};
use crate::support::{account_for, TestApp};

const CARD: &str = "pH5CARD";
const REFUSED: &str = "手机号或验证码不正确，或该手机号无法开通这张会员卡";

fn appid() -> &'static str {
    account_for(Mode::Safe).0
}

async fn import(app: &TestApp, csv: &str) {
    crate::members::import(app, csv).await;
}

/// `openid` holds `code` of the H5 card; signed in: the browser and the phone form.
async fn signed_in(app: &TestApp, code: &str, openid: &str) -> (Visitor, String) {
    members::signed_in(app, CARD, code, openid).await
}

fn page_url(app: &TestApp, encrypt_code: &str) -> String {
    members::activate_url(app, CARD, encrypt_code)
}

fn oauth_url(app: &TestApp, code: &str, state: &str) -> String {
    app.url(&format!("/h5/{}/oauth?code={code}&state={state}", appid()))
}

fn state_of(to_wechat: &reqwest::Response) -> String {
    assert_eq!(to_wechat.status(), 302);
    oauth_state(to_wechat)
}

/// The status and the page of a response.
async fn answer(response: reqwest::Response) -> (u16, String) {
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn ask_code(app: &TestApp, visitor: &mut Visitor, form: &str, phone: &str) -> (u16, String) {
    answer(members::ask_code(app, visitor, form, phone).await).await
}

async fn submit(
    app: &TestApp,
    visitor: &mut Visitor,
    form: &str,
    phone: &str,
    code: &str,
) -> (u16, String) {
    answer(members::submit(app, visitor, form, phone, code).await).await
}

/// The text of the page's `#message`, if it has one.
fn message_of(page: &str) -> Option<String> {
    let start = page.find("id=\"message\">")? + "id=\"message\">".len();
    Some(page[start..start + page[start..].find('<')?].to_owned())
}

/// A code that is not `code`.
fn not(code: &str) -> String {
    if code == "000000" { "111111" } else { "000000" }.to_owned()
}

#[tokio::test]
async fn a_victims_phone_without_its_code_binds_nothing_and_reads_like_an_unknown_phone() {
    let app = h5_app("https://hooks.example.com").await;
    import(
        &app,
        "member_no,phone,name,bonus,balance\nM-VICTIM,13800000077,受害者,5000,12345\n",
    )
    .await;
    // The attacker holds a card of their own and knows the victim's phone.
    let (mut attacker, form) = signed_in(&app, "9001", "oAttacker").await;
    let (status, asked) = ask_code(&app, &mut attacker, &form, "13800000077").await;
    assert_eq!(status, 200);
    // The code went to the victim's phone, not to the attacker.
    let victims_code = app.sms.code_for("13800000077").await;
    let (status, refused_victim) = submit(
        &app,
        &mut attacker,
        &asked,
        "13800000077",
        &not(&victims_code),
    )
    .await;
    assert_eq!(status, 422);
    // An unknown phone, asked and guessed the same way (the card would create its member).
    let (mut other, form) = signed_in(&app, "9002", "oCurious").await;
    let (status_unknown, asked_unknown) = ask_code(&app, &mut other, &form, "13900000066").await;
    assert_eq!(status_unknown, 200);
    let unknown_code = app.sms.code_for("13900000066").await;
    let (status, refused_unknown) = submit(
        &app,
        &mut other,
        &asked_unknown,
        "13900000066",
        &not(&unknown_code),
    )
    .await;
    assert_eq!(status, 422);
    // The same answers whatever the phone: the send, and the refusal.
    assert_eq!(message_of(&asked), message_of(&asked_unknown));
    assert_eq!(
        asked.replace("13800000077", "P").len(),
        asked_unknown.replace("13900000066", "P").len()
    );
    let text = message_of(&refused_victim).unwrap();
    assert!(text.contains(REFUSED), "{text}");
    assert_eq!(Some(text), message_of(&refused_unknown));
    // Nothing was bound, activated or created.
    let victim = member_of_phone(&app, "13800000077").await.unwrap();
    assert_eq!((victim.code, victim.openid), (None, None));
    assert!(member_of_phone(&app, "13900000066").await.is_none());
    assert!(job::Entity::find().all(&app.db).await.unwrap().is_empty());
    assert_eq!(app.metrics.bindings("h5", "code_wrong"), 2);
    // The victim, with the phone in hand, binds their own card.
    let (mut victim_browser, form) = signed_in(&app, "9003", "oVictim").await;
    minutes_pass(&app, 1).await;
    let (status, asked) = ask_code(&app, &mut victim_browser, &form, "13800000077").await;
    assert_eq!(status, 200);
    let code = app.sms.code_for("13800000077").await;
    let (status, page) = submit(&app, &mut victim_browser, &asked, "13800000077", &code).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("M-VICTIM"));
}

#[tokio::test]
async fn a_wrong_code_then_the_right_one_binds_and_the_fifth_wrong_try_burns_the_code() {
    let app = h5_app("https://hooks.example.com").await;
    import(&app, "member_no,phone\nM1,13800000001\nM2,13800000002\n").await;
    let (mut visitor, form) = signed_in(&app, "9101", "oOne").await;
    let (_, asked) = ask_code(&app, &mut visitor, &form, "13800000001").await;
    let code = app.sms.code_for("13800000001").await;
    let (status, _) = submit(&app, &mut visitor, &asked, "13800000001", &not(&code)).await;
    assert_eq!(status, 422);
    let (status, page) = submit(&app, &mut visitor, &asked, "13800000001", &code).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("M1"));

    // Five wrong tries burn the code: the sixth try, even the right code, binds nothing.
    let (mut visitor, form) = signed_in(&app, "9102", "oTwo").await;
    let (_, asked) = ask_code(&app, &mut visitor, &form, "13800000002").await;
    let code = app.sms.code_for("13800000002").await;
    for _ in 0..5 {
        let (status, _) = submit(&app, &mut visitor, &asked, "13800000002", &not(&code)).await;
        assert_eq!(status, 422);
    }
    assert_eq!(
        app.metrics.sms_codes("wrong"),
        5,
        "four wrong and the first one"
    );
    assert_eq!(app.metrics.sms_codes("burnt"), 1);
    let (status, page) = submit(&app, &mut visitor, &asked, "13800000002", &code).await;
    assert_eq!(status, 422);
    assert!(message_of(&page).unwrap().contains(REFUSED));
    assert!(member_of_phone(&app, "13800000002")
        .await
        .unwrap()
        .code
        .is_none());
    assert_eq!(app.metrics.sms_codes("no_code"), 1);
}

#[tokio::test]
async fn an_expired_code_binds_nothing() {
    let app = h5_app("https://hooks.example.com").await;
    import(&app, "member_no,phone\nM1,13800000001\n").await;
    let (mut visitor, form) = signed_in(&app, "9201", "oLate").await;
    let (_, asked) = ask_code(&app, &mut visitor, &form, "13800000001").await;
    let code = app.sms.code_for("13800000001").await;
    minutes_pass(&app, 5).await;
    let (status, page) = submit(&app, &mut visitor, &asked, "13800000001", &code).await;
    assert_eq!(status, 422);
    assert!(message_of(&page).unwrap().contains(REFUSED));
    assert_eq!(app.metrics.sms_codes("expired"), 1);
    assert!(member_of_phone(&app, "13800000001")
        .await
        .unwrap()
        .code
        .is_none());
}

#[tokio::test]
async fn sends_are_bounded_per_phone_a_minute_and_an_hour_and_a_failed_send_counts_nothing() {
    let app = h5_app("https://hooks.example.com").await;
    let (mut visitor, form) = signed_in(&app, "9301", "oSender").await;
    let (status, _) = ask_code(&app, &mut visitor, &form, "13800000003").await;
    assert_eq!(status, 200);
    let (status, page) = ask_code(&app, &mut visitor, &form, "13800000003").await;
    assert_eq!(status, 429, "a second send within a minute");
    assert!(message_of(&page).unwrap().contains("频繁"));
    assert_eq!(app.sms.sent().await.len(), 1);
    // Five an hour: a minute apart, the sixth is refused.
    for _ in 0..4 {
        minutes_pass(&app, 1).await;
        assert_eq!(
            ask_code(&app, &mut visitor, &form, "13800000003").await.0,
            200
        );
    }
    minutes_pass(&app, 1).await;
    assert_eq!(
        ask_code(&app, &mut visitor, &form, "13800000003").await.0,
        429
    );
    assert_eq!(app.sms.sent().await.len(), 5);
    assert_eq!(app.metrics.sms_codes("phone_minute"), 1);
    assert_eq!(app.metrics.sms_codes("phone_hour"), 1);

    // A send that fails says try again (never a 500) and does not count against the limits.
    app.sms.fail(true).await;
    let (status, page) = ask_code(&app, &mut visitor, &form, "13800000004").await;
    assert_eq!(status, 502);
    assert!(message_of(&page).unwrap().contains("稍后重试"), "{page}");
    app.sms.fail(false).await;
    assert_eq!(
        ask_code(&app, &mut visitor, &form, "13800000004").await.0,
        200
    );
    assert_eq!(app.metrics.sms_codes("send_failed"), 1);
}

/// Codes, tries and sends live in the database: on PostgreSQL a second instance sees the first's
/// send (and refuses a second one within the minute) and checks the code the first one sent.
#[tokio::test]
async fn limits_and_codes_hold_across_instances_on_postgres() {
    let app = h5_app_on(
        crate::support::backend::Backend::Postgres,
        "https://hooks.example.com",
        SmsProvider::Webhook,
        |_| {},
    )
    .await;
    import(&app, "member_no,phone\nPG1,13800000008\n").await;
    let (mut visitor, form) = signed_in(&app, "9701", "oTwoHosts").await;
    let (_, asked) = ask_code(&app, &mut visitor, &form, "13800000008").await;
    let code = app.sms.code_for("13800000008").await;
    let (other, stop) = app.another_instance().await;
    // The same browser, now served by the other instance.
    let on_other = |route: &str| format!("http://{other}/h5/{}/{route}", appid());
    let again = visitor
        .post_page(&on_other("sms"), &asked, &[("phone", "13800000008")])
        .await;
    assert_eq!(again.status(), 429, "the first instance's send counts");
    let bound = visitor
        .post_page(
            &on_other("activate"),
            &asked,
            &[("phone", "13800000008"), ("sms_code", &code)],
        )
        .await;
    assert_eq!(bound.status(), 200);
    assert!(bound.text().await.unwrap().contains("PG1"));
    stop.cancel();
}

/// A provider that answers too late may still have sent the code: the send counts, the code stays
/// good, and the page says to use it if it arrives.
#[tokio::test]
async fn a_send_answered_too_late_keeps_its_code() {
    let app = h5_app("https://hooks.example.com").await;
    import(&app, "member_no,phone\nLATE,13800000009\n").await;
    let (mut visitor, form) = signed_in(&app, "9801", "oSlowSms").await;
    app.sms.delay(6.0).await;
    let (status, page) = ask_code(&app, &mut visitor, &form, "13800000009").await;
    assert_eq!(status, 502);
    assert!(message_of(&page).unwrap().contains("超时"), "{page}");
    assert_eq!(app.metrics.sms_codes("send_unknown"), 1);
    app.sms.delay(0.0).await;
    // It arrived after all: it binds.
    let code = app.sms.code_for("13800000009").await;
    assert_eq!(
        submit(&app, &mut visitor, &page, "13800000009", &code)
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn sends_are_bounded_per_openid_and_per_client_address_a_day() {
    let app = h5_app("https://hooks.example.com").await;
    // One session (one OpenID): ten phones a day, not eleven.
    let (mut visitor, form) = signed_in(&app, "9401", "oBusy").await;
    for n in 0..10 {
        let phone = format!("1380000{n:04}");
        assert_eq!(
            ask_code(&app, &mut visitor, &form, &phone).await.0,
            200,
            "{n}"
        );
    }
    assert_eq!(
        ask_code(&app, &mut visitor, &form, "13800009999").await.0,
        429
    );
    assert_eq!(app.metrics.sms_codes("openid_day"), 1);
    // Another OpenID from the same address (10 sends already): refused by the address's limit.
    let (mut visitor, form) = signed_in(&app, "9402", "oSameDesk").await;
    assert_eq!(
        ask_code(&app, &mut visitor, &form, "13900000001").await.0,
        429
    );
    assert_eq!(app.metrics.sms_codes("client_day"), 1);
    assert_eq!(app.sms.sent().await.len(), 10);
}

#[tokio::test]
async fn tencent_cloud_sms_gets_a_signed_send_sms_and_a_wrong_secret_is_a_page_not_a_500() {
    let app = h5_app_with("https://hooks.example.com", SmsProvider::Tencent, |_| {}).await;
    import(&app, "member_no,phone\nT1,13800000005\n").await;
    let (mut visitor, form) = signed_in(&app, "9501", "oTencent").await;
    let (status, asked) = ask_code(&app, &mut visitor, &form, "13800000005").await;
    assert_eq!(status, 200, "{asked}");
    let sent = app.sms.sent().await;
    assert_eq!(
        (
            &sent[0]["via"],
            &sent[0]["phone"],
            &sent[0]["minutes"],
            &sent[0]["sign_name"],
            &sent[0]["template_id"]
        ),
        (
            &"tencent".into(),
            &"+8613800000005".into(),
            &"5".into(),
            &"测试商户".into(),
            &"100001".into()
        )
    );
    assert!(
        app.sms.refused().await.is_empty(),
        "the SDK's signature matched"
    );
    let code = sent[0]["code"].as_str().unwrap();
    assert_eq!(code.len(), 6);
    assert_eq!(
        submit(&app, &mut visitor, &asked, "13800000005", code)
            .await
            .0,
        200
    );

    // The same gateway with another secret key: Tencent refuses the signature.
    let wrong = h5_app_with("https://hooks.example.com", SmsProvider::Tencent, |s| {
        if let Some(sms) = s.sms.as_mut() {
            sms.secret_key = Some("not-the-secret-key".to_owned().into());
        }
    })
    .await;
    let (mut visitor, form) = signed_in(&wrong, "9502", "oWrongKey").await;
    let (status, page) = ask_code(&wrong, &mut visitor, &form, "13800000006").await;
    assert_eq!(status, 502);
    assert!(message_of(&page).unwrap().contains("稍后重试"));
    assert_eq!(
        wrong.sms.refused().await,
        vec![serde_json::json!("tencent: signature")]
    );
}

#[tokio::test]
async fn an_oauth_state_is_single_use_and_good_for_its_own_browser_only() {
    let app = h5_app("https://hooks.example.com").await;
    let encrypt_code = "ENC+7001/x=";
    let mut first = Visitor::new();
    let state = state_of(&first.get(&page_url(&app, encrypt_code)).await);
    app.fake_wechat.oauth_code("OC-1", "oOne").await;
    app.fake_wechat.oauth_code("OC-2", "oOne").await;
    // Ten requests with the one state at once: one sign-in, one code exchange.
    let mut racers = Vec::new();
    for _ in 0..10 {
        let cookies = first.cookies.clone();
        let url = oauth_url(&app, "OC-1", &state);
        racers.push(tokio::spawn(async move {
            let mut visitor = Visitor::new();
            visitor.cookies = cookies;
            visitor.get(&url).await.status().as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for racer in racers {
        statuses.push(racer.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, [302, 400, 400, 400, 400, 400, 400, 400, 400, 400]);
    // Used once, it stays used, also with another code.
    let again = first.get(&oauth_url(&app, "OC-2", &state)).await;
    assert_eq!(again.status(), 400);
    let body = again.text().await.unwrap();
    assert!(
        body.contains("已使用") && body.contains("id=\"again\""),
        "{body}"
    );
    assert_eq!(
        app.fake_wechat
            .requests_to("/sns/oauth2/access_token")
            .await
            .len(),
        1
    );
    assert_eq!(app.metrics.pages("oauth", "state_reused"), 10);

    // A state from another browser (login CSRF): refused, whether or not it has a sign-in of its own.
    let state = state_of(&first.get(&page_url(&app, encrypt_code)).await);
    let mut stranger = Visitor::new();
    assert_eq!(
        stranger
            .get(&oauth_url(&app, "OC-2", &state))
            .await
            .status(),
        400
    );
    state_of(&stranger.get(&page_url(&app, encrypt_code)).await);
    let response = stranger.get(&oauth_url(&app, "OC-2", &state)).await;
    assert_eq!(response.status(), 400);
    assert!(!stranger.cookies.contains_key("cardhook_session"));
    assert_eq!(app.metrics.pages("oauth", "state_invalid"), 2);
    // The browser that started it still signs in with it.
    assert_eq!(
        first.get(&oauth_url(&app, "OC-2", &state)).await.status(),
        302
    );
}

#[tokio::test]
async fn a_session_reads_its_code_from_wechat_once_and_only_a_few_codes() {
    let app = h5_app("https://hooks.example.com").await;
    import(&app, "member_no,phone\nM1,13800000001\n").await;
    let (mut visitor, form) = signed_in(&app, "9601", "oThrifty").await;
    for _ in 0..5 {
        let page = visitor.get(&page_url(&app, "ENC+9601/x=")).await;
        assert_eq!(page.status(), 200);
    }
    let (_, asked) = ask_code(&app, &mut visitor, &form, "13800000001").await;
    let code = app.sms.code_for("13800000001").await;
    assert_eq!(
        submit(&app, &mut visitor, &asked, "13800000001", &code)
            .await
            .0,
        200
    );
    for route in ["/card/code/decrypt", "/card/code/get"] {
        assert_eq!(app.fake_wechat.requests_to(route).await.len(), 1, "{route}");
    }
    // Made-up codes cost a lookup each, and only a few.
    let mut statuses = Vec::new();
    for n in 0..4 {
        let page = visitor
            .get(&page_url(&app, &format!("ENC+made-up-{n}")))
            .await;
        statuses.push(page.status().as_u16());
    }
    // (The fake WeChat knows none of them.)
    assert!(statuses[..2].iter().all(|s| *s != 429), "{statuses:?}");
    assert_eq!(
        statuses[2..],
        [429, 429],
        "three codes a session, this one read"
    );
    assert_eq!(
        app.fake_wechat
            .requests_to("/card/code/decrypt")
            .await
            .len(),
        3
    );
}

/// One sign-in of `visitor` on `app`: the status of the return from WeChat's authorize page.
async fn sign_in(app: &H5App, visitor: &mut Visitor, n: u32) -> u16 {
    let code = format!("OC-s{n}");
    app.fake_wechat.oauth_code(&code, "oSign").await;
    let state = state_of(&visitor.get(&page_url(app, &format!("ENC+s{n}/x="))).await);
    visitor
        .get(&oauth_url(app, &code, &state))
        .await
        .status()
        .as_u16()
}

#[tokio::test]
async fn sign_ins_are_counted_per_client_and_forwarding_headers_only_from_a_trusted_proxy() {
    // Behind a trusted proxy: each client (X-Forwarded-For) has its own two a minute.
    let proxied = h5_app_with("https://hooks.example.com", SmsProvider::Webhook, |s| {
        s.web.sign_ins_per_minute = 2;
        s.server.trusted_proxies = vec!["127.0.0.0/8".to_owned()];
    })
    .await;
    let mut statuses = Vec::new();
    for (n, client) in [
        "198.51.100.1",
        "198.51.100.1",
        "198.51.100.1",
        "198.51.100.2",
    ]
    .iter()
    .enumerate()
    {
        let mut visitor = Visitor::with_header("X-Forwarded-For", &format!("6.6.6.6, {client}"));
        statuses.push(sign_in(&proxied, &mut visitor, n as u32).await);
    }
    assert_eq!(statuses, [302, 302, 429, 302]);
    // Not trusted: the header is the client's own word, and the peer is the client.
    let direct = h5_app_with("https://hooks.example.com", SmsProvider::Webhook, |s| {
        s.web.sign_ins_per_minute = 2;
    })
    .await;
    let mut statuses = Vec::new();
    for n in 0..3 {
        let mut visitor = Visitor::with_header("X-Forwarded-For", &format!("198.51.100.{n}"));
        statuses.push(sign_in(&direct, &mut visitor, n).await);
    }
    assert_eq!(statuses, [302, 302, 429]);
}

/// 2,000 clients send a page's POST headers and then trickle nothing: each client address has at
/// most `server.max_requests_per_client` requests in progress (the rest get 429 at once, their
/// connections closed), the body deadline cuts those, and WeChat's pushes (another address) keep
/// being answered within a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_posts_to_the_page_hold_nothing_and_pushes_keep_being_answered() {
    let app = h5_app_with("https://hooks.example.com", SmsProvider::Webhook, |s| {
        s.server.body_timeout_secs = 3;
        s.server.max_requests_per_client = 64;
    })
    .await;
    let target = app.addr;
    let path = format!("/h5/{}/activate", appid());
    let slow = (0..2000).map(|_| {
        let path = path.clone();
        tokio::spawn(async move {
            // From another loopback address than the pushes.
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
            let started = Instant::now();
            let Ok(mut stream) = socket.connect(target).await else {
                return (0, started.elapsed());
            };
            let head = format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
                 Content-Length: 4000\r\n\r\ncard_id="
            );
            if stream.write_all(head.as_bytes()).await.is_err() {
                return (0, started.elapsed());
            }
            let mut answer = vec![0; 256];
            let read = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut answer)).await;
            let status = match read {
                Ok(Ok(n)) if n > 12 => String::from_utf8_lossy(&answer[9..12]).parse().unwrap_or(0),
                _ => 0,
            };
            (status, started.elapsed())
        })
    });
    let slow: Vec<_> = slow.collect();
    // Meanwhile, pushes.
    let mut slowest = Duration::ZERO;
    for n in 0..40 {
        let xml = get_card_xml("oPush", 1_700_000_000 + n, "pPUSH", &format!("{n}"), 1, "");
        let started = Instant::now();
        assert_success(app.push_xml(&xml, Mode::Safe).await).await;
        slowest = slowest.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(slowest < Duration::from_secs(1), "a push took {slowest:?}");
    let mut by_status = std::collections::BTreeMap::new();
    let mut longest = Duration::ZERO;
    for task in slow {
        let (status, took) = task.await.unwrap();
        *by_status.entry(status).or_insert(0) += 1;
        longest = longest.max(took);
    }
    // The first 64 were cut by the body deadline (408); every other one refused at once (429).
    assert_eq!(by_status.get(&408), Some(&64), "{by_status:?}");
    assert_eq!(by_status.get(&429), Some(&1936), "{by_status:?}");
    assert!(
        longest < Duration::from_secs(10),
        "a slow client was held {longest:?}"
    );
    assert_eq!(app.event_count().await, 40);
}
