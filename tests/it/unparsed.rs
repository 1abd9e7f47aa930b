//! A push whose signature (and msg_signature, AppID) verified is WeChat's word (issue 31): it is
//! stored and answered `success` whatever its fields hold. A field that does not read is named
//! (`card_event.unparsed`, `cardhook_pushes_unparsed_total`, `cardhook events unparsed`) and the
//! binding and counters are written from what did read. A 25-digit OuterId is a channel like any
//! other. Through the real server, sealed in safe mode as WeChat sends them.

use cardhook::wechat::Mode;
use serde_json::Value;

use crate::support::fixtures::{assert_success, get_card_xml};
use crate::support::process::{run_cli_ok, sqlite_url, write_config};
use crate::support::{account_for, spawn_app, TestApp};

const CARD: &str = "pTRUST";

fn appid() -> &'static str {
    account_for(Mode::Safe).0
}

async fn events_unparsed(app: &TestApp) -> Value {
    let config = write_config(
        app.dir.path(),
        &sqlite_url(&app.db_path),
        &app.fake_wechat.uri(),
        "",
    );
    let out = run_cli_ok("events", &config, &["unparsed", "--format", "json"]).await;
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[tokio::test]
async fn a_twenty_five_digit_outer_id_is_stored_counted_and_shown_with_its_digits() {
    let app = spawn_app().await;
    let big = "1234567890123456789012345";
    let xml = get_card_xml("oBig", 1_700_000_000, CARD, "7001", 0, "")
        .replace("<OuterId>0</OuterId>", &format!("<OuterId>{big}</OuterId>"));
    assert!(xml.contains(big));
    assert_success(app.push_xml(&xml, Mode::Safe).await).await;
    // A redelivery is the same event, counted once.
    assert_success(app.push_xml(&xml, Mode::Safe).await).await;
    assert_eq!(app.event_count().await, 1);
    let binding = app.binding(appid(), CARD, "7001").await.unwrap();
    assert_eq!(binding.outer_id, big);

    // In the stats JSON it is still a number, its digits exactly as they came.
    let response = app
        .admin_get(&format!("/api/v1/stats/channels?appid={}", appid()))
        .await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(text.contains(&format!("\"outer_id\":{big}")), "{text}");
    let stats: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(stats["rows"].as_array().unwrap().len(), 1, "{stats}");
    assert_eq!(stats["rows"][0]["got"], 1);
    // And in the binding JSON.
    let text = app
        .admin_get(&format!("/api/v1/cards/{CARD}/codes/7001"))
        .await
        .text()
        .await
        .unwrap();
    assert!(text.contains(&format!("\"outer_id\":{big}")), "{text}");
    assert_eq!(app.metrics.unparsed("user_get_card", "OuterId"), 0);
}

#[tokio::test]
async fn a_push_with_fields_that_do_not_read_is_stored_listed_and_still_binds() {
    let app = spawn_app().await;
    // A flag that is not 0/1, and an OuterId that is no number: WeChat's push all the same.
    let xml = get_card_xml("oOdd", 1_700_000_100, CARD, "7002", 0, "poster")
        .replace("<IsGiveByFriend>0", "<IsGiveByFriend>maybe")
        .replace("<OuterId>0", "<OuterId>12ab");
    assert_success(app.push_xml(&xml, Mode::Safe).await).await;

    // The binding and the counters are written from what did read: card, code, openid, outer_str.
    let binding = app.binding(appid(), CARD, "7002").await.unwrap();
    assert_eq!(
        (
            binding.openid.as_str(),
            binding.outer_str.as_str(),
            binding.outer_id.as_str()
        ),
        ("oOdd", "poster", "0")
    );
    assert_eq!(app.channel(appid(), 0, "poster").await.got, 1);
    // The raw XML is kept whole, the fields named.
    let rows = app.event_rows().await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].raw_xml, xml);
    assert_eq!(app.metrics.unparsed("user_get_card", "IsGiveByFriend"), 1);
    assert_eq!(app.metrics.unparsed("user_get_card", "OuterId"), 1);

    let listed = events_unparsed(&app).await;
    let pushes = listed["pushes"].as_array().unwrap();
    let fields: Vec<(&str, &str)> = pushes
        .iter()
        .map(|p| (p["field"].as_str().unwrap(), p["event"].as_str().unwrap()))
        .collect();
    assert_eq!(
        fields,
        [
            ("IsGiveByFriend", "user_get_card"),
            ("OuterId", "user_get_card")
        ]
    );
    for push in pushes {
        assert_eq!(push["id"], rows[0].id);
        assert_eq!(push["appid"], appid());
        assert!(push["reason"].as_str().unwrap().contains("not an integer"));
        assert!(push["received_at"].as_i64().unwrap() > 0);
    }
}

#[tokio::test]
async fn a_push_without_its_time_sender_or_card_is_kept_and_a_redelivery_is_still_a_duplicate() {
    let app = spawn_app().await;
    let timeless = "<xml><ToUserName>gh</ToUserName><FromUserName>oT</FromUserName><CreateTime>soon</CreateTime>\
                    <MsgType>event</MsgType><Event>user_get_card</Event><CardId>pT</CardId><UserCardCode>1</UserCardCode></xml>";
    let senderless = "<xml><ToUserName>gh</ToUserName><CreateTime>1700000000</CreateTime><MsgType>event</MsgType>\
                      <Event>user_del_card</Event><CardId>pT</CardId><UserCardCode>1</UserCardCode></xml>";
    let no_card = "<xml><ToUserName>gh</ToUserName><FromUserName>oT</FromUserName><CreateTime>1700000001</CreateTime>\
                   <MsgType>event</MsgType><Event>user_consume_card</Event><UserCardCode>1</UserCardCode></xml>";
    let nested = format!(
        "<xml><ToUserName>gh</ToUserName><FromUserName>oT</FromUserName><CreateTime>1700000002</CreateTime>\
         <MsgType>event</MsgType><Event>user_view_card</Event><CardId>{}x{}</CardId></xml>",
        "<a>".repeat(2000),
        "</a>".repeat(2000)
    );
    for xml in [timeless, senderless, no_card, nested.as_str()] {
        assert_success(app.push_xml(xml, Mode::Safe).await).await;
        assert_success(app.push_xml(xml, Mode::Safe).await).await;
    }
    let rows = app.event_rows().await;
    assert_eq!(rows.len(), 4, "each stored once");
    // The got card binds from what did read (card, code, sender), dated by its arrival.
    let binding = app.binding(appid(), "pT", "1").await.unwrap();
    assert_eq!(binding.openid, "oT");
    assert!(binding.got_at > 1_700_000_000, "{}", binding.got_at);
    assert_eq!(app.binding_count().await, 1);
    let listed = events_unparsed(&app).await;
    let fields: Vec<&str> = listed["pushes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["CreateTime", "FromUserName", "CardId", "CardId"]);
    assert_eq!(app.metrics.unparsed("user_consume_card", "CardId"), 1);
}
