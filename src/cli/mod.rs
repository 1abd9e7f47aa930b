//! The command line (clap derive): one file per subcommand, each with its `Args` and `run`.

pub mod bench;
pub mod binding;
pub mod hello;
pub mod jobs;
pub mod migrate;
pub mod replay;
pub mod serve;
pub mod stats;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

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
    /// Per-channel statistics: got, from_friend, restored, deleted, consumed, activated, users.
    Stats(stats::Args),
    /// Who holds a code, or which codes a user holds.
    Binding(binding::Args),
    /// The member-card activation queue: list, show, retry.
    Jobs(jobs::Args),
    /// Load generator: sealed pushes with redeliveries at a fixed concurrency; throughput, latency,
    /// and (with --config) a check of the database.
    Bench(bench::Args),
    /// A hello-world actix-web server: the baseline `bench` is compared with.
    #[command(hide = true)]
    Hello(hello::Args),
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
