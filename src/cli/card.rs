//! `cardhook card create|list|show|update|stock|sync|delete|form set`: the card catalogue — cards created
//! from JSON files kept in version control, their review, stock, deletion and one-click activation
//! form.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::tables;
use super::{operator, print_json, Format};
use crate::config::{Activation, Settings};
use crate::wechat_api::catalogue::StockChange;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Create a card from FILE, the body of `/card/create` as WeChat documents it; image fields that
    /// name a local file (relative to FILE) are uploaded first. Prints the card_id, and for a member
    /// card the `[[cards]]` block to add to the configuration.
    Create {
        #[arg(long = "from", value_name = "FILE")]
        from: PathBuf,
        #[arg(long)]
        appid: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The catalogue: every card created here or reviewed since, with its status and stock.
    List {
        #[arg(long)]
        appid: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// One card, refreshed from WeChat (`/card/get`).
    Show {
        #[arg(long)]
        card_id: String,
        #[arg(long)]
        appid: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Change a card (`/card/update`) with FILE: `{"member_card": {"base_info": {…}}}`.
    Update(CardFile),
    /// Increase or reduce the stock (`/card/modifystock`).
    #[command(group(clap::ArgGroup::new("change").required(true).args(["increase", "reduce"])))]
    Stock {
        #[arg(long)]
        card_id: String,
        #[arg(long)]
        increase: Option<u64>,
        #[arg(long)]
        reduce: Option<u64>,
        #[arg(long)]
        appid: Option<String>,
    },
    /// Bring the catalogue in step with WeChat: every card of the account (`/card/batchget`, paged to
    /// the end), or of the statuses given, read with `/card/get` — cards created in the console
    /// appear in `card list`. A card that did not change is not written.
    Sync {
        /// CARD_STATUS_NOT_VERIFY, CARD_STATUS_VERIFY_FAIL, CARD_STATUS_VERIFY_OK, CARD_STATUS_DELETE,
        /// CARD_STATUS_DISPATCH (repeat or separate with commas).
        #[arg(long, value_delimiter = ',')]
        status: Vec<String>,
        #[arg(long)]
        appid: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Delete a card (`/card/delete`): nobody can get it any more, and the codes handed out can no
    /// longer be used. Cannot be undone: asks for --yes.
    Delete {
        #[arg(long)]
        card_id: String,
        #[arg(long)]
        appid: Option<String>,
        /// Yes, delete it.
        #[arg(long)]
        yes: bool,
    },
    /// The one-click activation form of a member card.
    Form {
        #[command(subcommand)]
        action: FormAction,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum FormAction {
    /// Set it (`/card/membercard/activateuserform/set`) from FILE: `required_form` / `optional_form`
    /// with `common_field_id_list` such as `USER_FORM_INFO_FLAG_MOBILE`.
    Set(CardFile),
}

/// A card and the JSON file of what to send for it.
#[derive(Debug, clap::Args)]
pub struct CardFile {
    #[arg(long)]
    card_id: String,
    #[arg(long = "from", value_name = "FILE")]
    from: PathBuf,
    #[arg(long)]
    appid: Option<String>,
}

fn read_json(path: &Path) -> anyhow::Result<serde_json::Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))
}

pub async fn run(args: Args, settings: &Settings) -> anyhow::Result<()> {
    let operator = operator(settings).await?;
    match args.action {
        Action::Create { from, appid, json } => {
            let body = read_json(&from)?;
            let dir = from.parent().unwrap_or(Path::new("."));
            let created = operator
                .catalogue()
                .create_card(appid.as_deref(), body, Some(dir))
                .await?;
            if json {
                print_json(&created)?;
            } else {
                println!("card_id {}", created.card_id);
                if let Some(block) = &created.config_block {
                    println!("\n# add to the configuration to run it:\n{block}");
                }
            }
        }
        Action::List { appid, format } => {
            let cards = operator.catalogue().cards(appid.as_deref()).await?;
            match format {
                Format::Json => print_json(&serde_json::json!({ "cards": cards }))?,
                Format::Table | Format::Csv => print!("{}", tables::cards_table(&cards)),
            }
        }
        Action::Show {
            card_id,
            appid,
            format,
        } => {
            let card = operator
                .catalogue()
                .card(appid.as_deref(), &card_id)
                .await?;
            match format {
                Format::Json => print_json(&card)?,
                Format::Table | Format::Csv => print!("{}", tables::cards_table(&[card])),
            }
        }
        Action::Update(CardFile {
            card_id,
            from,
            appid,
        }) => {
            let card = operator
                .catalogue()
                .update_card(appid.as_deref(), &card_id, read_json(&from)?)
                .await?;
            print!("{}", tables::cards_table(&[card]));
        }
        Action::Stock {
            card_id,
            increase,
            reduce,
            appid,
        } => {
            let change = match (increase, reduce) {
                (Some(n), _) => StockChange::Increase(n),
                (None, Some(n)) => StockChange::Reduce(n),
                (None, None) => anyhow::bail!("give --increase N or --reduce N"),
            };
            let card = operator
                .catalogue()
                .change_stock(appid.as_deref(), &card_id, change)
                .await?;
            print!("{}", tables::cards_table(&[card]));
        }
        Action::Sync {
            status,
            appid,
            json,
        } => {
            let report = operator.catalogue().sync(appid.as_deref(), &status).await?;
            if json {
                print_json(&report)?;
            } else {
                println!(
                    "{} card(s) at WeChat: {} added, {} changed, {} unchanged ({} page(s))",
                    report.cards, report.added, report.changed, report.unchanged, report.pages
                );
            }
        }
        Action::Delete {
            card_id,
            appid,
            yes,
        } => {
            anyhow::ensure!(
                yes,
                "deleting {card_id} cannot be undone: the codes handed out can no longer be used; add --yes to delete it"
            );
            operator
                .catalogue()
                .delete_card(appid.as_deref(), &card_id)
                .await?;
            println!("card {card_id} deleted");
        }
        Action::Form {
            action:
                FormAction::Set(CardFile {
                    card_id,
                    from,
                    appid,
                }),
        } => {
            operator
                .catalogue()
                .set_activate_form(appid.as_deref(), &card_id, read_json(&from)?)
                .await?;
            println!("activation form of {card_id} set");
            let jump = settings
                .cards
                .iter()
                .any(|c| c.card_id == card_id && c.activation == Activation::Jump);
            if let (true, Some(public_url)) = (jump, &settings.web.public_url) {
                let url = operator
                    .catalogue()
                    .set_jump_activation(appid.as_deref(), &card_id, public_url)
                    .await?;
                println!("after the form, WeChat sends the customer to {url}");
            }
        }
    }
    Ok(())
}
