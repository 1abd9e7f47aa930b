//! Idempotency: redeliveries change nothing; batch addCard pushes sharing FromUserName+CreateTime don't collide.

use cardhook::wechat::Mode;

use crate::support::backend::BOTH;
use crate::support::fixtures::{assert_success, get_card_xml};
use crate::support::{account_for, spawn_app, spawn_app_on};

#[tokio::test]
async fn three_redeliveries_store_one_row_and_count_once() {
    for backend in BOTH {
        let app = spawn_app_on(backend, |_| {}).await;
        let (appid, _) = account_for(Mode::Safe);
        // WeChat retries with a new nonce and timestamp, but the same message.
        for _ in 0..4 {
            assert_success(app.push_fixture("user_get_card", Mode::Safe).await).await;
        }
        assert_eq!(app.event_count().await, 1);
        assert_eq!(app.binding_count().await, 1);
        assert_eq!(app.channel(appid, 0, "12b").await.got, 1);
        assert_eq!(app.metrics.pushes(appid, "user_get_card", "stored"), 1);
        assert_eq!(app.metrics.pushes(appid, "user_get_card", "duplicate"), 3);
        app.shutdown().await;
    }
}

#[tokio::test]
async fn identical_pushes_sent_concurrently_are_stored_once() {
    for backend in BOTH {
        let app = spawn_app_on(backend, |_| {}).await;
        let (appid, _) = account_for(Mode::Safe);
        let xml = get_card_xml("oConcurrent", 1_700_000_000, "pCARD", "777", 0, "race");
        let pushes = (0..16).map(|_| app.push_xml(&xml, Mode::Safe));
        for response in futures_util::future::join_all(pushes).await {
            assert_success(response).await;
        }
        assert_eq!(app.event_count().await, 1);
        assert_eq!(app.channel(appid, 0, "race").await.got, 1, "{backend:?}");
        app.shutdown().await;
    }
}

#[tokio::test]
async fn batch_add_card_pushes_sharing_openid_and_create_time_are_all_kept() {
    let app = spawn_app().await;
    let (appid, _) = account_for(Mode::Safe);
    for i in 0..7 {
        let xml = get_card_xml(
            "oBatchUser",
            1_700_000_000,
            "pBATCH",
            &format!("80000{i}"),
            0,
            "batch",
        );
        assert_success(app.push_xml(&xml, Mode::Safe).await).await;
    }
    assert_eq!(app.event_count().await, 7);
    assert_eq!(app.binding_count().await, 7);
    for i in 0..7 {
        let binding = app
            .binding(appid, "pBATCH", &format!("80000{i}"))
            .await
            .expect("binding");
        assert_eq!(binding.openid, "oBatchUser");
    }
    let counts = app.channel(appid, 0, "batch").await;
    assert_eq!(counts.got, 7);
}

#[tokio::test]
async fn the_same_push_to_two_accounts_is_two_events() {
    let app = spawn_app().await;
    assert_success(app.push_fixture("user_get_card", Mode::Safe).await).await;
    assert_success(app.push_fixture("user_get_card", Mode::Compat).await).await;
    assert_eq!(app.event_count().await, 2);
}

/// Several group-commit writers on PostgreSQL: identical pushes racing through different writers
/// are stored once (the losing batch is redone one push at a time), distinct ones all kept.
#[tokio::test]
async fn several_postgres_writers_store_racing_redeliveries_once() {
    use crate::support::backend::Backend;
    let app = spawn_app_on(Backend::Postgres, |s| s.database.writers = 4).await;
    let (appid, _) = account_for(Mode::Safe);
    let pushes = (0..64).map(|i| {
        // 8 distinct events, each delivered 8 times at once.
        let code = format!("9{:03}", i % 8);
        let xml = get_card_xml("oWriters", 1_700_000_000, "pWRITERS", &code, 0, "writers");
        let app = &app;
        async move { app.push_xml(&xml, Mode::Safe).await }
    });
    for response in futures_util::future::join_all(pushes).await {
        assert_success(response).await;
    }
    assert_eq!(app.event_count().await, 8);
    assert_eq!(app.binding_count().await, 8);
    assert_eq!(app.channel(appid, 0, "writers").await.got, 8);
    assert_eq!(app.metrics.pushes(appid, "user_get_card", "stored"), 8);
    assert_eq!(app.metrics.pushes(appid, "user_get_card", "duplicate"), 56);
    app.shutdown().await;
}
