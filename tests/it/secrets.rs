//! The real binary at TRACE level: a safe-mode push, a token refresh and an activation, and no
//! configured secret or access_token anywhere in what it printed.

use std::time::Duration;

use cardhook::accounts::Accounts;
use cardhook::wechat::Mode;

use crate::support::account_settings;
use crate::support::fake_wechat::FakeWeChat;
use crate::support::fixtures::{assert_success, get_card_xml};
use crate::support::process::ServeProcess;

const TOKEN: &str = "tok-SECRET-1f9a";
const AES_KEY: &str = "Zk3qP9sV2wX7yB4nM6cD8fG1hJ5kL0aQ3rT7uE2iO9p";
const APP_SECRET: &str = "appsecret-SECRET-77c2";
const ACCESS_TOKEN: &str = "ACCESS-TOKEN-SECRET-5d1e";
const ADMIN_TOKEN: &str = "admin-SECRET-0b3c-of-24-chars";
const APPID: &str = "wxsecrets00000001";

#[tokio::test]
async fn nothing_secret_is_ever_logged_at_trace_level() {
    let fake = FakeWeChat::start().await;
    fake.token_ok(ACCESS_TOKEN, 7200, None).await;
    fake.activate_ok().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cardhook.db");
    let config = dir.path().join("cardhook.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"sqlite://{}?mode=rwc\"\n[wechat]\napi_base = \"{}\"\n[admin]\ntoken = \"{ADMIN_TOKEN}\"\n\
             [[accounts]]\nappid = \"{APPID}\"\ntoken = \"{TOKEN}\"\nencoding_aes_key = \"{AES_KEY}\"\napp_secret = \"{APP_SECRET}\"\nmode = \"safe\"\n\
             [[cards]]\ncard_id = \"pSECRET\"\n",
            db.display(),
            fake.uri()
        ),
    )
    .unwrap();
    let serve = ServeProcess::start(&config, "trace").await;
    let addr = serve.callback.clone();

    // A safe-mode push, sealed with the same secrets.
    let settings = vec![account_settings(APPID, TOKEN, Some(AES_KEY), Mode::Safe)];
    let mut with_secret = settings.clone();
    with_secret[0].app_secret = None;
    let accounts = Accounts::from_settings(&with_secret).unwrap();
    let xml = get_card_xml(
        "oSecret",
        chrono::Utc::now().timestamp(),
        "pSECRET",
        "31337",
        0,
        "s",
    );
    let sealed = accounts
        .get(APPID)
        .unwrap()
        .sealer()
        .seal(
            &xml,
            Mode::Safe,
            chrono::Utc::now().timestamp(),
            "1",
            &[5; 16],
        )
        .unwrap();
    let client = reqwest::Client::new();
    let response = client
        .post(format!("http://{addr}/wechat/{APPID}?{}", sealed.query))
        .body(sealed.body)
        .send()
        .await
        .unwrap();
    assert_success(response).await;

    // The worker refreshes the token and activates; wait for the fake to see it.
    tokio::time::timeout(Duration::from_secs(60), async {
        while fake.activate_requests().await.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("activation happened");
    assert_eq!(fake.activate_requests().await[0].1, ACCESS_TOKEN);

    serve.terminate().await;
    let (status, log) = serve.wait().await;
    assert!(status.success(), "serve exit status {status}:\n{log}");

    assert!(
        log.lines().count() > 20,
        "TRACE logging produced too little to prove anything:\n{log}"
    );
    assert!(log.contains("member card activated"), "{log}");
    for secret in [TOKEN, AES_KEY, APP_SECRET, ACCESS_TOKEN, ADMIN_TOKEN] {
        let leaks: Vec<&str> = log.lines().filter(|l| l.contains(secret)).collect();
        assert!(
            leaks.is_empty(),
            "{secret} leaked into the log:\n{}",
            leaks.join("\n")
        );
    }
}

/// The H5 page's whole SMS flow through the real binary at TRACE level: no phone number, SMS
/// code, card code, OpenID, session secret or SMS secret in what it printed.
#[tokio::test]
async fn the_sms_flow_logs_no_phone_code_or_secret() {
    use crate::support::sms_gateway::{SmsGateway, WEBHOOK_SECRET};
    use crate::support::visitor::{location, oauth_state, Visitor};
    const SESSION_SECRET: &str = "session-SECRET-of-more-than-32-chars";
    const PHONE: &str = "13755554444";
    const OPENID: &str = "oPERSONAL-openid-42";
    const CODE: &str = "77001234";
    let fake = FakeWeChat::start().await;
    fake.token_ok(ACCESS_TOKEN, 7200, None).await;
    fake.activate_ok().await;
    fake.oauth_code("OC-secret", OPENID).await;
    fake.code_decrypts("ENC+secret", CODE).await;
    fake.code_held_by("pH5SECRET", CODE, OPENID).await;
    let sms = SmsGateway::start().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cardhook.db");
    let config = dir.path().join("cardhook.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"sqlite://{}?mode=rwc\"\n[wechat]\napi_base = \"{api}\"\noauth_base = \"{api}\"\n\
             [web]\npublic_url = \"https://hooks.example.com\"\nsession_secret = \"{SESSION_SECRET}\"\n\
             [sms]\nprovider = \"webhook\"\nurl = \"{}/webhook\"\nsecret = \"{WEBHOOK_SECRET}\"\n\
             [[accounts]]\nappid = \"{APPID}\"\ntoken = \"{TOKEN}\"\nencoding_aes_key = \"{AES_KEY}\"\napp_secret = \"{APP_SECRET}\"\nmode = \"safe\"\n\
             [[cards]]\ncard_id = \"pH5SECRET\"\nactivation = \"h5\"\nbind_by = \"phone\"\n",
            db.display(),
            sms.base,
            api = fake.uri(),
        ),
    )
    .unwrap();
    let serve = ServeProcess::start(&config, "trace").await;
    let base = format!("http://{}/h5/{APPID}", serve.callback);
    let mut visitor = Visitor::new();
    let to_wechat = visitor
        .get(&format!(
            "{base}/activate?card_id=pH5SECRET&encrypt_code=ENC%2Bsecret"
        ))
        .await;
    let state = oauth_state(&to_wechat);
    let back = visitor
        .get(&format!("{base}/oauth?code=OC-secret&state={state}"))
        .await;
    let form = visitor
        .get(&format!("http://{}{}", serve.callback, location(&back)))
        .await
        .text()
        .await
        .unwrap();
    let asked = visitor
        .post_page(&format!("{base}/sms"), &form, &[("phone", PHONE)])
        .await;
    assert_eq!(asked.status(), 200);
    let asked = asked.text().await.unwrap();
    let sms_code = sms.code_for(PHONE).await;
    let wrong = if sms_code == "000000" {
        "111111"
    } else {
        "000000"
    };
    for code in [wrong, sms_code.as_str()] {
        let fields = [("phone", PHONE), ("sms_code", code)];
        visitor
            .post_page(&format!("{base}/activate"), &asked, &fields)
            .await;
    }
    serve.terminate().await;
    let (status, log) = serve.wait().await;
    assert!(status.success(), "serve exit status {status}:\n{log}");
    assert!(
        log.contains("SMS code sent") && log.contains("member binding"),
        "{log}"
    );
    for secret in [
        PHONE,
        &sms_code,
        CODE,
        OPENID,
        SESSION_SECRET,
        WEBHOOK_SECRET,
        &WEBHOOK_SECRET["whsec_".len()..],
        ACCESS_TOKEN,
    ] {
        let leaks: Vec<&str> = log.lines().filter(|l| l.contains(secret)).collect();
        assert!(
            leaks.is_empty(),
            "{secret} leaked into the log:\n{}",
            leaks.join("\n")
        );
    }
}
