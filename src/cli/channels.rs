//! `cardhook channels list|name`: the channel registry.

use super::tables;
use super::{operator, print_json};
use crate::config::Settings;
use crate::distribution::channels::NameChannel;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// The registered channels, oldest first.
    List {
        #[arg(long)]
        appid: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Name a channel used outside cardhook (an outer_str in a cardExt, a link, an article).
    #[command(group(clap::ArgGroup::new("channel").required(true).multiple(true).args(["outer_str", "outer_id"])))]
    Name {
        #[arg(long)]
        appid: Option<String>,
        /// Only this card's events (default: every card).
        #[arg(long)]
        card_id: Option<String>,
        #[arg(long)]
        outer_str: Option<String>,
        /// Up to 60 digits.
        #[arg(long)]
        outer_id: Option<crate::wechat::ids::OuterId>,
        #[arg(long)]
        name: String,
    },
}

pub async fn run(args: Args, settings: &Settings) -> anyhow::Result<()> {
    let operator = operator(settings).await?;
    match args.action {
        Action::List { appid, json } => {
            let channels = operator.channels().list(appid.as_deref()).await?;
            if json {
                return print_json(&channels);
            }
            println!("{}", tables::channels_table(&channels));
        }
        Action::Name {
            appid,
            card_id,
            outer_str,
            outer_id,
            name,
        } => {
            let channel = operator
                .channels()
                .name(NameChannel {
                    appid,
                    card_id,
                    outer_id,
                    outer_str,
                    name,
                })
                .await?;
            println!("channel {} {:?}", channel.id, channel.name);
        }
    }
    Ok(())
}
