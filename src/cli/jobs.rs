//! `cardhook jobs list|show|retry`: the activation queue.

use anyhow::Context;

use super::tables;
use super::Format;
use crate::config::Settings;
use crate::store::jobs;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// List jobs, newest first.
    List {
        #[arg(long, value_enum)]
        state: Option<jobs::JobState>,
        #[arg(long, default_value_t = 100)]
        limit: u64,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// One job, with its payload and last error.
    Show { id: i64 },
    /// Requeue a dead job (or every dead job with --dead) to run now.
    Retry {
        #[arg(required_unless_present = "dead", conflicts_with = "dead")]
        id: Option<i64>,
        #[arg(long)]
        dead: bool,
    },
}

pub async fn run(args: Args, settings: &Settings) -> anyhow::Result<()> {
    let db = super::database_to_read(settings).await?;
    let now = chrono::Utc::now().timestamp();
    match args.action {
        Action::List {
            state,
            limit,
            format,
        } => {
            let rows = jobs::list(&db, state, limit).await?;
            let out = match format {
                Format::Json => serde_json::to_string_pretty(&rows)?,
                Format::Csv | Format::Table => tables::jobs_table(&rows),
            };
            println!("{out}");
        }
        Action::Show { id } => {
            let job = jobs::get(&db, id)
                .await
                .with_context(|| format!("job {id}"))?;
            let mut shown = serde_json::to_value(&job)?;
            // The payload is JSON text: show it as JSON.
            if let Ok(payload) = serde_json::from_str::<serde_json::Value>(&job.payload) {
                shown["payload"] = payload;
            }
            println!("{}", serde_json::to_string_pretty(&shown)?);
        }
        Action::Retry { id, dead } => {
            let revived = jobs::revive(&db, if dead { None } else { id }, now).await?;
            anyhow::ensure!(
                revived > 0 || dead,
                "job {} is not dead (only dead jobs are retried)",
                id.unwrap_or_default()
            );
            println!("{revived} job(s) requeued");
        }
    }
    Ok(())
}
