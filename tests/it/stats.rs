//! The counting reads behind the stats and the dashboard, on both backends: the stats' distinct
//! users (`users`) for an account, a card and a period (the period's bindings are read by day,
//! `idx_card_binding_day`, the account and card compared beside it), and members imported by day.

use cardhook::store::{channel_day, members};
use chrono::NaiveDate;
use entity::{card_binding, member};
use migration::{Migrator, MigratorTrait};
use sea_orm::{ActiveValue::Set, EntityTrait};

use crate::support::backend::{fresh_database, TestDatabase, BOTH};

/// A binding of `code` to `openid`, got through `outer_str` on `day`.
fn binding(
    appid: &str,
    card_id: &str,
    code: &str,
    openid: &str,
    outer_str: &str,
    day: &str,
) -> card_binding::ActiveModel {
    card_binding::ActiveModel {
        appid: Set(appid.into()),
        card_id: Set(card_id.into()),
        code: Set(code.into()),
        openid: Set(openid.into()),
        unionid: Set(None),
        outer_id: Set("0".into()),
        outer_str: Set(outer_str.into()),
        source_scene: Set(None),
        got_at: Set(0),
        got_day: Set(day.into()),
        from_friend: Set(false),
        friend_openid: Set(None),
        old_code: Set(None),
        restored: Set(false),
        status: Set("got".into()),
        membership_number: Set(None),
        activated_at: Set(None),
        updated_at: Set(0),
        source: Set("push".into()),
    }
}

/// A fresh, migrated database of `backend`.
async fn migrated(
    backend: crate::support::backend::Backend,
    dir: &std::path::Path,
) -> (TestDatabase, sea_orm::DatabaseConnection) {
    let (test_db, db) = fresh_database(backend, dir).await;
    Migrator::up(&db, None).await.unwrap();
    (test_db, db)
}

