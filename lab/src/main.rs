//! `cardhook-lab`: the measurements `docs/PERFORMANCE.md` is made of, outside the product binary.
//! Baselines (`hello`, `hello --durable`), the leanest durable write (`store-only`), sealed pushes for
//! another load generator (`save`) and the machine's CPU around a command (`cpu`). The scripts in
//! `lab/scripts/` drive them with `cardhook bench`.

mod durable_log;
mod hello;
mod machine_cpu;
mod save;
mod store_only;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "cardhook-lab", about)]
struct Lab {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// A hello-world actix-web server (answers `success`, stores nothing); with --durable FILE it
    /// syncs each body to FILE before answering (the durable ceiling, no database).
    Hello(hello::Args),
    /// The same pushes `cardhook bench` sends, stored straight through the SQLite writer's
    /// statements, `--batch` per transaction at `synchronous = FULL`: no HTTP, no crypto.
    StoreOnly(store_only::Args),
    /// Write sealed pushes to a file for another load generator (lab/scripts/wrk-pushes.lua).
    Save(save::Args),
    /// Run a command and report how busy the whole machine was meanwhile (`/proc/stat`).
    Cpu(machine_cpu::Args),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let result = match Lab::parse().command {
        Command::Hello(args) => hello::run(args).await,
        Command::StoreOnly(args) => store_only::run(args).await,
        Command::Save(args) => save::run(args),
        Command::Cpu(args) => machine_cpu::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
