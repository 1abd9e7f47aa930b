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
