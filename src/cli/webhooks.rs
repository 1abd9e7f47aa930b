//! `cardhook webhooks list|retry|replay`: the `[[webhooks]]` endpoints, where each stands, and the
//! two ways an operator moves one (DESIGN §4). A running `serve` picks the change up within a
//! second.

use super::tables;
use super::Format;
use crate::clock::Clock;
use crate::config::Settings;
use crate::webhooks::{self, Endpoint};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Every endpoint: its URL (without query), filter, state (ok, backing_off, failing, new),
    /// cursor, lag, tries and last error.
    List {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Try the endpoint's waiting event now, whether it is backing off or marked failing.
    Retry { name: String },
    /// Deliver again every event after SEQ (the endpoint's retries are forgotten).
    Replay {
        name: String,
        #[arg(long)]
        after: i64,
    },
}

pub async fn run(args: Args, settings: &Settings) -> anyhow::Result<()> {
    settings.validate()?;
    let endpoints = Endpoint::all(&settings.webhooks);
    let db = super::database_to_read(settings).await?;
    let now = Clock::system().now();
    match args.action {
        Action::List { format } => {
            let views = webhooks::views(&db, &endpoints).await?;
            match format {
                Format::Json => super::print_json(&serde_json::json!({ "webhooks": views }))?,
                Format::Csv | Format::Table => println!("{}", tables::webhooks_table(&views)),
            }
        }
        Action::Retry { name } => {
            if webhooks::retry(&db, &endpoints, &name, now).await? {
                println!("{name}: the waiting event is tried now");
            } else {
                println!("{name}: no event waits (the endpoint is delivering)");
            }
        }
        Action::Replay { name, after } => {
            webhooks::replay(&db, &endpoints, &name, after, now).await?;
            println!("{name}: every event after seq {after} is delivered again");
        }
    }
    Ok(())
}
