//! cardhook: parse the command line, load configuration, install tracing, dispatch.

use anyhow::Context;
use clap::Parser;

use cardhook::cli::{self, Cli, Command};
use cardhook::config::Settings;
use cardhook::telemetry;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load(cli.config.as_deref()).context("loading configuration")?;
    telemetry::init(&settings.log);
    match cli.command {
        Command::Serve(args) => cli::serve::run(args, &settings).await,
        Command::Migrate(args) => cli::migrate::run(args, &settings).await,
        Command::Replay(args) => cli::replay::run(args, &settings).await,
        Command::Stats(args) => cli::stats::run(args, &settings).await,
        Command::Binding(args) => cli::binding::run(args, &settings).await,
        Command::Jobs(args) => cli::jobs::run(args, &settings).await,
        Command::Bench(args) => cli::bench::run(args, &settings, cli.config.is_some()).await,
        Command::Hello(args) => cli::hello::run(args).await,
    }
}
