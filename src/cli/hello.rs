//! `cardhook hello`: the hello-world actix-web server that `cardhook bench` is compared with in the
//! same run (answers `success` to everything, stores nothing).

use std::net::TcpListener;

use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub listen: String,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let listener =
        TcpListener::bind(&args.listen).with_context(|| format!("binding {}", args.listen))?;
    println!("hello-world baseline on {}", listener.local_addr()?);
    HttpServer::new(|| {
        App::new().default_service(web::to(|body: web::Bytes| async move {
            // Read the body, as any real handler does: an unread body makes actix close the connection.
            let _ = body.len();
            HttpResponse::Ok().body("success")
        }))
    })
    .listen(listener)?
    .run()
    .await?;
    Ok(())
}
