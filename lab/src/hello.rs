//! `cardhook-lab hello`: the hello-world actix-web server that `cardhook bench` is compared with in
//! the same run (answers `success` to everything, stores nothing). With `--durable FILE` it writes
//! every body to FILE and syncs it before answering: the durable ceiling of this machine, with no
//! database.

use std::net::TcpListener;
use std::path::PathBuf;

use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::Context;

use crate::durable_log::DurableLog;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub listen: String,
    /// Answer each body only once it is written to this file and synced (group commit). The file is
    /// created or overwritten, as a ring of `--ring-mib` MiB.
    #[arg(long)]
    pub durable: Option<PathBuf>,
    /// The durable file's size: written in full once at start, then written round and round.
    #[arg(long, default_value_t = 64, requires = "durable")]
    pub ring_mib: u64,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let listener =
        TcpListener::bind(&args.listen).with_context(|| format!("binding {}", args.listen))?;
    let log = match &args.durable {
        Some(path) => Some(
            DurableLog::open(path, args.ring_mib << 20)
                .with_context(|| format!("creating the durable log {}", path.display()))?,
        ),
        None => None,
    };
    println!(
        "hello-world baseline on {}{}",
        listener.local_addr()?,
        if log.is_some() { ", durable" } else { "" }
    );
    HttpServer::new(move || App::new().configure(|config| routes(config, log.clone())))
        .listen(listener)?
        .run()
        .await?;
    Ok(())
}

fn routes(config: &mut web::ServiceConfig, log: Option<DurableLog>) {
    if let Some(log) = log {
        config.app_data(web::Data::new(log));
    }
    config.default_service(web::to(answer));
}

/// Reads the body, as any real handler does (an unread body makes actix close the connection).
async fn answer(body: web::Bytes, log: Option<web::Data<DurableLog>>) -> HttpResponse {
    if let Some(log) = log {
        if let Err(stopped) = log.append(body).await {
            return HttpResponse::ServiceUnavailable().body(stopped.to_string());
        }
    }
    HttpResponse::Ok().body("success")
}

#[cfg(test)]
mod tests {
    use actix_web::test;

    use super::*;

    #[actix_web::test]
    async fn a_durable_hello_answers_success_once_the_body_is_in_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("log");
        let log = DurableLog::open(&path, 1 << 16).expect("open");
        let app =
            test::init_service(App::new().configure(|config| routes(config, Some(log)))).await;
        let request = test::TestRequest::post()
            .uri("/wechat/any")
            .set_payload("<xml>push</xml>")
            .to_request();
        let answer = test::call_and_read_body(&app, request).await;
        assert_eq!(answer, "success");
        let file = std::fs::read(&path).expect("read the log");
        assert_eq!(&file[..15], b"<xml>push</xml>");
    }
}
