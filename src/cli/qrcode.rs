//! `cardhook qrcode create|follow`: a card QR code for a named channel (reference §8.1), or a follow
//! QR code that hands out a card (reference 000), optionally rendered to a PNG for print.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::{operator, print_json};
use crate::config::Settings;
use crate::distribution::messages::FollowQrOrder;
use crate::distribution::qrcode::{render_png, CreatedQrCode, QrCodeOrder};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Create a QR code (QR_CARD, or QR_MULTIPLE_CARD with --multiple) and register its channel.
    Create(CreateArgs),
    /// A follow QR code for a poster: scanning it follows the account and gets the card in a
    /// customer-service message; its scene is the channel's outer_str.
    Follow(FollowArgs),
}

#[derive(Debug, clap::Args)]
pub struct FollowArgs {
    #[arg(long)]
    pub appid: Option<String>,
    /// The QR code's scene (1–64 characters): the channel in `stats`.
    #[arg(long)]
    pub scene: String,
    /// The card it hands out.
    #[arg(long)]
    pub card_id: String,
    /// The channel's name, shown by `stats`.
    #[arg(long)]
    pub name: String,
    /// Seconds a temporary code lives, at most 2592000 (30 days, the default).
    #[arg(long, value_name = "SECONDS", conflicts_with = "permanent")]
    pub expire: Option<u32>,
    /// A permanent code (QR_LIMIT_STR_SCENE).
    #[arg(long)]
    pub permanent: bool,
    /// Write the QR image (PNG, rendered here from the returned url) to FILE.
    #[arg(long, value_name = "FILE")]
    pub png: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("cards").required(true).args(["card_id", "multiple"])))]
#[command(group(clap::ArgGroup::new("channel").required(true).multiple(true).args(["outer_str", "outer_id"])))]
pub struct CreateArgs {
    /// The account (default: the only one with an app_secret).
    #[arg(long)]
    pub appid: Option<String>,
    #[arg(long)]
    pub card_id: Option<String>,
    /// Several cards in one QR code: C1,C2,...
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub multiple: Vec<String>,
    /// The channel: comes back as OuterStr in user_get_card.
    #[arg(long)]
    pub outer_str: Option<String>,
    /// The legacy integer channel (OuterId).
    #[arg(long)]
    pub outer_id: Option<i64>,
    /// The channel's name, shown by `stats`.
    #[arg(long)]
    pub name: String,
    /// Seconds the QR code stays valid, 60–1800 (default: WeChat's).
    #[arg(long, value_name = "SECONDS")]
    pub expire: Option<u32>,
    /// Hand out a random code per scan; the QR code cannot be scanned again after a get.
    #[arg(long)]
    pub unique_code: bool,
    /// The code to give (use_custom_code cards only).
    #[arg(long, conflicts_with = "multiple")]
    pub code: Option<String>,
    /// The only user who may get it (bind_openid cards only).
    #[arg(long, conflicts_with = "multiple")]
    pub openid: Option<String>,
    /// Write the QR image (PNG, rendered here from the returned url) to FILE.
    #[arg(long, value_name = "FILE")]
    pub png: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: Args, settings: &Settings) -> anyhow::Result<()> {
    let args = match args.action {
        Action::Create(args) => args,
        Action::Follow(args) => return follow(args, settings).await,
    };
    let order = QrCodeOrder {
        appid: args.appid,
        card_id: args.card_id,
        multiple: args.multiple,
        outer_str: args.outer_str,
        outer_id: args.outer_id,
        name: args.name,
        expire_seconds: args.expire,
        unique_code: args.unique_code,
        code: args.code,
        openid: args.openid,
    };
    let created = operator(settings)
        .await?
        .channels()
        .create_qrcode(order)
        .await?;
    print_created(&created, args.png.as_deref(), args.json)
}

async fn follow(args: FollowArgs, settings: &Settings) -> anyhow::Result<()> {
    let order = FollowQrOrder {
        appid: args.appid,
        scene: args.scene,
        card_id: args.card_id,
        name: args.name,
        expire_seconds: args.expire,
        permanent: args.permanent,
    };
    let created = operator(settings)
        .await?
        .messages()
        .create_follow_qrcode(order)
        .await?;
    print_created(&created, args.png.as_deref(), args.json)
}

/// The QR code created (and its PNG written, if asked).
fn print_created(created: &CreatedQrCode, png: Option<&Path>, json: bool) -> anyhow::Result<()> {
    if let Some(path) = png {
        std::fs::write(path, render_png(&created.url)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if json {
        return print_json(&created);
    }
    let c = &created.channel;
    println!("channel          {} {:?}", c.id, c.name);
    println!("outer_str        {}", c.outer_str);
    println!("outer_id         {}", c.outer_id);
    println!("ticket           {}", created.ticket);
    println!("url              {}", created.url);
    if let Some(show) = &created.show_qrcode_url {
        println!("show_qrcode_url  {show}");
    }
    if let Some(path) = png {
        println!("png              {}", path.display());
    }
    Ok(())
}
