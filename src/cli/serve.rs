//! `cardhook serve`: migrate, then run until SIGINT/SIGTERM.

use anyhow::Context;

use crate::app::{self, App};
use crate::clock::Clock;
use crate::config::Settings;
use crate::{shutdown, store};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Override `server.listen`.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Override `admin.listen`.
    #[arg(long, value_name = "ADDR")]
    pub admin_listen: Option<String>,
}

pub async fn run(args: Args, settings: &Settings) -> anyhow::Result<()> {
    settings.validate()?;
    if settings.accounts.is_empty() {
        anyhow::bail!("no [[accounts]] configured: add one to the config file (see README)");
    }
    let db = store::connect(&settings.database)
        .await
        .context("connecting to the database")?;
    store::migrate(&db).await.context("applying migrations")?;
    crate::webhooks::start_new_endpoints(&db, &settings.webhooks, Clock::system().now())
        .await
        .context("starting the new webhook endpoints")?;
    let listen = args.listen.as_deref().unwrap_or(&settings.server.listen);
    let listener = app::bind(listen).with_context(|| format!("binding {listen}"))?;
    let admin_listen = args
        .admin_listen
        .as_deref()
        .unwrap_or(&settings.admin.listen);
    let admin_listener =
        app::bind(admin_listen).with_context(|| format!("binding {admin_listen}"))?;
    let app = App::build(
        settings,
        listener,
        admin_listener,
        db.clone(),
        Clock::system(),
    )?;
    tracing::info!(
        callback = %app.callback_addr(),
        admin = %app.admin_addr(),
        accounts = settings.accounts.len(),
        "cardhook is listening: POST /wechat/{{appid}}"
    );
    app.run(shutdown::on_signals()).await?;
    // Every writer has stopped: close the pool (SQLite checkpoints its WAL).
    if let Err(e) = db.close().await {
        tracing::warn!(error.message = %e, "closing the database");
    }
    tracing::info!("stopped");
    Ok(())
}
