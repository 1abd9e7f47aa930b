//! `cardhook landingpage create`: a landing page (货架, reference §8.2), registered as a channel.

use super::{operator, print_json};
use crate::config::Settings;
use crate::distribution::channels::LandingPageOrder;
use crate::wechat_api::distribution::LandingCard;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Create a landing page and register it as a channel.
    Create(CreateArgs),
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    #[arg(long)]
    pub appid: Option<String>,
    /// The page title.
    #[arg(long)]
    pub title: String,
    /// The banner image URL (uploaded to WeChat first).
    #[arg(long, value_name = "URL")]
    pub banner: String,
    /// Where the page is placed: SCENE_NEAR_BY, SCENE_MENU, SCENE_QRCODE, SCENE_ARTICLE, SCENE_H5,
    /// SCENE_IVR or SCENE_CARD_CUSTOM_CELL.
    #[arg(long)]
    pub scene: String,
    /// A card of the page and its thumbnail: CARD_ID=THUMB_URL (repeat for more).
    #[arg(long = "card", value_name = "CARD_ID=THUMB_URL", required = true, value_parser = landing_card)]
    pub cards: Vec<LandingCard>,
    /// Let users share the page.
    #[arg(long)]
    pub share: bool,
    /// The channel's name (default: the title).
    #[arg(long)]
    pub name: Option<String>,
    /// The outer_str events of this page carry, if you add one to its links.
    #[arg(long)]
    pub outer_str: Option<String>,
    #[arg(long)]
    pub outer_id: Option<i64>,
    #[arg(long)]
    pub json: bool,
}

fn landing_card(text: &str) -> Result<LandingCard, String> {
    match text.split_once('=') {
        Some((card_id, thumb_url)) if !card_id.is_empty() && !thumb_url.is_empty() => {
            Ok(LandingCard {
                card_id: card_id.to_owned(),
                thumb_url: thumb_url.to_owned(),
            })
        }
        _ => Err(format!("expected CARD_ID=THUMB_URL, got {text:?}")),
    }
}

pub async fn run(args: Args, settings: &Settings) -> anyhow::Result<()> {
    let Action::Create(args) = args.action;
    let order = LandingPageOrder {
        appid: args.appid,
        title: args.title,
        banner: args.banner,
        scene: args.scene,
        cards: args.cards,
        share: args.share,
        name: args.name,
        outer_id: args.outer_id,
        outer_str: args.outer_str,
    };
    let created = operator(settings)
        .await?
        .channels()
        .create_landing_page(order)
        .await?;
    if args.json {
        return print_json(&created);
    }
    println!("channel  {} {:?}", created.channel.id, created.channel.name);
    println!("page_id  {}", created.page_id);
    println!("url      {}", created.url);
    Ok(())
}
