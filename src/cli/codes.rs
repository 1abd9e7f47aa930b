//! `cardhook codes deposit|check`: import custom codes from a file (100 per call, resumable) and
//! verify what WeChat holds (reference §8.3).

use std::path::PathBuf;

use anyhow::Context;

use super::{operator, print_json};
use crate::config::Settings;
use crate::distribution::codes::parse_codes;
use crate::wechat_api::catalogue::StockChange;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Import the codes of FILE (one per line). An interrupted run resumes when run again: codes
    /// WeChat took are not sent twice. Then checks every code with WeChat and lists the missing.
    Deposit(DepositArgs),
    /// List the codes of FILE that WeChat does not have for the card.
    Check(CodesArgs),
}

#[derive(Debug, clap::Args)]
pub struct CodesArgs {
    #[arg(long)]
    pub appid: Option<String>,
    #[arg(long)]
    pub card_id: String,
    /// One code per line.
    pub file: PathBuf,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct DepositArgs {
    #[command(flatten)]
    pub codes: CodesArgs,
    /// Then set the card's stock to the number of codes WeChat holds (reference 001: the stock may
    /// not exceed the codes deposited).
    #[arg(long)]
    pub sync_stock: bool,
}

impl CodesArgs {
    fn codes(&self) -> anyhow::Result<Vec<String>> {
        let text = std::fs::read_to_string(&self.file)
            .with_context(|| format!("reading {}", self.file.display()))?;
        let (codes, repeated) =
            parse_codes(&text).with_context(|| format!("{}", self.file.display()))?;
        if repeated > 0 {
            eprintln!("{repeated} repeated line(s) of the file skipped");
        }
        Ok(codes)
    }
}

pub async fn run(args: Args, settings: &Settings) -> anyhow::Result<()> {
    let operator = operator(settings).await?;
    let missing = match args.action {
        Action::Deposit(DepositArgs {
            codes: args,
            sync_stock,
        }) => {
            let codes = args.codes()?;
            let report = operator
                .codes()
                .deposit(args.appid.as_deref(), &args.card_id, &codes)
                .await?;
            if sync_stock {
                let appid = operator.appid(args.appid.as_deref())?;
                let change = operator
                    .catalogue()
                    .set_stock(&appid, &args.card_id, report.deposit_count)
                    .await?;
                eprintln!(
                    "stock of {} set to {} ({})",
                    args.card_id,
                    report.deposit_count,
                    match change {
                        Some(StockChange::Increase(n)) => format!("+{n}"),
                        Some(StockChange::Reduce(n)) => format!("-{n}"),
                        None => "unchanged".to_owned(),
                    }
                );
            }
            if args.json {
                print_json(&report)?;
            } else {
                println!("codes              {}", report.codes);
                println!("already deposited  {}", report.already_deposited);
                println!("deposited          {}", report.deposited);
                println!("duplicate          {}", report.duplicate);
                println!("failed             {}", report.failed.len());
                println!("calls              {}", report.calls);
                println!("deposit count      {}", report.deposit_count);
                println!("missing            {}", report.missing.len());
                for code in report.failed.iter().chain(&report.missing) {
                    println!("  {code}");
                }
            }
            report.missing.len()
        }
        Action::Check(args) => {
            let codes = args.codes()?;
            let report = operator
                .codes()
                .check(args.appid.as_deref(), &args.card_id, &codes)
                .await?;
            if args.json {
                print_json(&report)?;
            } else {
                println!("codes      {}", report.codes);
                println!("exist      {}", report.exist);
                println!("not exist  {}", report.not_exist.len());
                for code in &report.not_exist {
                    println!("  {code}");
                }
            }
            report.not_exist.len()
        }
    };
    anyhow::ensure!(missing == 0, "WeChat does not have {missing} of the codes");
    Ok(())
}
