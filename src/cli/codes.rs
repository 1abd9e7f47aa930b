//! `cardhook codes deposit|check|consume|unavailable|update`: import custom codes from a file (100
//! per call, resumable) and verify what WeChat holds (reference §8.3); at the till, check a code and
//! consume it once per idempotency key; take a code back; give a code a new code.

use std::path::PathBuf;

use anyhow::Context;

use super::{operator, print_json, Format};
use crate::config::Settings;
use crate::distribution::codes::parse_codes;
use crate::distribution::till::{CodeCheck, ConsumeOrder};
use crate::distribution::Distribution;
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
    /// With --code: one code at the till — its card, holder, status, whether it can be consumed now
    /// and the member it is bound to (`/card/code/get`). With FILE: list the codes of FILE that
    /// WeChat does not have for the card (--card-id).
    Check(CheckArgs),
    /// Consume (核销) a code at the till (`/card/code/consume`). With the same --idempotency-key a
    /// retry, here or through the admin API, gets the first answer and consumes nothing twice.
    Consume(ConsumeArgs),
    /// Take a code back (`/card/code/unavailable`): the binding ends, its member keeps its points
    /// and balance, `card.revoked` is published and the channel counts it `revoked`.
    Unavailable {
        #[arg(long)]
        code: String,
        #[arg(long)]
        reason: Option<String>,
        /// Needed only when the ledger does not know the code and it is a custom code.
        #[arg(long)]
        card_id: Option<String>,
        #[arg(long)]
        appid: Option<String>,
    },
    /// Give a code a new code (`/card/code/update`): the ledger follows, the member stays bound.
    Update {
        #[arg(long)]
        code: String,
        #[arg(long)]
        new_code: String,
        #[arg(long)]
        card_id: Option<String>,
        #[arg(long)]
        appid: Option<String>,
    },
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    #[arg(long)]
    pub appid: Option<String>,
    #[arg(long)]
    pub card_id: Option<String>,
    /// The code to check at the till.
    #[arg(long, conflicts_with = "file")]
    pub code: Option<String>,
    /// One code per line (with --card-id).
    #[arg(required_unless_present = "code")]
    pub file: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, clap::Args)]
pub struct ConsumeArgs {
    #[arg(long)]
    pub code: String,
    #[arg(long)]
    pub card_id: Option<String>,
    /// --code is an encrypt_code (from a scan or a URL): decrypted with WeChat first.
    #[arg(long)]
    pub encrypted: bool,
    /// A key of your own for this consume (1–64 of letters, digits, -_.:); a fresh one if none.
    #[arg(long)]
    pub idempotency_key: Option<String>,
    #[arg(long)]
    pub appid: Option<String>,
    #[arg(long)]
    pub json: bool,
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

/// The codes of `file`, one per line.
fn codes_of(file: &std::path::Path) -> anyhow::Result<Vec<String>> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let (codes, repeated) = parse_codes(&text).with_context(|| format!("{}", file.display()))?;
    if repeated > 0 {
        eprintln!("{repeated} repeated line(s) of the file skipped");
    }
    Ok(codes)
}

async fn consume(operator: &Distribution, args: ConsumeArgs) -> anyhow::Result<()> {
    let key = args.idempotency_key.unwrap_or_else(fresh_key);
    let order = ConsumeOrder {
        appid: args.appid,
        code: args.code,
        card_id: args.card_id,
        encrypted: args.encrypted,
        idempotency_key: key.clone(),
    };
    let consumed = operator.till().consume(&order).await?;
    if args.json {
        print_json(&consumed)?;
    } else {
        println!("consumed: card {}", consumed.card_id);
        if let Some(member_no) = &consumed.member_no {
            println!("member   {member_no}");
        }
        println!("key      {key}");
    }
    Ok(())
}

/// A key for a consume the operator named none for (retries of this run only).
fn fresh_key() -> String {
    use rand::Rng;
    format!("cli-{:032x}", rand::thread_rng().gen::<u128>())
}

/// A code at the till, a line per field.
fn check_lines(check: &CodeCheck) -> String {
    let time = |t: Option<i64>| t.map(super::tables::time).unwrap_or_default();
    let lines = [
        ("card_id", check.card_id.clone()),
        ("status", check.status.clone()),
        ("can_consume", check.can_consume.to_string()),
        ("openid", check.openid.clone().unwrap_or_default()),
        ("begin_time", time(check.begin_time)),
        ("end_time", time(check.end_time)),
        (
            "ledger_status",
            check.ledger_status.clone().unwrap_or_default(),
        ),
        ("member_no", check.member_no.clone().unwrap_or_default()),
    ];
    lines
        .iter()
        .map(|(name, value)| format!("{name:<14}{value}\n"))
        .collect()
}

pub async fn run(args: Args, settings: &Settings) -> anyhow::Result<()> {
    let operator = operator(settings).await?;
    let missing = match args.action {
        Action::Check(CheckArgs {
            appid,
            card_id,
            code: Some(code),
            json,
            format,
            ..
        }) => {
            let check = operator
                .till()
                .check(appid.as_deref(), &code, card_id.as_deref())
                .await?;
            match json || format == Format::Json {
                true => print_json(&check)?,
                false => print!("{}", check_lines(&check)),
            }
            return Ok(());
        }
        Action::Consume(args) => return consume(&operator, args).await,
        Action::Unavailable {
            code,
            reason,
            card_id,
            appid,
        } => {
            let revoked = operator
                .till()
                .unavailable(
                    appid.as_deref(),
                    &code,
                    card_id.as_deref(),
                    reason.as_deref(),
                )
                .await?;
            println!("code of {} taken back", revoked.card_id);
            if let Some(member_no) = &revoked.member_no {
                println!("member {member_no} unbound; its points and balance stay");
            }
            return Ok(());
        }
        Action::Update {
            code,
            new_code,
            card_id,
            appid,
        } => {
            let recoded = operator
                .till()
                .update(appid.as_deref(), &code, &new_code, card_id.as_deref())
                .await?;
            println!(
                "code of {} changed{}",
                recoded.card_id,
                if recoded.in_ledger {
                    "; the ledger follows"
                } else {
                    " (the ledger did not know the old code)"
                }
            );
            return Ok(());
        }
        Action::Deposit(DepositArgs {
            codes: args,
            sync_stock,
        }) => {
            let codes = codes_of(&args.file)?;
            let bar = super::progress::Bar::new("codes");
            let report = operator
                .codes()
                .deposit(
                    args.appid.as_deref(),
                    &args.card_id,
                    &codes,
                    &|done, total| bar.update(done, total),
                )
                .await;
            bar.finish();
            let report = report?;
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
            let (Some(file), Some(card_id)) = (&args.file, &args.card_id) else {
                anyhow::bail!("give --code C, or FILE with --card-id");
            };
            let codes = codes_of(file)?;
            let report = operator
                .codes()
                .check(args.appid.as_deref(), card_id, &codes)
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
