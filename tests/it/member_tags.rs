//! Members in WeChat tags (issue 34, 按会员标签群发) against the fake WeChat's stateful tags: tags
//! created once, members tagged at most 50 a call, a level change by import moves a member (a job),
//! a member bound later is tagged (a job), a dry run changes nothing, and `mass card --member-level`
//! sends to the level's tag.

use cardhook::config::{Activation, MemberTagSettings, SmsProvider, UnknownMember};
use cardhook::wechat::Mode;
use entity::member;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};

use crate::members::{card, h5_app_with, holds, import};
use crate::support::fake_tags::FakeTags;
use crate::support::process::{run_cli_ok, write_config};
use crate::support::{account_for, TestApp};

const JUMP_CARD: &str = "pTAGJUMP";
const GOLD: &str = "金卡会员";
const SILVER: &str = "银卡会员";

fn appid() -> &'static str {
    account_for(Mode::Safe).0
}

async fn tags_app() -> (TestApp, FakeTags, std::path::PathBuf) {
    let h5 = h5_app_with("https://hooks.example.com", SmsProvider::Webhook, |s| {
        s.cards
            .push(card(JUMP_CARD, Activation::Jump, UnknownMember::Refuse));
        s.member_tags = vec![
            MemberTagSettings {
                level: "gold".into(),
                tag: GOLD.into(),
            },
            MemberTagSettings {
                level: "silver".into(),
                tag: SILVER.into(),
            },
        ];
    })
    .await;
    let app = h5.app;
    let tags = FakeTags::mount(&app.fake_wechat).await;
    let db = format!("sqlite://{}?mode=rwc", app.db_path.display());
    let extra = "[[member_tags]]\nlevel = \"gold\"\ntag = \"金卡会员\"\n[[member_tags]]\nlevel = \"silver\"\ntag = \"银卡会员\"\n";
    let config = write_config(app.dir.path(), &db, &app.fake_wechat.uri(), extra);
    (app, tags, config)
}

/// `count` members M-000… of `level`, each bound to a card held by oT000… (setup, as a finished
/// binding leaves them).
async fn bound_members(app: &TestApp, from: usize, count: usize, level: &str) {
    let mut csv = String::from("member_no,phone,level\n");
    for n in from..from + count {
        csv.push_str(&format!("M-{n:03},1380000{n:04},{level}\n"));
    }
    let report = import(app, &csv).await;
    assert_eq!(report["inserted"], count, "{report}");
    for n in from..from + count {
        member::Entity::update_many()
            .col_expr(member::Column::Openid, Expr::value(format!("oT{n:03}")))
            .col_expr(member::Column::CardId, Expr::value(JUMP_CARD))
            .col_expr(member::Column::Code, Expr::value(format!("9{n:05}")))
            .filter(member::Column::MemberNo.eq(format!("M-{n:03}")))
            .exec(&app.db)
            .await
            .unwrap();
    }
}

async fn tag_run(config: &std::path::Path, dry: bool) -> Value {
    let mut args = vec!["tag", "--json"];
    if dry {
        args.push("--dry-run");
    }
    serde_json::from_str(&run_cli_ok("members", config, &args).await).unwrap()
}

