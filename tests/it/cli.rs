//! The real binary: replay against a running server, then read stats and bindings from the same file.

use std::path::PathBuf;

use tokio::process::Command;

use cardhook::store::channel_day::{self, StatsQuery};
use cardhook::wechat::Mode;

use crate::support::process::{run_cli as run, run_cli_ok as run_ok};
use crate::support::{account_for, spawn_app, TestApp, KEY_B};

/// A config file pointing at the test app's database, with its three accounts and `extra`.
fn write_config(app: &TestApp, extra: &str) -> PathBuf {
    let db = app.db_path.display();
    let mut toml =
        format!("[database]\nurl = \"sqlite://{db}?mode=rwc\"\n[log]\nlevel = \"warn\"\n");
    for mode in [Mode::Plain, Mode::Compat, Mode::Safe] {
        let (appid, token) = account_for(mode);
        let mode_name = format!("{mode:?}").to_lowercase();
        toml.push_str(&format!(
            "[[accounts]]\nappid = \"{appid}\"\ntoken = \"{token}\"\nmode = \"{mode_name}\"\n"
        ));
        if mode != Mode::Plain {
            toml.push_str(&format!("encoding_aes_key = \"{KEY_B}\"\n"));
        }
    }
    toml.push_str(extra);
    let path = app.dir.path().join("cli.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

fn fixture_path(name: &str) -> String {
    format!("{}/fixtures/push/{name}.xml", env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test]
async fn replay_then_stats_and_binding() {
    let app = spawn_app().await;
    let config = write_config(&app, "");
    let (appid, _) = account_for(Mode::Safe);
    let url = app.url("");
    let files = [
        "user_get_card",
        "user_get_card_unicode",
        "user_get_card_source_scene_no_outer_str",
        "user_consume_card",
    ]
    .map(fixture_path);
    let mut args = vec!["--url", url.as_str(), "--appid", appid];
    args.extend(files.iter().map(String::as_str));
    let stdout = run_ok("replay", &config, &args).await;
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.contains("\t200\tsuccess"))
            .count(),
        4,
        "{stdout}"
    );
    assert_eq!(app.event_count().await, 4);

    // The JSON is exactly what the shared stats query returns, in DESIGN §4's shape.
    let json = run_ok("stats", &config, &["--appid", appid, "--format", "json"]).await;
    let printed: serde_json::Value = serde_json::from_str(&json).unwrap();
    let query = StatsQuery {
        appid: Some(appid.into()),
        ..Default::default()
    };
    let expected =
        serde_json::to_value(channel_day::stats(&app.db, &query).await.unwrap()).unwrap();
    assert_eq!(printed, expected);
    assert_eq!(printed["totals"]["got"], 3);
    let rows = printed["rows"].as_array().unwrap();
    let row = rows.iter().find(|r| r["outer_str"] == "12b").unwrap();
    let fields = [
        "appid",
        "card_id",
        "outer_id",
        "outer_str",
        "got",
        "from_friend",
        "restored",
        "deleted",
        "consumed",
        "activated",
        "users",
    ];
    for field in fields {
        assert!(row.get(field).is_some(), "row lacks {field}: {row}");
    }

    let csv = run_ok("stats", &config, &["--format", "csv", "--by", "day"]).await;
    assert!(
        csv.starts_with("appid,card_id,outer_id,outer_str,day,got,"),
        "{csv}"
    );
    assert!(csv.contains(",12b,2016-08-30,1,"), "{csv}");
    let table = run_ok("stats", &config, &[]).await;
    assert!(table.contains("TOTAL") && table.contains("12b"), "{table}");

    let card = "pZI8Fjwsy5fVPRBeD78J4RmqVvBc";
    let json = run_ok(
        "binding",
        &config,
        &[
            "--card-id",
            card,
            "--code",
            "226009850808",
            "--format",
            "json",
        ],
    )
    .await;
    let bindings: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(bindings[0]["openid"], "oZI8Fj040-be6rlDohc6gkoPOQTQ");
    assert_eq!(bindings[0]["outer_str"], "12b");
    let table = run_ok(
        "binding",
        &config,
        &["--openid", "oZI8Fj0Unicode00000000000003"],
    )
    .await;
    assert!(table.contains("门店12号桌"), "{table}");
    let missing = run("binding", &config, &["--card-id", card, "--code", "0"]).await;
    assert!(!missing.status.success());
}

#[tokio::test]
async fn replay_exits_non_zero_when_a_push_is_refused() {
    let app = spawn_app().await;
    // The file's token differs from the server's (a rotated token): the push is refused with 401.
    let config = write_config(&app, "");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("safe-token", "rotated-token");
    std::fs::write(&config, text).unwrap();
    let url = app.url("");
    let file = fixture_path("user_get_card");
    let output = run(
        "replay",
        &config,
        &["--url", &url, "--appid", account_for(Mode::Safe).0, &file],
    )
    .await;
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("\t401\t"));
    assert_eq!(app.event_count().await, 0);
}

