//! Power loss: the real `cardhook serve` on a disk that loses everything not fsynced
//! (`support/powercut.rs`). Clients send encrypted pushes concurrently and log every `success`; at
//! random moments — every third one right after a checkpoint fsynced the database file — the power
//! is cut: serve is killed, the disk unmounted without writing anything back and mounted again.
//! serve restarts on what the disk kept, and the database must pass `PRAGMA integrity_check`, hold
//! every push acknowledged before the cut exactly once, and hold bindings, counters and jobs equal to
//! a recount from its events. Once with the database file at its path, once through a symlink to it
//! (`/var/lib/cardhook/cardhook.db` → a data volume).
//!
//! And fail-stop: when fsync fails, nothing after it is acknowledged, readiness says why, and the
//! process exits non-zero by itself.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use rand::Rng;

use crate::support::burst::{activation_fake, safe_account, worker_config, Burst, BurstSpec};
use crate::support::fixtures::get_card_xml;
use crate::support::powercut::Disk;
use crate::support::process::{sqlite_url, write_config, ServeProcess};

const CUTS: usize = 12;
const SPEC: BurstSpec = BurstSpec {
    events: 1_000_000,
    clients: 8,
    channels: 5,
    card_id: "pPOWER",
    redeliver_every: 10,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_pushes_survive_power_cuts() {
    survive_cuts(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_pushes_survive_power_cuts_through_a_symlinked_path() {
    survive_cuts(true).await;
}

/// A disk mounted in a fresh directory, and the database path on it (or a symlink to it elsewhere).
struct Layout {
    _dir: tempfile::TempDir,
    disk: Disk,
    db_path: PathBuf,
    config: PathBuf,
}

async fn layout(symlinked: bool, api_base: &str, extra: &str) -> Layout {
    let dir = tempfile::tempdir().unwrap();
    let (backing, mount) = (dir.path().join("platters"), dir.path().join("volume"));
    std::fs::create_dir(&backing).unwrap();
    std::fs::create_dir(&mount).unwrap();
    let disk = Disk::mount(&backing, &mount);
    let db_path = if symlinked {
        let lib = dir.path().join("var-lib-cardhook");
        std::fs::create_dir(&lib).unwrap();
        let link = lib.join("cardhook.db");
        std::os::unix::fs::symlink(mount.join("cardhook.db"), &link).unwrap();
        link
    } else {
        mount.join("cardhook.db")
    };
    let config = write_config(
        dir.path(),
        &sqlite_url(&db_path),
        api_base,
        &format!("{}{extra}", worker_config(SPEC)),
    );
    Layout {
        _dir: dir,
        disk,
        db_path,
        config,
    }
}

async fn survive_cuts(symlinked: bool) {
    let fake = activation_fake(Duration::from_millis(5)).await;
    let mut layout = layout(symlinked, &fake.uri(), "").await;
    let account = safe_account();
    let appid = account.appid.as_str().to_owned();
    let mut serve = ServeProcess::start(&layout.config, "warn").await;
    let burst = Burst::start(
        SPEC,
        &account,
        format!("http://{}/wechat/{appid}", serve.callback),
    );
    let mut after_checkpoint = 0;
    for cut in 0..CUTS {
        if cut % 3 == 2 {
            // Right after a checkpoint: the moment the database file itself was just fsynced. The
            // burst keeps the writer committing, and each commit nudges the checkpointer; at nice 19
            // under a loaded machine it can take a while, so the wait is long (it is a bound against
            // a hang, not a deadline the checkpointer must meet).
            let seen = layout.disk.probes.db_syncs.load(Ordering::SeqCst);
            let synced = tokio::time::timeout(Duration::from_secs(90), async {
                while layout.disk.probes.db_syncs.load(Ordering::SeqCst) == seen {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            })
            .await;
            after_checkpoint += usize::from(synced.is_ok());
        } else {
            let wait = rand::thread_rng().gen_range(100..500);
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
        serve.kill_hard().await;
        let acknowledged: Vec<String> = burst.acknowledged_codes.lock().unwrap().clone();
        layout.disk.cut();
        serve = ServeProcess::start(&layout.config, "warn").await;
        *burst.url.write().await = format!("http://{}/wechat/{appid}", serve.callback);
        let stored = check(&layout.db_path, acknowledged.clone()).await;
        println!(
            "cut {cut}: {} acknowledged, {stored} stored, all there",
            acknowledged.len()
        );
    }
    burst.stop();
    let codes = burst.acknowledged_codes.clone();
    let (acknowledged, _) = burst.finish().await;
    let codes: Vec<String> = codes.lock().unwrap().clone();
    assert_eq!(codes.len(), acknowledged);
    // Clients retry every push they took until it is acknowledged: the database holds exactly those.
    let stored = check(&layout.db_path, codes).await;
    assert_eq!(
        stored, acknowledged,
        "every acknowledged push, and nothing else"
    );
    assert!(
        after_checkpoint >= CUTS / 3 - 1,
        "only {after_checkpoint} cuts came right after a checkpoint"
    );
    serve.terminate().await;
    let (status, log) = serve.wait().await;
    assert!(status.success(), "{log}");
    println!(
        "power loss{}: {CUTS} cuts ({after_checkpoint} right after a checkpoint), {acknowledged} pushes acknowledged and kept",
        if symlinked { " through a symlink" } else { "" }
    );
}

/// Check the database on the disk as it is now; returns how many events of the burst it holds.
///
/// The checks run in Debian's `sqlite3` command, a process of its own: this process serves the
/// disk, and a thread of the server that waits on its own filesystem (an unmap writing pages back,
/// say) can hang it for good when a failed assertion ends the process.
async fn check(db_path: &Path, acknowledged: Vec<String>) -> usize {
    let card = SPEC.card_id;
    // One statement reads one snapshot while serve goes on writing.
    let sql = format!(
        ".timeout 10000\nPRAGMA integrity_check;\nSELECT \
         (SELECT json_group_array(code) FROM card_event WHERE card_id = '{card}') AS codes, \
         (SELECT count(*) FROM card_binding WHERE card_id = '{card}') AS bindings, \
         (SELECT count(*) FROM job WHERE dedup_key LIKE '%|{card}|%') AS jobs, \
         (SELECT json_group_object(outer_id, got) FROM (SELECT outer_id, sum(got) AS got FROM channel_day \
          WHERE card_id = '{card}' GROUP BY outer_id HAVING sum(got) > 0)) AS counted, \
         (SELECT json_group_object(outer_id, n) FROM (SELECT outer_id, count(*) AS n FROM card_event \
          WHERE card_id = '{card}' GROUP BY outer_id)) AS recounted, \
         (SELECT coalesce(sum(activated), 0) FROM channel_day WHERE card_id = '{card}') AS activated, \
         (SELECT count(*) FROM card_binding WHERE card_id = '{card}' AND status = 'activated') AS active, \
         (SELECT count(*) FROM job WHERE dedup_key LIKE '%|{card}|%' AND state = 'done') AS done;\n"
    );
    let mut sqlite3 = tokio::process::Command::new("sqlite3")
        .args(["-bail", "-json"])
        .arg(db_path)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect(
            "the power-loss test checks the database with Debian's sqlite3 (.ci/run installs it)",
        );
    let mut stdin = sqlite3.stdin.take().unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stdin, sql.as_bytes())
        .await
        .unwrap();
    drop(stdin);
    let output = tokio::time::timeout(Duration::from_secs(60), sqlite3.wait_with_output())
        .await
        .expect("sqlite3 answers")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "sqlite3: {}{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&stdout)
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(results[0][0]["integrity_check"], "ok", "{stdout}");
    let row = &results[1][0];
    let json = |column: &str| -> serde_json::Value {
        serde_json::from_str(row[column].as_str().unwrap()).unwrap()
    };
    let stored: Vec<String> = serde_json::from_value(json("codes")).unwrap();
    let distinct: HashSet<&String> = stored.iter().collect();
    assert_eq!(distinct.len(), stored.len(), "an event stored twice");
    let missing: Vec<&String> = acknowledged
        .iter()
        .filter(|code| !distinct.contains(code))
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged pushes lost (of {}), e.g. {:?}",
        missing.len(),
        acknowledged.len(),
        &missing[..missing.len().min(5)]
    );
    // Everything derived from the events equals a recount of them.
    let events = stored.len() as i64;
    assert_eq!(row["bindings"].as_i64(), Some(events), "bindings");
    assert_eq!(row["jobs"].as_i64(), Some(events), "activation jobs");
    assert_eq!(json("counted"), json("recounted"), "channel counters");
    let done = row["done"].as_i64();
    assert_eq!(
        (row["activated"].as_i64(), row["active"].as_i64()),
        (done, done),
        "activations"
    );
    stored.len()
}

/// Fail-stop: an fsync that fails (EIO) halts the writer. The push whose commit it was is answered
/// 503 and so is every later one, readiness says why, and the process exits non-zero within
/// seconds with one line saying so; what was acknowledged before is on the disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_fsync_stops_the_process_and_acknowledges_nothing_after_it() {
    let fake = activation_fake(Duration::from_millis(5)).await;
    let mut layout = layout(
        false,
        &fake.uri(),
        "[admin]\ntoken = \"power-admin-token-of-24-chars\"\n",
    )
    .await;
    let account = safe_account();
    let appid = account.appid.as_str().to_owned();
    let serve = ServeProcess::start(&layout.config, "warn").await;
    let http = reqwest::Client::new();
    let push = |i: usize| {
        let xml = get_card_xml(
            &format!("o{i}"),
            1_700_000_000,
            SPEC.card_id,
            &format!("{i:06}"),
            1,
            "",
        );
        let sealed = account
            .sealer()
            .seal(
                &xml,
                cardhook::wechat::Mode::Safe,
                chrono::Utc::now().timestamp(),
                "n",
                &[3; 16],
            )
            .unwrap();
        http.post(format!(
            "http://{}/wechat/{appid}?{}",
            serve.callback, sealed.query
        ))
        .body(sealed.body)
        .send()
    };
    for i in 0..5 {
        let answer = push(i).await.unwrap();
        assert_eq!(answer.text().await.unwrap(), "success");
    }
    layout.disk.probes.fail_fsync.store(true, Ordering::SeqCst);
    let failed = push(5).await.unwrap();
    assert_eq!(failed.status(), 503);
    layout.disk.probes.fail_fsync.store(false, Ordering::SeqCst);
    let ready = http
        .get(format!("http://{}/readyz", serve.admin))
        .bearer_auth("power-admin-token-of-24-chars")
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let why = ready.text().await.unwrap();
    assert!(
        why.contains("storage failed") && why.contains("restart"),
        "{why}"
    );
    // The disk works again, but nothing is acknowledged any more: the page cache is not trusted.
    if let Ok(later) = push(6).await {
        assert_eq!(later.status(), 503, "acknowledged after a failed fsync");
    }
    let exited = tokio::time::timeout(Duration::from_secs(20), serve.wait())
        .await
        .expect("the process exits by itself");
    let (status, log) = exited;
    assert!(!status.success(), "exit status {status}\n{log}");
    let halts = log
        .lines()
        .filter(|l| l.contains("storage failed: no push is acknowledged from now on"))
        .count();
    assert_eq!(halts, 1, "one clear line\n{log}");
    // Restarted (as systemd would), it serves from what is on the disk: the five acknowledged.
    layout.disk.cut();
    let acknowledged: Vec<String> = (0..5).map(|i| format!("{i:06}")).collect();
    let restarted = ServeProcess::start(&layout.config, "warn").await;
    assert_eq!(check(&layout.db_path, acknowledged).await, 5);
    restarted.terminate().await;
    let _ = restarted.wait().await;
}