#[tokio::test]
async fn members_go_under_their_levels_tag_in_batches_of_50_and_follow_their_level() {
    let (app, tags, config) = tags_app().await;
    tags.existing(7, SILVER);
    bound_members(&app, 0, 110, "gold").await;
    bound_members(&app, 110, 10, "silver").await;
    // An unbound member of a level has no OpenID to tag.
    import(&app, "member_no,phone,level\nM-UNBOUND,13900000000,gold\n").await;

    let dry = tag_run(&config, true).await;
    assert_eq!(
        dry,
        json!({"moves": 120, "tags_created": [GOLD], "tagged": 120, "untagged": 0, "calls": 0, "failed": 0, "dry_run": true})
    );
    assert_eq!(tags.tag_count(), 1, "a dry run creates nothing");

    let report = tag_run(&config, false).await;
    assert_eq!(
        (&report["tags_created"], &report["tagged"], &report["calls"]),
        (&json!([GOLD]), &json!(120), &json!(4)),
        "{report}"
    );
    assert_eq!(tags.batches(), [50, 50, 10, 10]);
    assert_eq!(tags.users(GOLD).len(), 110);
    assert_eq!(tags.users(SILVER).len(), 10);
    assert!(tags.users(GOLD).contains("oT000") && tags.users(SILVER).contains("oT119"));
    // Again: nothing to do.
    let again = tag_run(&config, false).await;
    assert_eq!((&again["moves"], &again["calls"]), (&json!(0), &json!(0)));
    assert_eq!(tags.tag_count(), 2);

    // A level changed by import moves the member (a job), a level cleared takes it out.
    let report = import(
        &app,
        "member_no,phone,level\nM-005,13800000005,silver\nM-006,13800000006,-\n",
    )
    .await;
    assert_eq!(report["tags_queued"], 2, "{report}");
    app.drain_jobs(chrono::Utc::now().timestamp()).await;
    assert!(!tags.users(GOLD).contains("oT005") && tags.users(SILVER).contains("oT005"));
    assert!(!tags.users(GOLD).contains("oT006") && !tags.users(SILVER).contains("oT006"));
    assert_eq!(tags.users(GOLD).len(), 108);

    // A member whose card is taken back leaves its tag (a job).
    let till = crate::support::fake_till::FakeTill::mount(&app.fake_wechat).await;
    till.hold("900007", JUMP_CARD, "oT007", "NORMAL");
    run_cli_ok(
        "codes",
        &config,
        &["unavailable", "--code", "900007", "--card-id", JUMP_CARD],
    )
    .await;
    app.drain_jobs(chrono::Utc::now().timestamp()).await;
    assert!(!tags.users(GOLD).contains("oT007"));
    assert_eq!(tags.users(GOLD).len(), 107);

    // A mass send to the level goes to its tag.
    crate::support::fake_messages::mount(&app.fake_wechat).await;
    run_cli_ok(
        "mass",
        &config,
        &[
            "card",
            "--card-id",
            JUMP_CARD,
            "--member-level",
            "silver",
            "--json",
        ],
    )
    .await;
    let sent = app
        .fake_wechat
        .bodies("/cgi-bin/message/mass/sendall")
        .await;
    assert_eq!(sent[0]["filter"]["tag_id"], json!(7), "{sent:?}");
    app.shutdown().await;
}

#[tokio::test]
async fn a_member_bound_later_is_tagged_by_a_job() {
    let (app, tags, _config) = tags_app().await;
    import(&app, "member_no,phone,level\nM-LATE,13800138077,gold\n").await;
    let encrypt_code = holds(&app, JUMP_CARD, "870001", "oLate").await;
    app.fake_wechat
        .jump_form_gives("TICKET-LATE", "13800138077")
        .await;
    let link = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("card_id", JUMP_CARD)
        .append_pair("encrypt_code", &encrypt_code)
        .append_pair("activate_ticket", "TICKET-LATE")
        .finish();
    let response = app
        .client
        .get(app.url(&format!("/h5/{}/activated?{link}", appid())))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let kinds: Vec<String> = app.job_rows().await.into_iter().map(|j| j.kind).collect();
    assert!(kinds.contains(&"tag_member".to_owned()), "{kinds:?}");
    app.drain_jobs(chrono::Utc::now().timestamp()).await;
    assert_eq!(tags.users(GOLD).into_iter().collect::<Vec<_>>(), ["oLate"]);
    let m = member::Entity::find_by_id((appid().to_owned(), "M-LATE".to_owned()))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.wechat_tag.as_deref(), Some(GOLD));
    app.shutdown().await;
}

#[tokio::test]
async fn an_openid_wechat_refuses_costs_only_itself() {
    let (app, tags, config) = tags_app().await;
    bound_members(&app, 0, 60, "gold").await;
    tags.refuse("oT010");
    let report = tag_run(&config, false).await;
    assert_eq!(
        (&report["tagged"], &report["failed"], &report["calls"]),
        (&json!(59), &json!(1), &json!(52)),
        "{report}"
    );
    assert_eq!(tags.users(GOLD).len(), 59);
    // The refused one is asked again next time, alone.
    let again = tag_run(&config, false).await;
    assert_eq!(
        (&again["moves"], &again["failed"], &again["calls"]),
        (&json!(1), &json!(1), &json!(1))
    );
    app.shutdown().await;
}
