//! `cardhook send card`: one card to one customer in a customer-service message, its cardExt
//! signed with the card api_ticket (reference 001).

use super::operator;
use crate::config::Settings;
use crate::distribution::messages::SendCardOrder;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Send the card now; within 48 hours of the customer's last message to the account (45015
    /// otherwise).
    Card {
        #[arg(long)]
        card_id: String,
        #[arg(long)]
        openid: String,
        /// The channel the get counts in.
        #[arg(long)]
        outer_str: Option<String>,
        #[arg(long)]
        appid: Option<String>,
    },
}

pub async fn run(args: Args, settings: &Settings) -> anyhow::Result<()> {
    let Action::Card {
        card_id,
        openid,
        outer_str,
        appid,
    } = args.action;
    let order = SendCardOrder {
        appid,
        card_id: card_id.clone(),
        openid,
        outer_str,
    };
    operator(settings)
        .await?
        .messages()
        .send_card(order)
        .await?;
    println!("card {card_id} sent");
    Ok(())
}
