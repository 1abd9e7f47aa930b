//! The lab's commands, run as the scripts run them: `save` writes requests the real server accepts
//! as they are, `store-only` stores what it says it stored.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use cardhook::app::App;
use cardhook::clock::Clock;
use cardhook::config::Settings;
use cardhook::store;
use entity::card_event;
use sea_orm::{EntityTrait, PaginatorTrait};

const APPID: &str = "wxlab00000000001";

fn write_config(dir: &Path) -> std::path::PathBuf {
    let config = dir.join("lab.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"sqlite://{}/lab.db?mode=rwc\"\n[log]\nlevel = \"warn\"\n\
             [[accounts]]\nappid = \"{APPID}\"\ntoken = \"lab-token\"\n\
             encoding_aes_key = \"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG\"\nmode = \"safe\"\n",
            dir.display()
        ),
    )
    .unwrap();
    config
}

fn lab(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_cardhook-lab"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "cardhook-lab {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

async fn stored_events(config: &Path) -> u64 {
    let settings = Settings::load(Some(config)).unwrap();
    let db = store::connect(&settings.database).await.unwrap();
    card_event::Entity::find().count(&db).await.unwrap()
}

#[tokio::test]
async fn saved_requests_are_pushes_the_server_accepts_as_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let settings = Settings::load(Some(&config)).unwrap();
    let db = store::connect(&settings.database).await.unwrap();
    store::migrate(&db).await.unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let admin = TcpListener::bind("127.0.0.1:0").unwrap();
    let app = App::build(&settings, listener, admin, db, Clock::system()).unwrap();
    let addr = app.callback_addr();
    let stop = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(app.run(stop.clone()));

    let file = dir.path().join("pushes");
    let url = format!("http://{addr}/wechat/{APPID}");
    let config_arg = config.to_str().unwrap();
    let out = lab(&[
        "save",
        file.to_str().unwrap(),
        "--config",
        config_arg,
        "--url",
        &url,
        "--appid",
        APPID,
        "--events",
        "40",
    ]);
    assert!(
        out.starts_with("saved 44 requests for card pBENCH"),
        "{out}"
    );
    assert_eq!(stored_events(&config).await, 0, "save sends nothing");

    // The format wrk's script reads: the byte length on a line, then that many bytes.
    let saved = std::fs::read(&file).unwrap();
    let mut requests = Vec::new();
    let mut rest = &saved[..];
    while !rest.is_empty() {
        let newline = rest.iter().position(|&b| b == b'\n').unwrap();
        let length: usize = std::str::from_utf8(&rest[..newline])
            .unwrap()
            .parse()
            .unwrap();
        let raw = &rest[newline + 1..newline + 1 + length];
        assert!(raw.starts_with(b"POST /wechat/"), "{raw:?}");
        requests.push(cardhook::loadgen::Prepared {
            bytes: raw.to_vec(),
            event: requests.len(),
        });
        rest = &rest[newline + 1 + length..];
    }
    assert_eq!(requests.len(), 44);
    let report = cardhook::loadgen::run(
        &addr.to_string(),
        std::sync::Arc::new(requests),
        44,
        4,
        std::time::Duration::from_secs(5),
        None,
    )
    .await;
    assert_eq!((report.ok, report.sent), (44, 44), "{report:?}");
    assert_eq!(
        stored_events(&config).await,
        40,
        "4 of the 44 are redeliveries"
    );
    stop.cancel();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn store_only_stores_each_distinct_push_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let out = lab(&[
        "store-only",
        "--config",
        config.to_str().unwrap(),
        "--appid",
        APPID,
        "--events",
        "100",
    ]);
    assert!(out.contains("store only: 110 pushes"), "{out}");
    assert_eq!(stored_events(&config).await, 100);
}

#[test]
fn cpu_adds_the_machines_cpu_to_a_json_line() {
    // Long enough for the kernel's tick counters to move.
    let out = lab(&["cpu", "--", "sh", "-c", r#"sleep 0.3; echo '{"sent": 10}'"#]);
    let line: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(line["sent"], 10);
    assert!(
        line["machine_cpu"]["busy_cores"].as_f64().is_some(),
        "{line}"
    );
}
