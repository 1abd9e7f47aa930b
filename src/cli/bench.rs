//! `cardhook bench`: how much can this deployment take? Sealed `user_get_card` pushes with
//! redeliveries, driven at a fixed concurrency; throughput, latency, and (given `--config`) a check
//! that the database holds exactly what was acknowledged.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use rand::Rng;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

use crate::accounts::Accounts;
use crate::config::Settings;
use crate::loadgen::{self, sealed_requests, PlanArgs, Target};
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
    #[command(flatten)]
    pub plan: PlanArgs,
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
    /// The card the pushes are for (default: a new random one, so runs never collide). Use a card
    /// configured under [[cards]] to load the activation worker too.
    #[arg(long)]
    pub card_id: Option<String>,
}

pub async fn run(args: Args, settings: &Settings, verify: bool) -> anyhow::Result<()> {
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
    let plan = args.plan.plan();
    let channels = plan.channels;
    let mut expected_per_channel: BTreeMap<i64, usize> = BTreeMap::new();
    let target = Target {
        host: &host,
        path: &path,
        mode,
    };
    let (requests, redeliveries) = sealed_requests(account, &target, plan, &run_id, &card_id, now)?;
    let total = requests.len();

    let report = loadgen::run(
        &host,
        Arc::new(requests),
        args.plan.events,
        args.concurrency,
        Duration::from_millis(args.timeout_ms),
        args.duration.map(Duration::from_secs),
    )
    .await;
    let acknowledged: Vec<usize> = (0..args.plan.events)
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
                "requests": total, "events": args.plan.events, "redeliveries": redeliveries, "sent": report.sent,
                "concurrency": args.concurrency, "mode": format!("{mode:?}").to_lowercase(),
                "seconds": report.elapsed.as_secs_f64(), "requests_per_sec": report.throughput(),
                "p50_ms": ms(report.percentile(50.0)), "p90_ms": ms(report.percentile(90.0)),
                "p99_ms": ms(report.percentile(99.0)), "p999_ms": ms(report.percentile(99.9)),
                "max_ms": ms(report.percentile(100.0)),
                "ok": report.ok, "non_200": report.non_200, "errors": report.errors, "timeouts": report.timeouts,
                "server_peak_rss_kib": memory,
                "verified": verified.as_ref().map(|v| v.is_ok()),
            })
        );
    } else {
        println!(
            "cardhook bench: {total} requests ({} distinct events, {redeliveries} redeliveries), {channels} channels, concurrency {}, {mode:?} mode",
            args.plan.events, args.concurrency
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
        // The generator's channels are small numbers; any other reads as a mismatch.
        let outer_id = row.outer_id.parse::<i64>().unwrap_or(i64::MIN);
        *got.entry(outer_id).or_default() += row.got as usize;
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
