//! `cardhook-lab store-only`: the leanest durable write. The pushes `cardhook bench` would send,
//! parsed up front, stored through the SQLite writer's own statements (`store::sqlite_batch`) on a
//! connection opened as the writer opens its own (`ingest::sqlite::open`: WAL, `synchronous = FULL`),
//! `--batch` per committed transaction. No HTTP, no crypto, no queue.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use cardhook::config::Settings;
use cardhook::ingest::sqlite;
use cardhook::jobs::CardRules;
use cardhook::loadgen::PlanArgs;
use cardhook::store::push::Incoming;
use cardhook::store::{self, sqlite_batch, DatabaseFile};
use cardhook::wechat::events;
use cardhook::wechat::ids::AppId;
use rand::{Rng, SeedableRng};
use secrecy::ExposeSecret;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The configuration whose SQLite database is written (migrated first).
    #[arg(long)]
    pub config: PathBuf,
    #[arg(long)]
    pub appid: String,
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Pushes per transaction.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let settings = Settings::load(Some(&args.config))?;
    let db = store::connect(&settings.database).await?;
    store::migrate(&db).await?;
    db.close().await?;
    let url = settings.database.url.expose_secret();
    let path = DatabaseFile::path_in_url(url).context("store-only needs a SQLite database")?;
    let mut conn = sqlite::open(path, std::time::Duration::from_secs(5))?;
    let run_id = format!("{:x}", rand::thread_rng().gen::<u32>());
    let card_id = format!("pBENCH{run_id}");
    let now = chrono::Utc::now().timestamp();
    let plan = args.plan.plan();
    let mut pushes = Vec::with_capacity(plan.events);
    for (_, xml) in plan.events(&run_id, &card_id, now) {
        pushes.push(Incoming::new(
            AppId(args.appid.clone()),
            events::parse(&xml)?,
            xml,
            now,
        ));
    }
    let (pushes, redeliveries) =
        plan.with_redeliveries(pushes, &mut rand::rngs::StdRng::seed_from_u64(42));
    let rules = CardRules::from_settings(&settings.cards);
    let offset = settings.stats_offset()?;
    let started = Instant::now();
    for chunk in pushes.chunks(args.batch.max(1)) {
        let refs: Vec<&Incoming> = chunk.iter().collect();
        let txn = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        sqlite_batch::record_batch(&txn, &refs, offset, &rules)?;
        txn.commit()?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let per_sec = pushes.len() as f64 / elapsed;
    if args.json {
        println!(
            "{}",
            serde_json::json!({"store_only": true, "requests": pushes.len(), "batch": args.batch,
                "seconds": elapsed, "requests_per_sec": per_sec})
        );
    } else {
        println!(
            "store only: {} pushes ({redeliveries} redeliveries), {} per transaction: {per_sec:.0} pushes/s over {elapsed:.2} s",
            pushes.len(),
            args.batch
        );
    }
    Ok(())
}
