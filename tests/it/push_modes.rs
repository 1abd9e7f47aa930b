//! Every fixture replayed in plain, compat and safe mode through the real server.

use cardhook::wechat::Mode;

use crate::support::fixtures::{all_fixture_names, assert_success, fixture};
use crate::support::{account_for, assert_rejected, spawn_app};

#[tokio::test]
async fn every_fixture_in_every_mode_is_stored_raw() {
    let app = spawn_app().await;
    let names = all_fixture_names();
    assert!(names.len() >= 19, "{names:?}");
    for mode in [Mode::Plain, Mode::Compat, Mode::Safe] {
        for name in &names {
            let response = app.push_fixture(name, mode).await;
            assert_eq!(
                response.status(),
                200,
                "{name} in {mode:?}: {}",
                response.text().await.unwrap()
            );
        }
    }
    let rows = app.event_rows().await;
    for mode in [Mode::Plain, Mode::Compat, Mode::Safe] {
        let (appid, _) = account_for(mode);
        let mine: Vec<_> = rows.iter().filter(|r| r.appid == appid).collect();
        assert_eq!(mine.len(), names.len(), "{mode:?}");
        for name in &names {
            let xml = fixture(name);
            assert!(
                mine.iter().any(|r| r.raw_xml == xml),
                "{name} not stored verbatim in {mode:?}"
            );
        }
    }
    let unknown = rows
        .iter()
        .find(|r| r.event.as_deref() == Some("giftcard_pay_done"));
    assert!(unknown.is_some(), "unknown events are stored too");
    assert_eq!(
        app.metrics
            .pushes(account_for(Mode::Safe).0, "other", "stored"),
        1
    );
    assert_eq!(
        app.metrics
            .pushes(account_for(Mode::Safe).0, "user_get_card", "stored"),
        6
    );
}

#[tokio::test]
async fn compat_mode_reads_only_the_ciphertext() {
    let app = spawn_app().await;
    let real = fixture("user_get_card");
    let mut sealed = app.seal(&real, Mode::Compat);
    // Tamper with the plaintext sibling: only the decrypted message counts.
    sealed.body = sealed.body.replace("226009850808", "999999999999");
    assert!(sealed.body.contains("999999999999"));
    assert_success(app.push_sealed(&sealed, Mode::Compat).await).await;
    let (appid, _) = account_for(Mode::Compat);
    assert!(app
        .binding(appid, "pZI8Fjwsy5fVPRBeD78J4RmqVvBc", "226009850808")
        .await
        .is_some());
    assert!(app
        .binding(appid, "pZI8Fjwsy5fVPRBeD78J4RmqVvBc", "999999999999")
        .await
        .is_none());
}

#[tokio::test]
async fn safe_accounts_refuse_plaintext_and_plain_accounts_without_key_refuse_ciphertext() {
    let app = spawn_app().await;
    let sealed = app.seal(&fixture("user_get_card"), Mode::Plain);
    // A plain-mode seal signed with the safe account's token would still be plaintext.
    let (safe_appid, safe_token) = account_for(Mode::Safe);
    let account = app.accounts.get(safe_appid).unwrap();
    let plain_for_safe = account
        .sealer()
        .seal(
            &fixture("user_get_card"),
            Mode::Plain,
            chrono::Utc::now().timestamp(),
            "1",
            &[0; 16],
        )
        .unwrap();
    assert!(!safe_token.is_empty());
    assert_rejected(
        app.push_raw(safe_appid, &plain_for_safe.query, plain_for_safe.body)
            .await,
        401,
        "plaintext_rejected",
    )
    .await;

    // The plain account has no EncodingAESKey: an encrypted push cannot be opened.
    let (plain_appid, _) = account_for(Mode::Plain);
    let plain = app.accounts.get(plain_appid).unwrap();
    let key = app
        .accounts
        .get(safe_appid)
        .unwrap()
        .aes_key()
        .cloned()
        .unwrap();
    let mut sealer = plain.sealer();
    sealer.aes_key = Some(&key);
    let encrypted = sealer
        .seal(
            &fixture("user_get_card"),
            Mode::Safe,
            chrono::Utc::now().timestamp(),
            "1",
            &[0; 16],
        )
        .unwrap();
    assert_rejected(
        app.push_raw(plain_appid, &encrypted.query, encrypted.body)
            .await,
        401,
        "no_aes_key",
    )
    .await;
    assert!(!sealed.body.is_empty());
    assert_eq!(app.event_count().await, 0);
}

/// Compat mode: the URL's `signature` does not cover the body, so a push without `msg_signature`
/// is refused like one to a safe account (issue 31) — one signed query string cannot carry forged
/// plaintext bodies.
#[tokio::test]
async fn compat_mode_refuses_an_unencrypted_push_whatever_its_query_signs() {
    let app = spawn_app().await;
    let (compat, _) = account_for(Mode::Compat);
    let account = app.accounts.get(compat).unwrap();
    let signed = account
        .sealer()
        .seal(
            &fixture("user_get_card"),
            Mode::Plain,
            chrono::Utc::now().timestamp(),
            "77",
            &[0; 16],
        )
        .unwrap();
    for forged in [
        signed.body.clone(),
        signed.body.replace("226009850808", "111111111111"),
    ] {
        assert_rejected(
            app.push_raw(compat, &signed.query, forged).await,
            401,
            "plaintext_rejected",
        )
        .await;
    }
    assert_eq!(app.event_count().await, 0, "nothing stored");
    // The genuine encrypted push still goes through.
    assert_success(app.push_fixture("user_get_card", Mode::Compat).await).await;
}

/// Plain mode as WeChat defines it (the body is not signed): a query that already brought a
/// stored push answers `success` without storing another body, so a captured URL cannot carry a
/// forged one.
#[tokio::test]
async fn plain_mode_a_signed_query_brings_one_body_once() {
    let app = spawn_app().await;
    let (plain, _) = account_for(Mode::Plain);
    let sealed = app.seal(&fixture("user_get_card"), Mode::Plain);
    assert_success(app.push_sealed(&sealed, Mode::Plain).await).await;
    // WeChat's own retry: the same query and body.
    assert_success(app.push_sealed(&sealed, Mode::Plain).await).await;
    // A captured URL with a forged body: acknowledged, and nothing of it stored.
    let forged = sealed
        .body
        .replace("226009850808", "111111111111")
        .replace("oZI8Fj040-be6rlDohc6gkoPOQTQ", "oAttacker");
    assert_success(app.push_raw(plain, &sealed.query, forged).await).await;
    assert_eq!(app.event_count().await, 1);
    let card = "pZI8Fjwsy5fVPRBeD78J4RmqVvBc";
    assert!(app.binding(plain, card, "226009850808").await.is_some());
    assert!(app.binding(plain, card, "111111111111").await.is_none());
    // A new query (WeChat signs every push anew) brings the next push.
    assert_success(app.push_fixture("user_get_card_unicode", Mode::Plain).await).await;
    assert_eq!(app.event_count().await, 2);
}
