//! `cardhook migrate [up|down|status]`: the one entry point to the migrations.

use anyhow::Context;
use migration::{Migrator, MigratorTrait};

use crate::config::Settings;
use crate::store;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Option<Action>,
}

#[derive(Debug, Clone, Copy, clap::Subcommand)]
pub enum Action {
    /// Apply every pending migration (the default).
    Up,
    /// Roll back the last migration.
    Down,
    /// List migrations and whether each is applied.
    Status,
}

pub async fn run(args: Args, settings: &Settings) -> anyhow::Result<()> {
    let db = store::connect(&settings.database)
        .await
        .context("connecting to the database")?;
    match args.action.unwrap_or(Action::Up) {
        Action::Up => {
            Migrator::up(&db, None).await?;
            println!("migrations applied");
        }
        Action::Down => {
            Migrator::down(&db, Some(1)).await?;
            println!("last migration rolled back");
        }
        Action::Status => {
            for m in Migrator::get_migration_with_status(&db).await? {
                println!("{}\t{}", m.name(), m.status());
            }
        }
    }
    Ok(())
}
