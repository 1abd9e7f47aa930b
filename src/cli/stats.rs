//! `cardhook stats`: the channel statistics, as a table, JSON (DESIGN §4's shape) or CSV.

use chrono::NaiveDate;

use super::tables;
use super::Format;
use crate::config::Settings;
use crate::report;
use crate::store::channel_day;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    pub appid: Option<String>,
    #[arg(long)]
    pub card_id: Option<String>,
    /// First day (inclusive), YYYY-MM-DD in stats.utc_offset.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub from: Option<NaiveDate>,
    /// Last day (inclusive).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub to: Option<NaiveDate>,
    #[arg(long, value_enum, default_value_t = channel_day::GroupBy::Channel)]
    pub by: channel_day::GroupBy,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub async fn run(args: Args, settings: &Settings) -> anyhow::Result<()> {
    if let (Some(from), Some(to)) = (args.from, args.to) {
        anyhow::ensure!(from <= to, "--from {from} is after --to {to}");
    }
    let db = super::database_to_read(settings).await?;
    let query = channel_day::StatsQuery {
        appid: args.appid,
        card_id: args.card_id,
        from: args.from,
        to: args.to,
        by: args.by,
    };
    let stats = channel_day::stats(&db, &query).await?;
    let out = match args.format {
        Format::Json => serde_json::to_string_pretty(&stats)?,
        Format::Csv => report::stats_csv(&stats, args.by),
        Format::Table => tables::stats_table(&stats, args.by),
    };
    println!("{out}");
    Ok(())
}