#[tokio::test]
async fn serve_refuses_a_bad_key_naming_the_account_without_echoing_it() {
    let app = spawn_app().await;
    let bad_key = "[[accounts]]\nappid = \"wxbadkey\"\ntoken = \"t\"\nencoding_aes_key = \"tooShortSecretKey\"\n";
    let output = run("serve", &write_config(&app, bad_key), &[]).await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("wxbadkey") && stderr.contains("encoding_aes_key"),
        "{stderr}"
    );
    assert!(!stderr.contains("tooShortSecretKey"), "{stderr}");

    let no_token = "[[accounts]]\nappid = \"wxnotoken\"\nmode = \"plain\"\n";
    let output = run("serve", &write_config(&app, no_token), &[]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("wxnotoken") && stderr.contains("token"),
        "{stderr}"
    );
}

#[tokio::test]
async fn help_shows_no_secret() {
    let output = Command::new(env!("CARGO_BIN_EXE_cardhook"))
        .args(["serve", "--help"])
        .output()
        .await
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("--config"));
    for secret in ["demo-token", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"] {
        assert!(!help.contains(secret));
    }
}

#[tokio::test]
async fn jobs_list_show_and_retry() {
    use cardhook::config::Activation;
    let app = crate::support::spawn_app_with(|s| {
        s.cards = vec![crate::support::member_card(
            "pC",
            Activation::OnGet,
            "{code}",
        )];
        s.worker.retry_schedule_secs = vec![];
    })
    .await;
    app.fake_wechat.token_ok("T", 7200, None).await;
    app.fake_wechat.activate_errcode(-1, 1).await;
    app.fake_wechat.activate_ok().await;
    let xml = crate::support::fixtures::get_card_xml("o1", 1_700_000_000, "pC", "42", 0, "");
    crate::support::fixtures::assert_success(app.push_xml(&xml, Mode::Safe).await).await;
    let now = chrono::Utc::now().timestamp();
    app.drain_jobs(now).await;
    let config = write_config(&app, "");

    let json = run_ok(
        "jobs",
        &config,
        &["list", "--state", "dead", "--format", "json"],
    )
    .await;
    let dead: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(dead.as_array().unwrap().len(), 1, "{json}");
    let id = dead[0]["id"].as_i64().unwrap().to_string();
    let table = run_ok("jobs", &config, &["list"]).await;
    assert!(
        table.contains("dead") && table.contains("activate|"),
        "{table}"
    );
    let shown = run_ok("jobs", &config, &["show", &id]).await;
    assert!(
        shown.contains("retries exhausted") && shown.contains("\"code\": \"42\""),
        "{shown}"
    );

    assert!(run_ok("jobs", &config, &["retry", &id])
        .await
        .contains("1 job(s) requeued"));
    assert!(
        !run("jobs", &config, &["retry", &id]).await.status.success(),
        "a pending job is not dead"
    );
    app.drain_jobs(chrono::Utc::now().timestamp()).await;
    let done = run_ok(
        "jobs",
        &config,
        &["list", "--state", "done", "--format", "json"],
    )
    .await;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&done)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(run_ok("jobs", &config, &["retry", "--dead"])
        .await
        .contains("0 job(s) requeued"));
}

#[tokio::test]
async fn bench_drives_a_server_and_checks_the_database() {
    let app = spawn_app().await;
    let config = write_config(&app, "");
    let (appid, _) = account_for(Mode::Safe);
    let url = app.url("");
    let out = run_ok(
        "bench",
        &config,
        &[
            "--url",
            &url,
            "--appid",
            appid,
            "--events",
            "300",
            "--concurrency",
            "8",
            "--channels",
            "5",
        ],
    )
    .await;
    assert!(
        out.contains("330 × 200 success, 0 non-200, 0 errors, 0 timeouts"),
        "{out}"
    );
    assert!(
        out.contains(
            "verify      OK: 300 distinct events stored once each, 5 channel counters exact"
        ),
        "{out}"
    );
    assert_eq!(app.event_count().await, 300);

    let json = run_ok(
        "bench",
        &config,
        &["--url", &url, "--appid", appid, "--events", "50", "--json"],
    )
    .await;
    let summary: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        (summary["ok"].as_u64(), summary["verified"].as_bool()),
        (Some(55), Some(true))
    );

    // The database check fails when the server did not store what it acknowledged: a server that
    // answers `success` to everything and stores nothing.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let liar = format!("http://{}/wechat/{appid}", listener.local_addr().unwrap());
    let server = actix_web::HttpServer::new(|| {
        actix_web::App::new().default_service(actix_web::web::to(
            |_: actix_web::web::Bytes| async { "success" },
        ))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    let faked = run(
        "bench",
        &config,
        &["--url", &liar, "--appid", appid, "--events", "20"],
    )
    .await;
    handle.stop(false).await;
    assert!(!faked.status.success());
    assert!(String::from_utf8_lossy(&faked.stdout)
        .contains("verify      FAILED: 0 events stored, 20 acknowledged"));
}

#[tokio::test]
async fn log_format_json_prints_json_lines() {
    let app = spawn_app().await;
    let config = write_config(&app, "");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "[log]\nlevel = \"warn\"",
        "[log]\nlevel = \"info\"\nformat = \"json\"",
    );
    std::fs::write(&config, text).unwrap();
    let output = run("migrate", &config, &[]).await;
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "migrate logged nothing at info");
    for line in lines {
        let record: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            record.get("level").is_some() && record.get("fields").is_some(),
            "{line}"
        );
    }
}

