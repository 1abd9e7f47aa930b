//! cardhook: parse the command line, load configuration, install tracing, dispatch.

use anyhow::Context;
use clap::Parser;

use cardhook::cli::{self, Cli, Command};
use cardhook::config::Settings;
use cardhook::telemetry;

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Errors are printed as one line, the cause chain included, without a backtrace (even where
/// `RUST_BACKTRACE` is set: a backtrace tells an operator nothing).
#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load(cli.config.as_deref()).context("loading configuration")?;
    telemetry::init(&settings.log);
    match cli.command {
        Command::Serve(args) => cli::serve::run(args, &settings).await,
        Command::Migrate(args) => cli::migrate::run(args, &settings).await,
        Command::Replay(args) => cli::replay::run(args, &settings).await,
        Command::Stats(args) => cli::stats::run(args, &settings).await,
        Command::Binding(args) => cli::binding::run(args, &settings).await,
        Command::Bindings(args) => cli::bindings::run(args, &settings).await,
        Command::Events(args) => cli::events::run(args, &settings).await,
        Command::Webhooks(args) => cli::webhooks::run(args, &settings).await,
        Command::Jobs(args) => cli::jobs::run(args, &settings).await,
        Command::Members(args) => cli::members::run(args, &settings).await,
        Command::Channels(args) => cli::channels::run(args, &settings).await,
        Command::Qrcode(args) => cli::qrcode::run(args, &settings).await,
        Command::Landingpage(args) => cli::landingpage::run(args, &settings).await,
        Command::Codes(args) => cli::codes::run(args, &settings).await,
        Command::Whitelist(args) => cli::whitelist::run(args, &settings).await,
        Command::MpnewsHtml(args) => cli::mpnews::run(args, &settings).await,
        Command::Card(args) => cli::card::run(args, &settings).await,
        Command::Media(args) => cli::media::run(args, &settings).await,
        Command::Send(args) => cli::send::run(args, &settings).await,
        Command::Mass(args) => cli::mass::run(args, &settings).await,
        Command::Bench(args) => cli::bench::run(args, &settings, cli.config.is_some()).await,
    }
}
