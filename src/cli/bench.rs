//! `cardhook bench`: how much can this deployment take? Sealed `user_get_card` pushes with
//! redeliveries, driven at a fixed concurrency; throughput, latency, and (given `--config`) a check
//! that the database holds exactly what was acknowledged.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

use crate::accounts::Accounts;
use crate::config::Settings;
use crate::loadgen;
use crate::machine_cpu::{CpuSample, MachineCpu};
use crate::store;
use crate::wechat::Mode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The callback URL, e.g. http://127.0.0.1:8080/wechat/wx… (a bare host gets /wechat/{appid}).
    #[arg(long)]
    pub url: String,
    /// The account to seal as (from the configuration).
    #[arg(long)]
    pub appid: String,
    /// Distinct `user_get_card` events.
    #[arg(long, default_value_t = 10_000)]
    pub events: usize,
    /// Share of exact redeliveries added on top (0.1 = 10%).
    #[arg(long, default_value_t = 0.1)]
    pub duplicates: f64,
    /// OuterId channels the events are spread over.
    #[arg(long, default_value_t = 20)]
    pub channels: usize,
    /// Connections sending at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Seal as (default: the account's mode).
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,
    /// Stop sending after this many seconds.
    #[arg(long)]
    pub duration: Option<u64>,
    /// A request not answered within this many milliseconds counts as a timeout.
    #[arg(long, default_value_t = 5_000)]
    pub timeout_ms: u64,
    /// Report the peak resident memory of this process (the server) after the run.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Skip the database check even with --config (e.g. against the hello-world baseline).
    #[arg(long)]
    pub no_verify: bool,
    /// No HTTP: store the same pushes straight through the group-commit code, `--batch` per
    /// transaction, into the configured database (the leanest durable write, DESIGN §6).
    #[arg(long)]
    pub store_only: bool,
    /// The card the pushes are for (default: a new random one, so runs never collide). Use a card
    /// configured under [[cards]] to load the activation worker too.
    #[arg(long)]
    pub card_id: Option<String>,
    /// Pushes per transaction with --store-only.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Write the sealed requests (each as its byte length on a line, then the raw HTTP/1.1 request)
    /// to this file for another load generator (tools/wrk-pushes.lua), instead of sending them.
    #[arg(long, conflicts_with = "store_only")]
    pub save: Option<std::path::PathBuf>,
}

