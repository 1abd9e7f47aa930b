//! `cardhook members import|show|update|reconcile`: the merchant's members, the WeChat card each is
//! bound to, and the points and balance the card shows.

use std::path::PathBuf;

use anyhow::Context;

use super::tables;
use super::Format;
use crate::clock::Clock;
use crate::config::Settings;
use crate::credentials::TokenProvider;
use crate::members;
use crate::members::reconcile::{Fixed, Reconciled, Reconciler};
use crate::members::sync::{self, NewValues};
use crate::members::tags;
use crate::metrics::Metrics;
use crate::store::jobs;
use crate::store::members as stored;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Import a CSV of members: a header naming member_no and phone (and name, bonus, balance if
    /// wanted), a member a line. Upserts by member_no in one transaction; prints inserted / updated /
    /// unchanged / rejected and every rejected line; exits non-zero if any line was rejected.
    Import {
        file: PathBuf,
        #[arg(long)]
        appid: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// One member, by number, phone or the OpenID holding its card.
    #[command(group(clap::ArgGroup::new("by").required(true).args(["member_no", "phone", "openid"])))]
    Show {
        #[arg(long)]
        member_no: Option<String>,
        #[arg(long)]
        phone: Option<String>,
        #[arg(long)]
        openid: Option<String>,
        #[arg(long)]
        appid: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Set a member's points and balance (absolute; balance in fen) and queue their sync to WeChat,
    /// with a change message worded by --record-bonus / --record-balance.
    Update {
        #[arg(long)]
        member_no: String,
        #[arg(long)]
        bonus: Option<i64>,
        #[arg(long)]
        balance: Option<i64>,
        #[arg(long)]
        record_bonus: Option<String>,
        #[arg(long)]
        record_balance: Option<String>,
        #[arg(long)]
        appid: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Read every activated member card from WeChat and list the members whose points or balance
    /// differ from cardhook's; exits non-zero while any differ (or could not be read).
    Reconcile {
        #[arg(long)]
        card_id: Option<String>,
        #[arg(long)]
        appid: Option<String>,
        /// Queue the update of each member that differs, wait for the worker of `cardhook serve`
        /// to send them, and check those members again.
        #[arg(long)]
        fix: bool,
        /// With --fix: how long to wait for the updates (seconds).
        #[arg(long, default_value_t = 120)]
        wait: u64,
        /// WeChat reads in flight at once.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Put each bound member's OpenID under the WeChat user tag of its level (`[[member_tags]]`),
    /// creating missing tags, and take members who left a level out of its tag (50 a call). Members
    /// bound later, or whose level an import changes, are tagged by a job of `serve`.
    Tag {
        /// Say what would change (tags to create, OpenIDs to tag and untag), change nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        appid: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

/// The account a command is for: `--appid`, or the one configured.
pub fn account(settings: &Settings, named: Option<&str>) -> anyhow::Result<String> {
    match named {
        Some(appid) if settings.accounts.iter().any(|a| a.appid == appid) => Ok(appid.to_owned()),
        Some(appid) => anyhow::bail!("account {appid} is not in the configuration"),
        None => match settings.accounts.as_slice() {
            [only] => Ok(only.appid.clone()),
            [] => anyhow::bail!("no [[accounts]] configured"),
            _ => anyhow::bail!("several accounts are configured: say which with --appid"),
        },
    }
}

pub async fn run(args: Args, settings: &Settings) -> anyhow::Result<()> {
    match args.action {
        Action::Import {
            file,
            appid,
            format,
        } => {
            let appid = account(settings, appid.as_deref())?;
            let csv =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let db = super::database_to_read(settings).await?;
            let now = chrono::Utc::now().timestamp();
            let tagging = !settings.member_tags.is_empty();
            let bar = super::progress::Bar::new("members written");
            let report = members::import(&db, &appid, &csv, tagging, now, &|done, total| {
                bar.update(done, total)
            })
            .await;
            bar.finish();
            let report = report?;
            match format {
                Format::Json => super::print_json(&report)?,
                Format::Table | Format::Csv => print!("{}", tables::import_report(&report)),
            }
            anyhow::ensure!(
                report.rejected == 0,
                "{} line(s) rejected; the other lines were imported",
                report.rejected
            );
        }
        Action::Show {
            member_no,
            phone,
            openid,
            appid,
            format,
        } => {
            let appid = account(settings, appid.as_deref())?;
            let db = super::database_to_read(settings).await?;
            let found = if let Some(member_no) = member_no {
                stored::get(&db, &appid, &member_no)
                    .await?
                    .into_iter()
                    .collect()
            } else if let Some(phone) = phone {
                let phone = members::phone::normalise(&phone)?;
                stored::by_phone(&db, &appid, &phone)
                    .await?
                    .into_iter()
                    .collect()
            } else if let Some(openid) = openid {
                stored::by_openid(&db, &appid, &openid).await?
            } else {
                Vec::new()
            };
            anyhow::ensure!(!found.is_empty(), "no such member");
            let views: Vec<stored::MemberView> = found.into_iter().map(Into::into).collect();
            match (format, views.as_slice()) {
                (Format::Json, [one]) => super::print_json(one)?,
                (Format::Json, many) => super::print_json(&many)?,
                (Format::Table | Format::Csv, many) => println!("{}", tables::members_table(many)),
            }
        }
        Action::Update {
            member_no,
            bonus,
            balance,
            record_bonus,
            record_balance,
            appid,
            format,
        } => {
            let appid = account(settings, appid.as_deref())?;
            let db = super::database_to_read(settings).await?;
            let values = NewValues {
                bonus,
                balance,
                record_bonus,
                record_balance,
            };
            let now = chrono::Utc::now().timestamp();
            let member = sync::set_values(&db, &appid, &member_no, values, now).await?;
            let view = stored::MemberView::from(member);
            match format {
                Format::Json => super::print_json(&view)?,
                Format::Table | Format::Csv => println!("{}", tables::members_table(&[view])),
            }
        }
        Action::Tag {
            dry_run,
            appid,
            json,
        } => {
            anyhow::ensure!(
                !settings.member_tags.is_empty(),
                "no [[member_tags]] configured: map a level to a tag, e.g. level = \"gold\", tag = \"金卡会员\""
            );
            let appid = account(settings, appid.as_deref())?;
            let db = super::database_to_read(settings).await?;
            let tokens = TokenProvider::from_settings(settings, db.clone(), Metrics::new()?)?;
            let bound = stored::bound(&db, &appid).await?;
            let moves = tags::moves(&bound, &settings.tag_of_level());
            let now = Clock::system().now();
            let report = tags::apply(&db, &tokens, &appid, &moves, dry_run, now).await?;
            if json {
                super::print_json(&report)?;
            } else {
                let (created, moved) = match dry_run {
                    true => ("to create", "to tag"),
                    false => ("created", "tagged"),
                };
                println!(
                    "{} bound member(s); tags {created}: {}; OpenIDs {moved}: {}, out of an old tag: {} ({} call(s))",
                    bound.len(),
                    report.tags_created.join(", "),
                    report.tagged,
                    report.untagged,
                    report.calls
                );
            }
        }
        Action::Reconcile {
            card_id,
            appid,
            fix,
            wait,
            concurrency,
            format,
        } => {
            let appid = account(settings, appid.as_deref())?;
            let db = super::database_to_read(settings).await?;
            let tokens = TokenProvider::from_settings(settings, db.clone(), Metrics::new()?)?;
            let clock = Clock::system();
            let reconciler = Reconciler {
                db: &db,
                tokens: &tokens,
                clock: &clock,
                appid: &appid,
                concurrency,
            };
            let outcome = reconcile(&reconciler, card_id.as_deref(), fix, wait).await?;
            match format {
                Format::Json => super::print_json(&outcome)?,
                Format::Table | Format::Csv => print!("{}", tables::reconcile_report(&outcome)),
            }
            anyhow::ensure!(
                outcome.remaining().is_empty() && outcome.found.unread.is_empty(),
                "{} member(s) differ from WeChat, {} could not be read",
                outcome.remaining().len(),
                outcome.found.unread.len()
            );
        }
    }
    Ok(())
}

async fn reconcile(
    reconciler: &Reconciler<'_>,
    card_id: Option<&str>,
    fix: bool,
    wait: u64,
) -> anyhow::Result<Reconciled> {
    let to_check = reconciler.members(card_id).await?;
    let bar = super::progress::Bar::new("members read");
    let found = reconciler
        .check(&to_check, &|done, total| bar.update(done, total))
        .await;
    bar.finish();
    let found = found?;
    if !fix || found.drift.is_empty() {
        return Ok(Reconciled { found, fixed: None });
    }
    let keys = reconciler.queue_fixes(&found.drift).await?;
    eprintln!(
        "reconcile: {} update(s) queued; waiting for the worker of `cardhook serve`",
        keys.len()
    );
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(wait);
    loop {
        let unsettled = jobs::count_unsettled(reconciler.db, &keys).await?;
        if unsettled == 0 {
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{unsettled} of {} update(s) still queued after {wait} s: is `cardhook serve` running with [worker] enabled? (`cardhook jobs list` shows them)",
            keys.len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let drifted: std::collections::HashSet<&str> =
        found.drift.iter().map(|d| d.member_no.as_str()).collect();
    let again: Vec<_> = to_check
        .into_iter()
        .filter(|m| drifted.contains(m.member_no.as_str()))
        .collect();
    let bar = super::progress::Bar::new("members read again");
    let rechecked = reconciler
        .check(&again, &|done, total| bar.update(done, total))
        .await;
    bar.finish();
    let rechecked = rechecked?;
    let fixed = Fixed {
        queued: keys.len(),
        still_differ: rechecked.drift,
    };
    Ok(Reconciled {
        found,
        fixed: Some(fixed),
    })
}
