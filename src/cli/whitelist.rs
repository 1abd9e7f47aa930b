//! `cardhook whitelist set`: the test whitelist (reference §8.4).

use super::operator;
use crate::config::Settings;
use crate::distribution::messages::Whitelist;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Set who may get cards still under review. This REPLACES the whole list: name everyone
    /// who should stay on it (at most 10 OpenIDs and usernames together).
    Set {
        #[arg(long)]
        appid: Option<String>,
        /// An OpenID (repeat for more).
        #[arg(long)]
        openid: Vec<String>,
        /// A WeChat username (微信号; repeat for more).
        #[arg(long)]
        username: Vec<String>,
    },
}

pub async fn run(args: Args, settings: &Settings) -> anyhow::Result<()> {
    let Action::Set {
        appid,
        openid,
        username,
    } = args.action;
    let count = openid.len() + username.len();
    operator(settings)
        .await?
        .messages()
        .set_whitelist(Whitelist {
            appid,
            openid,
            username,
        })
        .await?;
    println!(
        "test whitelist set: {count} entr{}",
        if count == 1 { "y" } else { "ies" }
    );
    Ok(())
}
