//! `cardhook members import|show`: the merchant's members, and the WeChat card each is bound to.

use std::path::PathBuf;

use anyhow::Context;

use super::Format;
use crate::config::Settings;
use crate::members;
use crate::report;
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
            let report = members::import(&db, &appid, &csv, now).await?;
            match format {
                Format::Json => super::print_json(&report)?,
                Format::Table | Format::Csv => print!("{}", report::import_report(&report)),
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
                (Format::Table | Format::Csv, many) => println!("{}", report::members_table(many)),
            }
        }
    }
    Ok(())
}
