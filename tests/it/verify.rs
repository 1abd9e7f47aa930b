//! URL verification (GET): signature checked, echostr returned byte for byte (reference §1.1).

use cardhook::wechat::signature::sign_string;
use cardhook::wechat::Mode;

use crate::support::{account_for, account_settings, assert_rejected, spawn_app, spawn_app_with};

fn handshake_query(token: &str, echostr: &str) -> String {
    let timestamp = chrono::Utc::now().timestamp().to_string();
    let nonce = "1514711492";
    let signature = sign_string(&[token, &timestamp, nonce]);
    format!("signature={signature}&timestamp={timestamp}&nonce={nonce}&echostr={echostr}")
}

#[tokio::test]
async fn echostr_is_returned_verbatim_in_every_mode() {
    let app = spawn_app().await;
    for mode in [Mode::Plain, Mode::Compat, Mode::Safe] {
        let (appid, token) = account_for(mode);
        let url = app.url(&format!(
            "/wechat/{appid}?{}",
            handshake_query(token, "4375120948345356249")
        ));
        let response = app.client.get(url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        // Echoed text is never sniffed as HTML.
        assert_eq!(
            (
                response.headers()["content-type"].to_str().unwrap(),
                response.headers()["x-content-type-options"]
                    .to_str()
                    .unwrap()
            ),
            ("text/plain; charset=utf-8", "nosniff")
        );
        assert_eq!(response.text().await.unwrap(), "4375120948345356249");
        assert_eq!(app.metrics.pushes(appid, "verify", "verified"), 1);
    }
    assert_eq!(app.event_count().await, 0);
}

#[tokio::test]
async fn official_handshake_example_with_tolerance_off() {
    // Token AAAAA, timestamp 1714036504, nonce 1514711492 → f464b24f… (reference §1.1).
    let app = spawn_app_with(|s| {
        s.server.timestamp_tolerance_secs = 0;
        s.accounts = vec![account_settings(
            "wxofficial0000001",
            "AAAAA",
            None,
            Mode::Plain,
        )];
    })
    .await;
    let query = "signature=f464b24fc39322e44b38aa78f5edd27bd1441696&timestamp=1714036504&nonce=1514711492&echostr=4375120948345356249";
    for path in ["/wechat/wxofficial0000001", "/wechat"] {
        let response = app
            .client
            .get(app.url(&format!("{path}?{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.text().await.unwrap(), "4375120948345356249");
    }
}

#[tokio::test]
async fn bad_handshakes_are_refused() {
    let app = spawn_app().await;
    let (appid, token) = account_for(Mode::Safe);
    let get = |path: String| app.client.get(app.url(&path)).send();

    let wrong = handshake_query("not-the-token", "1");
    assert_rejected(
        get(format!("/wechat/{appid}?{wrong}")).await.unwrap(),
        401,
        "bad_signature",
    )
    .await;
    let q = handshake_query(token, "1").replace("&echostr=1", "");
    assert_rejected(
        get(format!("/wechat/{appid}?{q}")).await.unwrap(),
        400,
        "missing_param",
    )
    .await;
    let q = handshake_query(token, "1");
    assert_rejected(
        get(format!("/wechat/wxnobody?{q}")).await.unwrap(),
        404,
        "unknown_appid",
    )
    .await;
    // Three accounts are configured: /wechat without an AppID is ambiguous.
    assert_rejected(
        get(format!("/wechat?{q}")).await.unwrap(),
        404,
        "no_default_account",
    )
    .await;
    let stale = format!(
        "signature={}&timestamp=1000&nonce=1&echostr=1",
        sign_string(&[token, "1000", "1"])
    );
    assert_rejected(
        get(format!("/wechat/{appid}?{stale}")).await.unwrap(),
        401,
        "stale_timestamp",
    )
    .await;
    assert_eq!(app.metrics.pushes("unknown", "verify", "unknown_appid"), 1);
    assert_eq!(app.metrics.pushes(appid, "verify", "bad_signature"), 1);
}
