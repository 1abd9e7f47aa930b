//! `cardhook bindings backfill`: after an outage longer than WeChat retries, the codes users hold
//! that no push recorded, as bindings marked `backfill` (a progress bar on a terminal).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{operator, print_json, read_openids};
use crate::config::Settings;
use crate::distribution::backfill::{BackfillOrder, Openids};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Ask WeChat which codes each user holds (`/card/user/getcardlist`) and record those the ledger
    /// lacks as bindings marked `backfill` (no counter: the day they were got is unknown). Nothing a
    /// push recorded is changed. An interrupted run over the same list resumes when run again.
    Backfill(BackfillArgs),
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("who").required(true).args(["openid", "openids", "members"])))]
pub struct BackfillArgs {
    #[arg(long)]
    pub openid: Option<String>,
    /// A file of OpenIDs, one per line.
    #[arg(long, value_name = "FILE")]
    pub openids: Option<PathBuf>,
    /// Every member bound to a card.
    #[arg(long)]
    pub members: bool,
    /// Only the codes of this card.
    #[arg(long)]
    pub card_id: Option<String>,
    /// Calls to WeChat a second at most.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub rate: u32,
    #[arg(long)]
    pub appid: Option<String>,
    #[arg(long)]
    pub json: bool,
}

/// The OpenIDs of `file`, and the run's name: the SHA-256 of the list.
fn openids_of(file: &Path) -> anyhow::Result<Openids> {
    let openids = read_openids(file)?;
    anyhow::ensure!(!openids.is_empty(), "{} lists no OpenID", file.display());
    let run = format!("file:{}", hex::encode(Sha256::digest(openids.join("\n"))));
    Ok(Openids::List { openids, run })
}

pub async fn run(args: Args, settings: &Settings) -> anyhow::Result<()> {
    let Action::Backfill(args) = args.action;
    let openids = match (&args.openid, &args.openids) {
        (Some(openid), _) => Openids::One(openid.clone()),
        (_, Some(file)) => openids_of(file)?,
        _ => Openids::Members,
    };
    let order = BackfillOrder {
        appid: args.appid,
        openids,
        card_id: args.card_id,
        per_second: args.rate,
    };
    let operator = operator(settings).await?;
    let bar = super::progress::Bar::new("OpenIDs");
    let report = operator
        .backfill()
        .run(&order, &|done, total| bar.update(done, total))
        .await;
    bar.finish();
    let report = report?;
    if args.json {
        print_json(&report)?;
    } else {
        println!(
            "{} OpenID(s) asked ({} checked by an interrupted run, skipped): {} code(s) held, {} in the ledger already, {} backfilled",
            report.openids, report.skipped, report.codes, report.known, report.backfilled
        );
        if report.backfilled > 0 {
            println!(
                "backfilled bindings count in no channel's day: the day they were got is unknown"
            );
        }
    }
    if let Some(error) = &report.first_error {
        anyhow::bail!(
            "{} OpenID(s) not answered (first: {error}); run the same command again to ask for them",
            report.failed
        );
    }
    Ok(())
}
