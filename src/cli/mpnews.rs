//! `cardhook mpnews-html`: the HTML that puts a card into a 图文 message (reference §8.4).

use super::operator;
use crate::config::Settings;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    pub appid: Option<String>,
    #[arg(long)]
    pub card_id: String,
}

pub async fn run(args: Args, settings: &Settings) -> anyhow::Result<()> {
    let html = operator(settings)
        .await?
        .messages()
        .mpnews_html(args.appid.as_deref(), &args.card_id)
        .await?;
    println!("{html}");
    Ok(())
}
