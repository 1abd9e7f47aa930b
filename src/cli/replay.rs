//! `cardhook replay`: seal XML files exactly as WeChat would (same code as the tests) and POST them.

use std::path::PathBuf;

use anyhow::{bail, Context};
use rand::{Rng, RngCore};

use crate::accounts::Accounts;
use crate::config::Settings;
use crate::wechat::Mode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The callback URL, e.g. http://127.0.0.1:8080/wechat/wx…; a bare host gets /wechat/{appid}.
    #[arg(long)]
    pub url: String,
    /// The account to sign as (required when several are configured).
    #[arg(long)]
    pub appid: Option<String>,
    /// Seal as plain, compat or safe mode (default: the account's mode).
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,
    /// Event XML files (e.g. fixtures/push/*.xml).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

pub async fn run(args: Args, settings: &Settings) -> anyhow::Result<()> {
    settings.validate()?;
    let accounts = Accounts::from_settings(&settings.accounts)?;
    let account = match &args.appid {
        Some(appid) => accounts
            .get(appid)
            .with_context(|| format!("account {appid} is not configured"))?,
        None => accounts
            .single()
            .context("several (or no) accounts configured: pass --appid")?,
    };
    let mode = args.mode.unwrap_or(account.mode);
    let url = callback_url(&args.url, account.appid.as_str())?;
    let client = reqwest::Client::new();
    let mut failures = 0;
    for file in &args.files {
        let xml =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let mut random = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut random);
        let nonce = rand::thread_rng()
            .gen_range(100_000_000u32..1_000_000_000)
            .to_string();
        let timestamp = chrono::Utc::now().timestamp();
        let sealed = match account
            .sealer()
            .seal(&xml, mode, timestamp, &nonce, &random)
        {
            Ok(sealed) => sealed,
            Err(e) => {
                failures += 1;
                println!("{}\tnot sent\t{e}", file.display());
                continue;
            }
        };
        let response = client
            .post(format!("{url}?{}", sealed.query))
            .header("Content-Type", "text/xml")
            .body(sealed.body)
            .send()
            .await;
        match response {
            Ok(r) => {
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                if !status.is_success() {
                    failures += 1;
                }
                println!("{}\t{}\t{}", file.display(), status.as_u16(), body.trim());
            }
            Err(e) => {
                failures += 1;
                println!("{}\terror\t{e}", file.display());
            }
        }
    }
    if failures > 0 {
        bail!(
            "{failures} of {} pushes were not answered 200",
            args.files.len()
        );
    }
    Ok(())
}

fn callback_url(given: &str, appid: &str) -> anyhow::Result<String> {
    let mut url = url::Url::parse(given).with_context(|| format!("--url {given} is not a URL"))?;
    if url.path() == "/" || url.path().is_empty() {
        url.set_path(&format!("/wechat/{appid}"));
    }
    url.set_query(None);
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_hosts_get_the_account_path() {
        assert_eq!(
            callback_url("http://127.0.0.1:8080", "wxA").unwrap(),
            "http://127.0.0.1:8080/wechat/wxA"
        );
        assert_eq!(
            callback_url("http://h/wechat", "wxA").unwrap(),
            "http://h/wechat"
        );
        assert!(callback_url("nope", "wxA").is_err());
    }
}