pub async fn run(args: Args, settings: &Settings, verify: bool) -> anyhow::Result<()> {
    if args.store_only {
        return store_only(&args, settings).await;
    }
    let accounts = Accounts::from_settings(&settings.accounts)?;
    let account = accounts
        .get(&args.appid)
        .with_context(|| format!("account {} is not in the configuration", args.appid))?;
    let mode = args.mode.unwrap_or(account.mode);
    let url = url::Url::parse(&args.url).with_context(|| format!("--url {}", args.url))?;
    let host = format!(
        "{}:{}",
        url.host_str().unwrap_or("127.0.0.1"),
        url.port_or_known_default().unwrap_or(80)
    );
    let path = match url.path() {
        "" | "/" => format!("/wechat/{}", args.appid),
        p => p.to_owned(),
    };

    // Everything is sealed before the clock starts.
    let run_id = format!("{:x}", rand::thread_rng().gen::<u32>());
    let card_id = args
        .card_id
        .clone()
        .unwrap_or_else(|| format!("pBENCH{run_id}"));
    let now = chrono::Utc::now().timestamp();
    let channels = args.channels.max(1);
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let mut expected_per_channel: BTreeMap<i64, usize> = BTreeMap::new();
    let mut requests = Vec::with_capacity(args.events);
    for (i, xml) in run_events(&args, &run_id, &card_id, now) {
        let random: [u8; 16] = rng.gen();
        let nonce = rng.gen_range(100_000_000u32..999_999_999).to_string();
        let sealed = account.sealer().seal(&xml, mode, now, &nonce, &random)?;
        requests.push(loadgen::post(
            &host,
            &format!("{path}?{}", sealed.query),
            &sealed.body,
            i,
        ));
    }
    let (requests, redeliveries) = with_redeliveries(requests, &args, &mut rng);
    let total = requests.len();
    if let Some(file) = &args.save {
        return save_requests(file, &requests, &card_id);
    }

    let cpu_before = CpuSample::now();
    let report = loadgen::run(
        &host,
        Arc::new(requests),
        args.events,
        args.concurrency,
        Duration::from_millis(args.timeout_ms),
        args.duration.map(Duration::from_secs),
    )
    .await;
    let machine = machine_cpu_since(cpu_before);
    let acknowledged: Vec<usize> = (0..args.events)
        .filter(|&i| report.acknowledged[i])
        .collect();
    for &i in &acknowledged {
        *expected_per_channel
            .entry((i % channels) as i64 + 1)
            .or_default() += 1;
    }
    let memory = args.server_pid.and_then(loadgen::peak_rss_kib);
    let verified = if verify && !args.no_verify {
        Some(
            check_database(
                settings,
                &args.appid,
                &card_id,
                &acknowledged,
                &expected_per_channel,
            )
            .await,
        )
    } else {
        None
    };

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "requests": total, "events": args.events, "redeliveries": redeliveries, "sent": report.sent,
                "concurrency": args.concurrency, "mode": format!("{mode:?}").to_lowercase(),
                "seconds": report.elapsed.as_secs_f64(), "requests_per_sec": report.throughput(),
                "p50_ms": ms(report.percentile(50.0)), "p90_ms": ms(report.percentile(90.0)),
                "p99_ms": ms(report.percentile(99.0)), "p999_ms": ms(report.percentile(99.9)),
                "max_ms": ms(report.percentile(100.0)),
                "ok": report.ok, "non_200": report.non_200, "errors": report.errors, "timeouts": report.timeouts,
                "server_peak_rss_kib": memory,
                "machine_cpu": machine_json(machine, report.elapsed.as_secs_f64(), report.sent),
                "verified": verified.as_ref().map(|v| v.is_ok()),
            })
        );
    } else {
        println!(
            "cardhook bench: {total} requests ({} distinct events, {redeliveries} redeliveries), {channels} channels, concurrency {}, {mode:?} mode",
            args.events, args.concurrency
        );
        println!(
            "throughput  {:.0} requests/s over {:.2} s ({} sent)",
            report.throughput(),
            report.elapsed.as_secs_f64(),
            report.sent
        );
        println!(
            "latency     p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  p99.9 {:.2} ms  max {:.2} ms",
            ms(report.percentile(50.0)),
            ms(report.percentile(90.0)),
            ms(report.percentile(99.0)),
            ms(report.percentile(99.9)),
            ms(report.percentile(100.0))
        );
        println!(
            "answers     {} × 200 success, {} non-200, {} errors, {} timeouts",
            report.ok, report.non_200, report.errors, report.timeouts
        );
        if let Some(kib) = memory {
            println!("server      peak RSS {:.1} MiB", kib as f64 / 1024.0);
        }
        print_machine(machine, report.elapsed.as_secs_f64(), report.sent);
        match &verified {
            Some(Ok(summary)) => println!("verify      OK: {summary}"),
            Some(Err(problem)) => println!("verify      FAILED: {problem}"),
            None => println!("verify      skipped (pass --config to check the database)"),
        }
    }
    if let Some(Err(problem)) = verified {
        bail!("database check failed: {problem}");
    }
    Ok(())
}

