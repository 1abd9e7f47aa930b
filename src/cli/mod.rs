//! The command line (clap derive): one file per subcommand, each with its `Args` and `run`.

pub mod bench;
pub mod binding;
pub mod bindings;
pub mod card;
pub mod channels;
pub mod codes;
pub mod events;
pub mod jobs;
pub mod landingpage;
pub mod mass;
pub mod media;
pub mod members;
pub mod migrate;
pub mod mpnews;
pub mod progress;
pub mod qrcode;
pub mod replay;
pub mod send;
pub mod serve;
pub mod stats;
pub mod tables;
pub mod webhooks;
pub mod whitelist;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::clock::Clock;
use crate::config::Settings;
use crate::credentials::TokenProvider;
use crate::distribution::Distribution;
use crate::metrics::Metrics;
use crate::store;

/// cardhook — the server URL of a WeChat Official Account for card and member-card events.
#[derive(Debug, Parser)]
#[command(name = "cardhook", version, about)]
pub struct Cli {
    /// Configuration file (default: ./cardhook.toml when present, else the built-in defaults).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate, then run the callback listener.
    Serve(serve::Args),
    /// Apply (or roll back, or list) database migrations and exit.
    Migrate(migrate::Args),
    /// Sign (and encrypt) XML files exactly as WeChat would and POST them to a running cardhook.
    Replay(replay::Args),
    /// Per-channel statistics: got, from_friend, restored, deleted, consumed, activated, users, and the
    /// name each registered channel was given.
    Stats(stats::Args),
    /// Who holds a code, or which codes a user holds.
    Binding(binding::Args),
    /// Bindings over a card's life: `bindings backfill` records the codes users hold that no push
    /// recorded (after an outage longer than WeChat's retries).
    Bindings(bindings::Args),
    /// The pushes stored: `events unparsed` lists those with fields that could not be read;
    /// `events tail` prints the ordered feed of domain events as JSON lines.
    Events(events::Args),
    /// The job queue (activations, one-click bindings, member updates, follow QR code cards): list,
    /// show, retry.
    Jobs(jobs::Args),
    /// The merchant's members: import a CSV, show one (and the card it is bound to), set points and
    /// balance, reconcile them with WeChat.
    Members(members::Args),
    /// The channel registry: list the channels, or name one used outside cardhook.
    Channels(channels::Args),
    /// Card QR codes, one per named channel, and follow QR codes that hand out a card (optionally
    /// printed to a PNG).
    Qrcode(qrcode::Args),
    /// Landing pages (货架), registered as channels.
    Landingpage(landingpage::Args),
    /// Custom codes: deposit a file of codes (resumable), or check which WeChat has.
    Codes(codes::Args),
    /// The test whitelist of cards under review.
    Whitelist(whitelist::Args),
    /// The card catalogue: create cards from JSON files, follow their review, stock and activation form.
    Card(card::Args),
    /// Images for cards, uploaded to WeChat's CDN.
    Media(media::Args),
    /// A card to one customer in a customer-service message.
    Send(send::Args),
    /// Cards mass-sent to a tag, a list of OpenIDs or every follower (with a preview first).
    Mass(mass::Args),
    /// The HTML that puts a card into a 图文 (mpnews) message.
    #[command(name = "mpnews-html")]
    MpnewsHtml(mpnews::Args),
    /// The merchant's webhook endpoints: list them with their state, retry one's waiting event now,
    /// or replay the feed to one from a seq.
    Webhooks(webhooks::Args),
    /// Load generator: sealed pushes with redeliveries at a fixed concurrency; throughput, latency,
    /// and (with --config) a check of the database.
    Bench(bench::Args),
}

/// The operator's service on this configuration's database (migrated) and WeChat API.
async fn operator(settings: &Settings) -> anyhow::Result<Distribution> {
    settings.validate()?;
    let db = store::connect(&settings.database)
        .await
        .context("connecting to the database")?;
    store::migrate(&db)
        .await
        .context("migrating the database")?;
    // As `database_to_read`: no writer turn.
    let db = store::Db::new(db);
    let tokens = TokenProvider::from_settings(settings, db.clone(), Metrics::new()?)?;
    Ok(Distribution::new(
        db,
        tokens,
        Clock::system(),
        settings.stats_offset()?,
    ))
}

/// The database of a command that reads it: it must exist and be migrated. Otherwise one line says
/// so and names the command that fixes it (a reading command never creates the database). The CLI
/// runs beside serve, not in it: its writes take no writer turn.
async fn database_to_read(settings: &Settings) -> anyhow::Result<store::Db> {
    use migration::MigratorTrait;
    use secrecy::ExposeSecret;
    if let Some(path) = store::DatabaseFile::path_in_url(settings.database.url.expose_secret()) {
        anyhow::ensure!(
            path.exists(),
            "database file {} does not exist: run `cardhook migrate` to create it (or start `cardhook serve`)",
            path.display()
        );
    }
    let db = store::connect(&settings.database)
        .await
        .context("connecting to the database")?;
    let pending = migration::Migrator::get_pending_migrations(&db)
        .await
        .context("reading the database's migrations")?;
    anyhow::ensure!(
        pending.is_empty(),
        "the database is not migrated ({} migration(s) pending): run `cardhook migrate`",
        pending.len()
    );
    Ok(store::Db::new(db))
}

/// The OpenIDs of a file: one per line, blanks skipped, sorted, each once.
fn read_openids(path: &std::path::Path) -> anyhow::Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut openids: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    openids.sort();
    openids.dedup();
    Ok(openids)
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Output formats of the reading commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    #[default]
    Table,
    Json,
    Csv,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }
}
