//! `cardhook events unparsed`: the signed pushes stored with a field that could not be read
//! (a value WeChat sent that cardhook does not understand), one line per field.
//! `cardhook events tail`: the ordered feed of domain events as JSON lines (DESIGN §4).

use super::tables;
use super::Format;
use crate::config::Settings;
use crate::event_type::EventType;
use crate::store::events;
use crate::store::outbox::{self, Filter};

/// How long `events tail --follow` waits before asking again when it is at the end.
const FOLLOW_POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// What `events tail` prints: one event per line, as the admin API shows it.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum TailFormat {
    Json,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Pushes stored whole whose field(s) could not be read: id, account, event, field, reason.
    Unparsed {
        #[arg(long)]
        appid: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// The domain events after a seq, in seq order, one JSON object per line; a reader that keeps
    /// the last seq it handled and passes it as --after misses and repeats nothing.
    Tail {
        /// Print the events after this seq (0: from the first).
        #[arg(long, default_value_t = 0)]
        after: i64,
        /// Only these types, comma-separated (card.got,card.consumed,…).
        #[arg(long = "type", value_name = "TYPES")]
        types: Option<String>,
        #[arg(long)]
        appid: Option<String>,
        /// Keep printing new events as they are recorded.
        #[arg(long)]
        follow: bool,
        #[arg(long, value_enum, default_value_t = TailFormat::Json)]
        format: TailFormat,
    },
}

pub async fn run(args: Args, settings: &Settings) -> anyhow::Result<()> {
    let db = super::database_to_read(settings).await?;
    match args.action {
        Action::Unparsed { appid, format } => {
            let pushes = events::unparsed(&db, appid.as_deref()).await?;
            match format {
                Format::Json => super::print_json(&serde_json::json!({ "pushes": pushes }))?,
                Format::Csv | Format::Table => println!("{}", tables::unparsed_table(&pushes)),
            }
        }
        Action::Tail {
            after,
            types,
            appid,
            follow,
            format: TailFormat::Json,
        } => {
            let types = EventType::parse_list(types.as_deref().unwrap_or_default())
                .map_err(|unknown| anyhow::anyhow!("--type: {unknown:?} is not an event type"))?;
            anyhow::ensure!(after >= 0, "--after must be 0 or a seq the feed printed");
            let mut filter = Filter {
                after,
                limit: 1000,
                types,
                appid,
                until: None,
            };
            loop {
                let page = outbox::page(&db, &filter).await?;
                print_lines(&page)?;
                match page.last() {
                    Some(last) => filter.after = last.seq,
                    None if follow => tokio::time::sleep(FOLLOW_POLL).await,
                    None => break,
                }
            }
        }
    }
    Ok(())
}

/// One event per line, flushed (a reader of a pipe sees each page as it comes).
fn print_lines(events: &[outbox::FeedEvent]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    for event in events {
        serde_json::to_writer(&mut out, event)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}