/// The same `user_get_card` rows (with the same share of redeliveries), opened and parsed up front,
/// then stored `--batch` per transaction the way the ingest writer stores them (`WriterDb::store`,
/// on the writer's own SQLite connection unless `database.sqlite_writer = "pool"`): no HTTP, no
/// crypto.
async fn store_only(args: &Args, settings: &Settings) -> anyhow::Result<()> {
    use crate::store::events::{Incoming, RecordRules};
    use crate::store::sqlite_file::SqliteFile;
    use crate::store::writer_db::WriterDb;
    let db = store::connect(&settings.database).await?;
    store::migrate(&db).await?;
    let file = SqliteFile::of_database(&settings.database);
    let writer = WriterDb::for_settings(db, &settings.database, file.as_ref())?;
    let run_id = format!("{:x}", rand::thread_rng().gen::<u32>());
    let card_id = format!("pBENCH{run_id}");
    let now = chrono::Utc::now().timestamp();
    let mut pushes = Vec::with_capacity(args.events);
    for (_, xml) in run_events(args, &run_id, &card_id, now) {
        pushes.push(Incoming {
            appid: crate::wechat::ids::AppId(args.appid.clone()),
            message: crate::wechat::events::parse(&xml)?,
            raw_xml: xml,
            received_at: now,
        });
    }
    let (pushes, redeliveries) =
        with_redeliveries(pushes, args, &mut rand::rngs::StdRng::seed_from_u64(42));
    let rules = RecordRules {
        offset: settings.stats_offset()?,
        cards: crate::activation::CardRules::from_settings(&settings.cards),
    };
    let cpu_before = CpuSample::now();
    let started = std::time::Instant::now();
    // Like the ingest writer, the next batch is stored while the last one is being made durable.
    let (durable, mut made_durable) = tokio::sync::mpsc::unbounded_channel();
    let mut batches = 0;
    for chunk in pushes.chunks(args.batch.max(1)) {
        let refs: Vec<&Incoming> = chunk.iter().collect();
        writer.store(&refs, &rules).await?;
        let durable = durable.clone();
        writer.after_durable(Box::new(move |synced| {
            let _ = durable.send(synced);
        }));
        writer.restart_wal_if_due().await;
        batches += 1;
    }
    for _ in 0..batches {
        made_durable
            .recv()
            .await
            .ok_or_else(|| anyhow::anyhow!("the WAL sync thread stopped"))?
            .map_err(anyhow::Error::msg)?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let machine = machine_cpu_since(cpu_before);
    let per_sec = pushes.len() as f64 / elapsed;
    if args.json {
        println!(
            "{}",
            serde_json::json!({"store_only": true, "requests": pushes.len(), "batch": args.batch, "seconds": elapsed, "requests_per_sec": per_sec,
                "machine_cpu": machine_json(machine, elapsed, pushes.len())})
        );
    } else {
        println!("store only: {} pushes ({redeliveries} redeliveries), {} per transaction: {per_sec:.0} pushes/s over {elapsed:.2} s", pushes.len(), args.batch);
        print_machine(machine, elapsed, pushes.len());
    }
    Ok(())
}

/// What the whole machine spent while the run was timed (`None` without `/proc/stat`).
fn machine_cpu_since(before: Option<CpuSample>) -> Option<MachineCpu> {
    CpuSample::now()?.since(&before?)
}

fn machine_json(machine: Option<MachineCpu>, seconds: f64, requests: usize) -> serde_json::Value {
    machine.map_or(serde_json::Value::Null, |m| {
        serde_json::json!({
            "cpus": m.cpus, "busy_cores": m.busy_cores, "iowait_cores": m.iowait_cores,
            "steal_cores": m.steal_cores, "cpu_us_per_request": m.micros_per_request(seconds, requests),
        })
    })
}

fn print_machine(machine: Option<MachineCpu>, seconds: f64, requests: usize) {
    if let Some(m) = machine {
        println!(
            "machine     {:.2} of {} cores busy (iowait {:.2}, steal {:.2}): {:.1} µs of CPU a request, everything on the machine together",
            m.busy_cores,
            m.cpus,
            m.iowait_cores,
            m.steal_cores,
            m.micros_per_request(seconds, requests)
        );
    }
}

/// The format tools/wrk-pushes.lua reads: each request's byte length on a line, then its bytes.
fn save_requests(
    file: &std::path::Path,
    requests: &[loadgen::Prepared],
    card_id: &str,
) -> anyhow::Result<()> {
    use std::io::Write;
    let write = || -> std::io::Result<()> {
        let mut out = std::io::BufWriter::new(std::fs::File::create(file)?);
        for request in requests {
            writeln!(out, "{}", request.bytes.len())?;
            out.write_all(&request.bytes)?;
        }
        out.flush()
    };
    write().with_context(|| format!("--save {}", file.display()))?;
    println!("saved {} requests for card {card_id}", requests.len());
    Ok(())
}

/// The distinct events of a run, numbered, spread over `--channels` OuterIds.
fn run_events<'a>(
    args: &'a Args,
    run_id: &'a str,
    card_id: &'a str,
    now: i64,
) -> impl Iterator<Item = (usize, String)> + 'a {
    (0..args.events).map(move |i| {
        let outer_id = (i % args.channels.max(1)) as i64 + 1;
        let xml = bench_event(
            &format!("oB{run_id}_{i}"),
            now,
            card_id,
            &format!("{run_id}{i:09}"),
            outer_id,
        );
        (i, xml)
    })
}

