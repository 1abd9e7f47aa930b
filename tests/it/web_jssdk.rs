//! JS-SDK signatures for the merchant's own pages on the public listener: only to pages under
//! `web.allowed_origins`, only for cards in `[[cards]]`, never with a code or OpenID the caller
//! chose, at most 60 a minute per client address.

use serde_json::{json, Value};

use crate::members::h5_app;
use crate::support::{account_for, TestApp};

const SHOP: &str = "https://shop.example.com";

async fn ask(app: &TestApp, route: &str, origin: Option<&str>, body: Value) -> reqwest::Response {
    let appid = account_for(cardhook::wechat::Mode::Safe).0;
    let mut request = app
        .client
        .post(app.url(&format!("/h5/{appid}/jssdk/{route}")))
        .json(&body);
    if let Some(origin) = origin {
        request = request.header("Origin", origin);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_shop_page_gets_its_signatures_and_nothing_else_does() {
    let app = h5_app("https://hooks.example.com").await;
    app.fake_wechat.tickets_ok(None).await;

    let config = ask(
        &app,
        "config",
        Some(SHOP),
        json!({"url": format!("{SHOP}/member?x=1#top")}),
    )
    .await;
    assert_eq!(config.status(), 200);
    assert_eq!(config.headers()["access-control-allow-origin"], SHOP);
    let params: Value = config.json().await.unwrap();
    for key in ["appId", "timestamp", "nonceStr", "signature"] {
        assert!(params.get(key).is_some(), "{key}: {params}");
    }

    let ext = ask(
        &app,
        "card-ext",
        Some(SHOP),
        json!({"card_id": "pH5CARD", "outer_str": "shop"}),
    )
    .await;
    assert_eq!(ext.status(), 200);
    let signed: Value = ext.json().await.unwrap();
    let card_ext: Value = serde_json::from_str(signed["card_ext"].as_str().unwrap()).unwrap();
    assert_eq!(card_ext["outer_str"], "shop");
    assert!(
        card_ext.get("code").is_none() && card_ext.get("openid").is_none(),
        "{card_ext}"
    );

    // Another origin, no origin, a page of another origin, a card not configured, a chosen code.
    let refused = [
        (
            "config",
            Some("https://evil.example.com"),
            json!({"url": "https://evil.example.com/"}),
            403,
        ),
        ("config", None, json!({"url": format!("{SHOP}/")}), 403),
        (
            "config",
            Some(SHOP),
            json!({"url": "https://evil.example.com/page"}),
            403,
        ),
        (
            "card-ext",
            Some(SHOP),
            json!({"card_id": "pNOTCONFIGURED"}),
            403,
        ),
        (
            "card-ext",
            Some(SHOP),
            json!({"card_id": "pH5CARD", "code": "123"}),
            400,
        ),
        (
            "card-ext",
            Some(SHOP),
            json!({"card_id": "pH5CARD", "openid": "oX"}),
            400,
        ),
    ];
    for (route, origin, body, status) in refused {
        let response = ask(&app, route, origin, body.clone()).await;
        assert_eq!(response.status(), status, "{route} {origin:?} {body}");
        let error: Value = response.json().await.unwrap();
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{error}"
        );
    }
    assert_eq!(app.metrics.pages("jssdk_config", "forbidden"), 3);
}

#[tokio::test]
async fn a_cross_origin_preflight_is_answered_for_allowed_pages_only() {
    let app = h5_app("https://hooks.example.com").await;
    let appid = account_for(cardhook::wechat::Mode::Safe).0;
    let preflight = |origin: &'static str| {
        app.client
            .request(
                reqwest::Method::OPTIONS,
                app.url(&format!("/h5/{appid}/jssdk/card-ext")),
            )
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .send()
    };
    let allowed = preflight(SHOP).await.unwrap();
    assert_eq!(allowed.status(), 204);
    assert_eq!(allowed.headers()["access-control-allow-origin"], SHOP);
    assert_eq!(
        preflight("https://evil.example.com")
            .await
            .unwrap()
            .status(),
        403
    );
}

#[tokio::test]
async fn a_client_address_gets_sixty_signatures_a_minute() {
    let app = h5_app("https://hooks.example.com").await;
    app.fake_wechat.tickets_ok(None).await;
    let minute = || chrono::Utc::now().timestamp() / 60;
    // The window is the clock's minute: start right after one begins, so all 61 fall in it.
    while chrono::Utc::now().timestamp() % 60 > 50 {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let started = minute();
    let mut statuses = Vec::new();
    for _ in 0..61 {
        let response = ask(
            &app,
            "config",
            Some(SHOP),
            json!({"url": format!("{SHOP}/")}),
        )
        .await;
        statuses.push(response.status().as_u16());
    }
    assert_eq!(minute(), started, "the requests took over ten seconds");
    assert!(statuses[..60].iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(statuses[60], 429);
}
