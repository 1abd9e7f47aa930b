//! Pushes sealed by others than cardhook: the published vector B byte for byte, and an independent
//! Python sender (tests/independent_sealer.py) for every mode and malformation.

use cardhook::wechat::signature::sign_string;
use cardhook::wechat::Mode;

use crate::support::fixtures::assert_success;
use crate::support::{
    account_for, account_settings, assert_rejected, spawn_app, spawn_app_with, KEY_B,
};

fn vector(name: &str) -> String {
    let path = format!("{}/fixtures/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn value<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key} = ")))
        .unwrap_or_else(|| panic!("{key} missing"))
}

#[tokio::test]
async fn vector_b_posted_byte_for_byte_is_accepted_and_stored() {
    let v = vector("vector_b.txt");
    let (token, appid) = (value(&v, "token"), value(&v, "appid"));
    let app = spawn_app_with(|s| {
        // The vector is from 2016: the replay window would (rightly) refuse it.
        s.server.timestamp_tolerance_secs = 0;
        s.accounts = vec![account_settings(
            appid,
            token,
            Some(value(&v, "encoding_aes_key")),
            Mode::Safe,
        )];
    })
    .await;
    let (timestamp, nonce) = (value(&v, "timestamp"), value(&v, "nonce"));
    // EasyWeChat publishes msg_signature; `signature` covers only token, timestamp and nonce.
    let query = format!(
        "signature={}&timestamp={timestamp}&nonce={nonce}&encrypt_type=aes&msg_signature={}",
        sign_string(&[token, timestamp, nonce]),
        value(&v, "msg_signature")
    );
    let body = std::fs::read(format!(
        "{}/fixtures/vectors/vector_b_body.xml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    assert_success(app.push_raw(appid, &query, body.clone()).await).await;
    let rows = app.event_rows().await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].raw_xml, value(&v, "plaintext"));
    assert_eq!(
        (rows[0].msg_type.as_str(), rows[0].openid.as_str()),
        ("text", "asdasdasdsadasd")
    );
    // Its published negative case: the same bytes with a wrong msg_signature.
    let tampered = query.replace(
        value(&v, "msg_signature"),
        "4f3ad57b6989f09f4eb392acce4f9e93942ed891",
    );
    assert_rejected(
        app.push_raw(appid, &tampered, body).await,
        401,
        "bad_msg_signature",
    )
    .await;
    assert_eq!(app.event_count().await, 1);
}

fn independent_seal(case: &str, mode: Mode, fixture: &str) -> (String, String) {
    let (appid, token) = account_for(mode);
    let script = format!("{}/tests/independent_sealer.py", env!("CARGO_MANIFEST_DIR"));
    let file = format!("{}/fixtures/push/{fixture}.xml", env!("CARGO_MANIFEST_DIR"));
    let output = std::process::Command::new("python3")
        .args([&script, "--token", token, "--key", KEY_B, "--appid", appid])
        .args([
            "--timestamp",
            &chrono::Utc::now().timestamp().to_string(),
            "--nonce",
            "27182818",
        ])
        .args(["--case", case, &file])
        .output()
        .expect("python3 must be installed (.ci/run installs it with the `cryptography` package)");
    assert!(
        output.status.success(),
        "independent sealer failed (is the `cryptography` package installed?): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let sealed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    (
        sealed["query"].as_str().unwrap().to_owned(),
        sealed["body"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn pushes_sealed_by_an_independent_implementation() {
    let app = spawn_app().await;
    let accepted = [
        ("safe", Mode::Safe),
        ("compat", Mode::Compat),
        ("plain", Mode::Plain),
    ];
    for (case, mode) in accepted {
        let (query, body) = independent_seal(case, mode, "user_get_card_unicode");
        assert_success(app.push_raw(account_for(mode).0, &query, body).await).await;
        let binding = app
            .binding(
                account_for(mode).0,
                "pZI8Fjwsy5fVPRBeD78J4RmqVvBc",
                "226009851103",
            )
            .await;
        assert_eq!(binding.expect(case).outer_str, "门店12号桌");
    }
    let rejected = [
        ("wrong_appid", 401, "appid_mismatch"),
        ("bad_msg_signature", 401, "bad_msg_signature"),
        ("bad_signature", 401, "bad_signature"),
        ("pad_zero", 400, "bad_padding"),
        ("pad_33", 400, "bad_padding"),
        ("declared_too_long", 400, "bad_length"),
        ("truncated", 400, "bad_ciphertext"),
    ];
    for (case, status, reason) in rejected {
        let (query, body) = independent_seal(case, Mode::Safe, "user_get_card");
        assert_rejected(
            app.push_raw(account_for(Mode::Safe).0, &query, body).await,
            status,
            reason,
        )
        .await;
    }
    assert_eq!(
        app.event_count().await,
        3,
        "only the three well-formed pushes are stored"
    );
}
