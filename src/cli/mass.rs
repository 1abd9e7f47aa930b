//! `cardhook mass card|list`: a card mass-sent to a tag, a list of OpenIDs or every follower — or
//! previewed by one operator first — and the sends with what WeChat reported of them.

use std::path::PathBuf;

use super::tables;
use super::{operator, print_json, read_openids, Format};
use crate::config::Settings;
use crate::distribution::messages::{MassOrder, MassTarget};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Mass-send a card (`/cgi-bin/message/mass/sendall` or `/send`, 10 000 OpenIDs a call), or
    /// with --preview send it to one follower only (`/cgi-bin/message/mass/preview`).
    #[command(group(clap::ArgGroup::new("to").required(true).args(["tag_id", "member_level", "openids", "all", "preview"])))]
    Card {
        #[arg(long)]
        card_id: String,
        /// Every follower with this tag.
        #[arg(long)]
        tag_id: Option<i64>,
        /// The members of this level: the WeChat tag `[[member_tags]]` gives it (`members tag` puts
        /// them under it).
        #[arg(long, value_name = "LEVEL")]
        member_level: Option<String>,
        /// A file of OpenIDs, one per line.
        #[arg(long, value_name = "FILE")]
        openids: Option<PathBuf>,
        /// Every follower.
        #[arg(long)]
        all: bool,
        /// Only this follower (the operator's own OpenID), to see it first.
        #[arg(long, value_name = "OPENID")]
        preview: Option<String>,
        /// The send's name in `mass list`.
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        appid: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The mass sends, newest first, with what WeChat reported (MASSSENDJOBFINISH).
    List {
        #[arg(long)]
        appid: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

pub async fn run(args: Args, settings: &Settings) -> anyhow::Result<()> {
    let operator = operator(settings).await?;
    match args.action {
        Action::Card {
            card_id,
            tag_id,
            member_level,
            openids,
            all,
            preview,
            name,
            appid,
            json,
        } => {
            let tag_id = match (tag_id, member_level) {
                (Some(id), _) => Some(id),
                (None, Some(level)) => {
                    let tag_of_level = settings.tag_of_level();
                    let Some(tag) = tag_of_level.get(&level) else {
                        anyhow::bail!("level {level:?} has no [[member_tags]] entry");
                    };
                    let id = operator.messages().tag_id(appid.as_deref(), tag).await?;
                    let Some(id) = id else {
                        anyhow::bail!(
                            "WeChat has no tag {tag:?} yet: run `cardhook members tag` first"
                        );
                    };
                    Some(id)
                }
                (None, None) => None,
            };
            let target = match (tag_id, openids, all, preview) {
                (Some(tag_id), ..) => MassTarget::Tag(tag_id),
                (_, Some(file), ..) => MassTarget::OpenIds(read_openids(&file)?),
                (_, _, true, _) => MassTarget::All,
                (_, _, _, Some(openid)) => MassTarget::Preview(openid),
                _ => anyhow::bail!(
                    "say who: --tag-id, --member-level, --openids, --all or --preview"
                ),
            };
            let order = MassOrder {
                appid,
                card_id,
                target,
                name,
            };
            let bar = super::progress::Bar::new("sent");
            let send = operator
                .messages()
                .mass_card(order, &|done, total| bar.update(done, total))
                .await;
            bar.finish();
            let send = send?;
            if json {
                print_json(&send)?;
            } else {
                print!("{}", tables::mass_table(&[send]));
            }
        }
        Action::List { appid, format } => {
            let sends = operator.messages().mass_sends(appid.as_deref()).await?;
            match format {
                Format::Json => print_json(&serde_json::json!({ "sends": sends }))?,
                Format::Table | Format::Csv => print!("{}", tables::mass_table(&sends)),
            }
        }
    }
    Ok(())
}