/// Add `--duplicates` exact redeliveries of the first items, then shuffle; returns how many were added.
fn with_redeliveries<T: Clone>(
    mut items: Vec<T>,
    args: &Args,
    rng: &mut impl Rng,
) -> (Vec<T>, usize) {
    let distinct = items.len();
    let redeliveries = ((distinct as f64 * args.duplicates).round() as usize).min(distinct * 10);
    for d in 0..redeliveries {
        items.push(items[d % distinct].clone());
    }
    items.shuffle(rng);
    (items, redeliveries)
}

fn bench_event(openid: &str, create_time: i64, card_id: &str, code: &str, outer_id: i64) -> String {
    format!(
        "<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>\
         <CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[user_get_card]]></Event>\
         <CardId><![CDATA[{card_id}]]></CardId><IsGiveByFriend>0</IsGiveByFriend><UserCardCode><![CDATA[{code}]]></UserCardCode>\
         <FriendUserName><![CDATA[]]></FriendUserName><OuterId>{outer_id}</OuterId><OldUserCardCode><![CDATA[]]></OldUserCardCode>\
         <IsRestoreMemberCard>0</IsRestoreMemberCard><IsRecommendByFriend>0</IsRecommendByFriend>\
         <SourceScene><![CDATA[SOURCE_SCENE_QRCODE]]></SourceScene></xml>"
    )
}

/// Every acknowledged event stored exactly once, nothing else of this run, counters per channel exact.
async fn check_database(
    settings: &Settings,
    appid: &str,
    card_id: &str,
    acknowledged: &[usize],
    expected_per_channel: &BTreeMap<i64, usize>,
) -> Result<String, String> {
    use entity::{card_event, channel_day};
    let db = store::connect(&settings.database)
        .await
        .map_err(|e| e.to_string())?;
    let stored = card_event::Entity::find()
        .filter(card_event::Column::Appid.eq(appid))
        .filter(card_event::Column::CardId.eq(card_id))
        .count(&db)
        .await
        .map_err(|e| e.to_string())? as usize;
    if stored != acknowledged.len() {
        return Err(format!(
            "{stored} events stored, {} acknowledged",
            acknowledged.len()
        ));
    }
    let rows = channel_day::Entity::find()
        .filter(channel_day::Column::Appid.eq(appid))
        .filter(channel_day::Column::CardId.eq(card_id))
        .all(&db)
        .await
        .map_err(|e| e.to_string())?;
    let mut got: BTreeMap<i64, usize> = BTreeMap::new();
    for row in rows {
        *got.entry(row.outer_id).or_default() += row.got as usize;
    }
    let expected: BTreeMap<i64, usize> = expected_per_channel
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, v)| (*k, *v))
        .collect();
    if got != expected {
        return Err(format!("channel counters {got:?}, expected {expected:?}"));
    }
    Ok(format!(
        "{stored} distinct events stored once each, {} channel counters exact",
        expected.len()
    ))
}