/// First contact: a reading command on a database that is missing, or was never migrated, says so
/// in one line and names the command that fixes it — no stack trace, and nothing created.
#[tokio::test]
async fn reading_commands_on_a_missing_or_unmigrated_database_name_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("never.db");
    let config = dir.path().join("cardhook.toml");
    std::fs::write(
        &config,
        format!("[database]\nurl = \"sqlite://{}?mode=rwc\"\n", db.display()),
    )
    .unwrap();
    let commands: [&[&str]; 4] = [
        &["stats"],
        &["binding", "--openid", "o1"],
        &["jobs", "list"],
        &["binding", "--card-id", "c", "--code", "1"],
    ];
    for args in commands {
        let output = Command::new(env!("CARGO_BIN_EXE_cardhook"))
            .args(&args[..1])
            .arg("--config")
            .arg(&config)
            .args(&args[1..])
            .env("RUST_BACKTRACE", "1")
            .output()
            .await
            .unwrap();
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.contains("does not exist") && stderr.contains("cardhook migrate"),
            "{args:?}: {stderr}"
        );
        assert!(!db.exists(), "{args:?} created the database");
    }
    // A file that is there but was never migrated.
    std::fs::write(&db, b"").unwrap();
    let output = run("stats", &config, &[]).await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("not migrated") && stderr.contains("run `cardhook migrate`"),
        "{stderr}"
    );
    // The fix works.
    assert!(run("migrate", &config, &[]).await.status.success());
    assert!(run("stats", &config, &[]).await.status.success());
}

/// `members import` prints what happened to every line and exits non-zero when one was refused;
/// `members show` prints a member as DESIGN §4's JSON.
#[tokio::test]
async fn members_import_and_show_from_the_command_line() {
    let app = spawn_app().await;
    let config = write_config(&app, "");
    let (appid, _) = account_for(Mode::Safe);
    let csv = app.dir.path().join("members.csv");
    std::fs::write(
        &csv,
        "member_no,phone,name,bonus,balance\nM1,13800000001,甲,10,100\nM2,not-a-phone,乙,0,0\nM3,+86 13800000003,丙,30,300\n",
    )
    .unwrap();
    let file = csv.to_str().unwrap();
    let imported = run("members", &config, &["import", file, "--appid", appid]).await;
    assert!(
        !imported.status.success(),
        "a rejected line makes the exit non-zero"
    );
    let out = String::from_utf8_lossy(&imported.stdout);
    assert!(
        out.contains("inserted 2 / updated 0 / unchanged 0 / rejected 1"),
        "{out}"
    );
    assert!(out.contains("line 3: bad phone"), "{out}");
    // Again, as JSON: nothing changed, the bad line still refused (still a non-zero exit).
    let again = run(
        "members",
        &config,
        &["import", file, "--appid", appid, "--format", "json"],
    )
    .await;
    assert!(!again.status.success());
    let report: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(
        (
            &report["inserted"],
            &report["unchanged"],
            &report["rejected"]
        ),
        (&0.into(), &2.into(), &1.into())
    );
    assert_eq!(report["rejected_lines"][0]["line"], 3);
    let shown = run_ok(
        "members",
        &config,
        &[
            "show",
            "--phone",
            "138 0000 0003",
            "--appid",
            appid,
            "--format",
            "json",
        ],
    )
    .await;
    let member: serde_json::Value = serde_json::from_str(&shown).unwrap();
    let keys: Vec<&str> = member
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for key in [
        "appid",
        "member_no",
        "phone",
        "name",
        "bonus",
        "balance",
        "openid",
        "card_id",
        "code",
        "bound_at",
        "activated",
    ] {
        assert!(keys.contains(&key), "{key}: {member}");
    }
    assert_eq!(
        (member["member_no"].as_str(), member["balance"].as_i64()),
        (Some("M3"), Some(300))
    );
    let missing = run(
        "members",
        &config,
        &["show", "--member-no", "NOPE", "--appid", appid],
    )
    .await;
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no such member"));
}
