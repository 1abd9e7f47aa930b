//! `cardhook qrcode create`: a card QR code for a named channel (reference §8.1), optionally
//! rendered to a PNG for print.

use std::path::PathBuf;

use anyhow::Context;

use super::{operator, print_json};
use crate::config::Settings;
use crate::distribution::qrcode::{render_png, QrCodeOrder};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Create a QR code (QR_CARD, or QR_MULTIPLE_CARD with --multiple) and register its channel.
    Create(CreateArgs),
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
    let Action::Create(args) = args.action;
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
    let created = operator(settings).await?.create_qrcode(order).await?;
    if let Some(path) = &args.png {
        std::fs::write(path, render_png(&created.url)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if args.json {
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
    if let Some(path) = &args.png {
        println!("png              {}", path.display());
    }
    Ok(())
}
