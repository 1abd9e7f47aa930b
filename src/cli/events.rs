//! `cardhook events unparsed`: the signed pushes stored with a field that could not be read
//! (a value WeChat sent that cardhook does not understand), one line per field.

use super::tables;
use super::Format;
use crate::config::Settings;
use crate::store::events;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Pushes stored whole whose field(s) could not be read: id, account, event, field, reason.
    Unparsed {
        #[arg(long)]
        appid: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

pub async fn run(args: Args, settings: &Settings) -> anyhow::Result<()> {
    let db = super::database_to_read(settings).await?;
    match args.action {
        Action::Unparsed { appid, format } => {
            let pushes = events::unparsed(&db, appid.as_deref()).await?;
            match format {
                Format::Json => super::print_json(&serde_json::json!({ "pushes": pushes }))?,
                Format::Csv | Format::Table => println!("{}", tables::unparsed_table(&pushes)),
            }
        }
    }
    Ok(())
}
