//! Channel counters per OuterId and OuterStr, and the binding transitions: delete, consume, gift, restore.

use cardhook::store::channel_day::{self, GroupBy, StatsQuery};
use cardhook::wechat::Mode;

use crate::support::backend::BOTH;
use crate::support::fixtures::{assert_success, code_event_xml, get_card_xml};
use crate::support::{account_for, spawn_app, spawn_app_on};

const CARD: &str = "pMEMBERCARD";

#[tokio::test]
async fn counters_follow_outer_str_and_outer_id() {
    let app = spawn_app().await;
    let (appid, _) = account_for(Mode::Safe);
    let pushes = [
        ("oA", "1001", 0, "shop_7_qr"),
        ("oB", "1002", 0, "shop_7_qr"),
        ("oC", "1003", 0, "article"),
        ("oD", "1004", 42, ""),
        ("oE", "1005", 0, ""),
    ];
    for (i, (openid, code, outer_id, outer_str)) in pushes.into_iter().enumerate() {
        let xml = get_card_xml(
            openid,
            1_700_000_000 + i as i64,
            CARD,
            code,
            outer_id,
            outer_str,
        );
        assert_success(app.push_xml(&xml, Mode::Safe).await).await;
    }
    assert_eq!(app.channel(appid, 0, "shop_7_qr").await.got, 2);
    assert_eq!(app.channel(appid, 0, "article").await.got, 1);
    assert_eq!(app.channel(appid, 42, "").await.got, 1);
    assert_eq!(app.channel(appid, 0, "").await.got, 1);
    let binding = app.binding(appid, CARD, "1004").await.unwrap();
    assert_eq!(
        (
            binding.outer_id.as_str(),
            binding.outer_str.as_str(),
            binding.status.as_str()
        ),
        ("42", "", "got")
    );

    let report = channel_day::stats(
        &app.db,
        &StatsQuery {
            appid: Some(appid.into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(report.rows.len(), 4);
    assert_eq!((report.totals.counts.got, report.totals.users), (5, 5));
    let shop = report
        .rows
        .iter()
        .find(|r| r.outer_str == "shop_7_qr")
        .unwrap();
    assert_eq!(shop.users, 2);
}

#[tokio::test]
async fn later_events_count_in_the_channel_the_code_came_through() {
    let app = spawn_app().await;
    let (appid, _) = account_for(Mode::Safe);
    let t = 1_700_000_000;
    assert_success(
        app.push_xml(&get_card_xml("oA", t, CARD, "2001", 0, "qr_a"), Mode::Safe)
            .await,
    )
    .await;
    assert_success(
        app.push_xml(&get_card_xml("oB", t, CARD, "2002", 0, "qr_a"), Mode::Safe)
            .await,
    )
    .await;
    assert_success(
        app.push_xml(&get_card_xml("oC", t, CARD, "2003", 0, "qr_b"), Mode::Safe)
            .await,
    )
    .await;
    // The consume push's own OuterStr is the consumption channel; it must not move the counters.
    let consume = code_event_xml("user_consume_card", "oA", t + 10, CARD, "2001")
        .replace("</xml>", "<OuterStr>cashier_3</OuterStr></xml>");
    assert_success(app.push_xml(&consume, Mode::Safe).await).await;
    assert_success(
        app.push_xml(
            &code_event_xml("user_del_card", "oC", t + 20, CARD, "2003"),
            Mode::Safe,
        )
        .await,
    )
    .await;

    let a = app.channel(appid, 0, "qr_a").await;
    assert_eq!((a.got, a.consumed, a.deleted), (2, 1, 0));
    let b = app.channel(appid, 0, "qr_b").await;
    assert_eq!((b.got, b.consumed, b.deleted), (1, 0, 1));
    assert_eq!(app.channel(appid, 0, "cashier_3").await.got, 0);
    assert_eq!(
        app.binding(appid, CARD, "2001").await.unwrap().status,
        "consumed"
    );
    assert_eq!(
        app.binding(appid, CARD, "2002").await.unwrap().status,
        "got"
    );
    assert_eq!(
        app.binding(appid, CARD, "2003").await.unwrap().status,
        "deleted"
    );

    // A code cardhook never saw arrive still counts, unattributed.
    assert_success(
        app.push_xml(
            &code_event_xml("user_del_card", "oZ", t + 30, CARD, "9999"),
            Mode::Safe,
        )
        .await,
    )
    .await;
    assert_eq!(app.channel(appid, 0, "").await.deleted, 1);
}

#[tokio::test]
async fn gift_restore_and_return_transitions() {
    for backend in BOTH {
        let app = spawn_app_on(backend, |_| {}).await;
        let (appid, _) = account_for(Mode::Safe);
        let gift_card = "pbLatjhU-3pik3d4PsbVzvBxZvJc";
        // The giver got 297466945104 through channel "giver_qr", then gives it away.
        let giver = get_card_xml(
            "obLatjjwDolFjRRd3doGIdwNqRXw",
            1_474_180_000,
            gift_card,
            "297466945104",
            0,
            "giver_qr",
        );
        assert_success(app.push_xml(&giver, Mode::Safe).await).await;
        assert_success(app.push_fixture("user_gifting_card", Mode::Safe).await).await;
        assert_eq!(
            app.binding(appid, gift_card, "297466945104")
                .await
                .unwrap()
                .status,
            "gifted_away"
        );
        // The receiver's push: a new code, the old one linked.
        assert_success(app.push_fixture("user_get_card_gift", Mode::Safe).await).await;
        let received = app.binding(appid, gift_card, "297466946211").await.unwrap();
        assert_eq!(received.openid, "obLatjlNerkb62HtSdQUx66C4NTU");
        assert!(received.from_friend);
        assert_eq!(
            received.friend_openid.as_deref(),
            Some("obLatjjwDolFjRRd3doGIdwNqRXw")
        );
        assert_eq!(received.old_code.as_deref(), Some("297466945104"));
        assert_eq!(
            app.binding(appid, gift_card, "297466945104")
                .await
                .unwrap()
                .status,
            "gifted_away"
        );
        let unattributed = app.channel(appid, 0, "").await;
        assert_eq!((unattributed.got, unattributed.from_friend), (1, 1));
        assert_eq!(app.channel(appid, 0, "giver_qr").await.got, 1);

        // A gift returned (IsReturnBack=1) gives the card back to its giver.
        let returned = code_event_xml(
            "user_gifting_card",
            "obLatjjwDolFjRRd3doGIdwNqRXw",
            1_474_190_000,
            gift_card,
            "297466945104",
        )
        .replace("</xml>", "<IsReturnBack>1</IsReturnBack></xml>");
        assert_success(app.push_xml(&returned, Mode::Safe).await).await;
        assert_eq!(
            app.binding(appid, gift_card, "297466945104")
                .await
                .unwrap()
                .status,
            "got"
        );

        // Restore: the official get, a delete, then IsRestoreMemberCard=1 (no OuterStr) counts in "12b".
        assert_success(app.push_fixture("user_get_card", Mode::Safe).await).await;
        let card = "pZI8Fjwsy5fVPRBeD78J4RmqVvBc";
        let del = code_event_xml(
            "user_del_card",
            "oZI8Fj040-be6rlDohc6gkoPOQTQ",
            1_472_600_000,
            card,
            "226009850808",
        );
        assert_success(app.push_xml(&del, Mode::Safe).await).await;
        assert_eq!(
            app.binding(appid, card, "226009850808")
                .await
                .unwrap()
                .status,
            "deleted"
        );
        assert_success(app.push_fixture("user_get_card_restore", Mode::Safe).await).await;
        let restored = app.binding(appid, card, "226009850808").await.unwrap();
        assert_eq!(
            (
                restored.status.as_str(),
                restored.restored,
                restored.outer_str.as_str()
            ),
            ("got", true, "12b")
        );
        let c = app.channel(appid, 0, "12b").await;
        assert_eq!((c.got, c.deleted, c.restored), (1, 1, 1), "{backend:?}");
        app.shutdown().await;
    }
}

#[tokio::test]
async fn days_are_counted_in_the_configured_offset() {
    let app = spawn_app().await;
    let (appid, _) = account_for(Mode::Safe);
    // 2024-04-30T16:30:00Z is May 1st in +08:00.
    assert_success(
        app.push_xml(
            &get_card_xml("oA", 1_714_494_600, CARD, "3001", 0, "day"),
            Mode::Safe,
        )
        .await,
    )
    .await;
    assert_success(
        app.push_xml(
            &get_card_xml("oB", 1_714_494_600 + 3600, CARD, "3002", 0, "day"),
            Mode::Safe,
        )
        .await,
    )
    .await;
    // One hour before midnight in +08:00: still April 30th.
    assert_success(
        app.push_xml(
            &get_card_xml("oC", 1_714_494_600 - 3600, CARD, "3003", 0, "day"),
            Mode::Safe,
        )
        .await,
    )
    .await;
    let by_day = StatsQuery {
        appid: Some(appid.into()),
        by: GroupBy::Day,
        ..Default::default()
    };
    let report = channel_day::stats(&app.db, &by_day).await.unwrap();
    let days: Vec<_> = report
        .rows
        .iter()
        .map(|r| (r.day.clone().unwrap(), r.counts.got, r.users))
        .collect();
    assert_eq!(
        days,
        vec![
            ("2024-04-30".to_owned(), 1, 1),
            ("2024-05-01".to_owned(), 2, 2)
        ]
    );
    let from = chrono::NaiveDate::from_ymd_opt(2024, 5, 2);
    let later = StatsQuery {
        appid: Some(appid.into()),
        from,
        ..Default::default()
    };
    assert!(channel_day::stats(&app.db, &later)
        .await
        .unwrap()
        .rows
        .is_empty());
}
