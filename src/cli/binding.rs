//! `cardhook binding`: who holds a code (`--card-id C --code X`), or a user's codes (`--openid O`).

use super::tables;
use super::Format;
use crate::config::Settings;
use crate::store::bindings;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["code", "openid"])))]
pub struct Args {
    #[arg(long)]
    pub appid: Option<String>,
    #[arg(long, requires = "code")]
    pub card_id: Option<String>,
    #[arg(long, requires = "card_id")]
    pub code: Option<String>,
    #[arg(long, conflicts_with = "code")]
    pub openid: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub async fn run(args: Args, settings: &Settings) -> anyhow::Result<()> {
    let db = super::database_to_read(settings).await?;
    let appid = args.appid.as_deref();
    let rows = match (&args.card_id, &args.code, &args.openid) {
        (Some(card_id), Some(code), _) => bindings::by_code(&db, appid, card_id, code).await?,
        (_, _, Some(openid)) => bindings::by_openid(&db, appid, openid).await?,
        _ => anyhow::bail!("give --card-id and --code, or --openid"),
    };
    if rows.is_empty() {
        anyhow::bail!("no binding found");
    }
    let rows = bindings::with_members(&db, rows).await?;
    let out = match args.format {
        Format::Json => serde_json::to_string_pretty(&rows)?,
        Format::Csv | Format::Table => tables::bindings_table(&rows),
    };
    println!("{out}");
    Ok(())
}
