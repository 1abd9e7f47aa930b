//! `cardhook media uploadimg FILE`: an image for cards (a logo, a background) uploaded to WeChat's
//! CDN (`/cgi-bin/media/uploadimg`); prints its URL.

use std::path::PathBuf;

use super::operator;
use crate::config::Settings;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Upload a JPG or PNG of at most 1 MB (checked before sending); prints the URL to use in a card.
    Uploadimg {
        file: PathBuf,
        #[arg(long)]
        appid: Option<String>,
    },
}

pub async fn run(args: Args, settings: &Settings) -> anyhow::Result<()> {
    let Action::Uploadimg { file, appid } = args.action;
    let url = operator(settings)
        .await?
        .catalogue()
        .upload_image(appid.as_deref(), &file)
        .await?;
    println!("{url}");
    Ok(())
}
