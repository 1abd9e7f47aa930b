//! `cardhook-lab save FILE`: the requests `cardhook bench` would send, sealed, written to FILE for
//! another load generator (`lab/scripts/wrk-pushes.lua`): each request's byte length on a line, then
//! the raw HTTP/1.1 request.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use cardhook::accounts::Accounts;
use cardhook::config::Settings;
use cardhook::loadgen::{sealed_requests, PlanArgs, Target};
use rand::Rng;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write the requests.
    pub file: PathBuf,
    /// The configuration holding the account to seal as.
    #[arg(long)]
    pub config: PathBuf,
    /// The callback URL the requests are for, e.g. http://127.0.0.1:8080/wechat/wx….
    #[arg(long)]
    pub url: String,
    #[arg(long)]
    pub appid: String,
    #[command(flatten)]
    pub plan: PlanArgs,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let settings = Settings::load(Some(&args.config))?;
    let accounts = Accounts::from_settings(&settings.accounts)?;
    let account = accounts
        .get(&args.appid)
        .with_context(|| format!("account {} is not in the configuration", args.appid))?;
    let url = url::Url::parse(&args.url).with_context(|| format!("--url {}", args.url))?;
    let host = format!(
        "{}:{}",
        url.host_str().unwrap_or("127.0.0.1"),
        url.port_or_known_default().unwrap_or(80)
    );
    let target = Target {
        host: &host,
        path: url.path(),
        mode: account.mode,
    };
    let run_id = format!("{:x}", rand::thread_rng().gen::<u32>());
    let card_id = format!("pBENCH{run_id}");
    let plan = args.plan.plan();
    let now = chrono::Utc::now().timestamp();
    let (requests, _) = sealed_requests(account, &target, plan, &run_id, &card_id, now)?;
    let write = || -> std::io::Result<()> {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&args.file)?);
        for request in &requests {
            writeln!(out, "{}", request.bytes.len())?;
            out.write_all(&request.bytes)?;
        }
        out.flush()
    };
    write().with_context(|| format!("writing {}", args.file.display()))?;
    println!("saved {} requests for card {card_id}", requests.len());
    Ok(())
}