#[tokio::test]
async fn users_are_counted_for_an_account_a_card_and_a_period() {
    let dir = tempfile::tempdir().unwrap();
    for backend in BOTH {
        let (test_db, db) = migrated(backend, dir.path()).await;
        let rows = [
            // wxa's card A: o1 twice through poster on two days, o2 once; o3 through desk.
            binding("wxa", "pA", "1", "o1", "poster", "2026-12-01"),
            binding("wxa", "pA", "2", "o1", "poster", "2026-12-02"),
            binding("wxa", "pA", "3", "o2", "poster", "2026-12-02"),
            binding("wxa", "pA", "4", "o1", "desk", "2026-12-03"),
            binding("wxa", "pA", "5", "o3", "desk", "2026-12-09"),
            // wxa's card B and another account: counted only without their filters.
            binding("wxa", "pB", "6", "o4", "poster", "2026-12-02"),
            binding("wxb", "pA", "7", "o5", "poster", "2026-12-02"),
        ];
        card_binding::Entity::insert_many(rows)
            .exec(&db)
            .await
            .unwrap();
        let day = |d| NaiveDate::from_ymd_opt(2026, 12, d);
        let users = |appid: Option<&str>, card_id: Option<&str>, from, to| {
            let q = channel_day::StatsQuery {
                appid: appid.map(str::to_owned),
                card_id: card_id.map(str::to_owned),
                from,
                to,
                by: channel_day::GroupBy::Channel,
            };
            let db = db.clone();
            async move {
                let report = channel_day::stats(&db, &q).await.unwrap();
                let mut rows: Vec<(String, String, String, i64)> = report
                    .rows
                    .into_iter()
                    .filter(|row| row.users > 0)
                    .map(|row| (row.appid, row.card_id, row.outer_str, row.users))
                    .collect();
                rows.sort();
                (rows, report.totals.users)
            }
        };
        let row =
            |appid: &str, card: &str, outer: &str, n| (appid.into(), card.into(), outer.into(), n);
        assert_eq!(
            users(Some("wxa"), Some("pA"), day(1), day(8)).await,
            (
                vec![row("wxa", "pA", "desk", 1), row("wxa", "pA", "poster", 2)],
                2
            ),
            "{backend:?}: o1 counted once per channel and once in all"
        );
        assert_eq!(
            users(Some("wxa"), None, day(2), None).await,
            (
                vec![
                    row("wxa", "pA", "desk", 2),
                    row("wxa", "pA", "poster", 2),
                    row("wxa", "pB", "poster", 1)
                ],
                4
            ),
            "{backend:?}"
        );
        assert_eq!(
            users(None, Some("pA"), None, day(2)).await,
            (
                vec![row("wxa", "pA", "poster", 2), row("wxb", "pA", "poster", 1)],
                3
            ),
            "{backend:?}"
        );
        assert_eq!(users(None, None, None, None).await.1, 5, "{backend:?}");
        // By day: a user once a day per channel.
        let q = channel_day::StatsQuery {
            appid: Some("wxa".into()),
            card_id: Some("pA".into()),
            from: day(1),
            to: day(3),
            by: channel_day::GroupBy::Day,
        };
        let report = channel_day::stats(&db, &q).await.unwrap();
        let mut by_day: Vec<(String, Option<String>, i64)> = report
            .rows
            .into_iter()
            .map(|row| (row.outer_str, row.day, row.users))
            .collect();
        by_day.sort();
        let at = |outer: &str, d: &str, n| (outer.to_owned(), Some(d.to_owned()), n);
        assert_eq!(
            (by_day, report.totals.users),
            (
                vec![
                    at("desk", "2026-12-03", 1),
                    at("poster", "2026-12-01", 1),
                    at("poster", "2026-12-02", 2)
                ],
                2
            ),
            "{backend:?}"
        );
        db.close().await.unwrap();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn members_imported_are_counted_on_their_day() {
    let dir = tempfile::tempdir().unwrap();
    let start = 1_764_518_400; // a midnight
    let member = |appid: &str, n: i64, created_at: i64| member::ActiveModel {
        appid: Set(appid.into()),
        member_no: Set(format!("M{n}")),
        phone: Set(format!("1380000{n:04}")),
        bonus: Set(0),
        balance: Set(0),
        revision: Set(0),
        created_at: Set(created_at),
        updated_at: Set(created_at),
        ..Default::default()
    };
    for backend in BOTH {
        let (test_db, db) = migrated(backend, dir.path()).await;
        let rows = [
            member("wxa", 1, start - 1),          // the day before
            member("wxa", 2, start),              // day 0, its first second
            member("wxa", 3, start + 86_399),     // day 0, its last
            member("wxa", 4, start + 2 * 86_400), // day 2
            member("wxa", 5, start + 2 * 86_400 + 5),
            member("wxa", 6, start + 2 * 86_400 + 9),
            member("wxb", 7, start + 86_400),     // another account
            member("wxa", 8, start + 3 * 86_400), // the day after
        ];
        member::Entity::insert_many(rows).exec(&db).await.unwrap();
        assert_eq!(
            members::imported_by_day(&db, "wxa", start, 3)
                .await
                .unwrap(),
            vec![2, 0, 3],
            "{backend:?}"
        );
        assert_eq!(
            members::imported_by_day(&db, "wxb", start, 3)
                .await
                .unwrap(),
            vec![0, 1, 0],
            "{backend:?}"
        );
        // The longest period the dashboard reads: a day in it, the one after it not.
        let year = members::imported_by_day(&db, "wxa", start - 363 * 86_400, 366)
            .await
            .unwrap();
        assert_eq!(
            (year.len(), year[362], year[363], year[365]),
            (366, 1, 2, 3),
            "{backend:?}"
        );
        assert_eq!(year.iter().sum::<i64>(), 6, "{backend:?}");
        assert!(members::imported_by_day(&db, "wxa", start, 0)
            .await
            .unwrap()
            .is_empty());
        db.close().await.unwrap();
        test_db.drop_database().await;
    }
}
