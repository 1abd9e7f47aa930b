//! Build the running application from Settings and a bound listener; run it until shutdown.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::middleware::from_fn;
use actix_web::{dev::Server, web, App as ActixApp, HttpServer};
use sea_orm::DatabaseConnection;
use secrecy::ExposeSecret;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::accounts::Accounts;
use crate::client_address::{limit_per_client, ClientSlots};
use crate::clock::Clock;
use crate::config::{ConfigError, Settings};
use crate::credentials::TokenProvider;
use crate::distribution::Distribution;
use crate::http::{admin_routes, callback_routes, AdminState, AppState};
use crate::ingest::{self, IngestConfig};
use crate::jobs::CardRules;
use crate::metrics::Metrics;
use crate::services::Services;
use crate::storage_health::StorageHealth;
use crate::store::{self, DatabaseFile, Db};
use crate::web::WebState;
use crate::webhooks::Webhooks;
use crate::worker::Worker;

/// Connections the kernel may hold for a listener before cardhook accepts them (capped by
/// `net.core.somaxconn`). std's 128 fills under a flood of connections, and a push whose SYN is
/// dropped waits a second for its retry.
const ACCEPT_QUEUE: i32 = 4096;

/// A listener on `addr` (`host:port`) with a deep accept queue.
pub fn bind(addr: &str) -> std::io::Result<TcpListener> {
    use std::net::ToSocketAddrs;
    let address = addr.to_socket_addrs()?.next().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the address resolves to nothing",
        )
    })?;
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(address),
        socket2::Type::STREAM,
        None,
    )?;
    socket.set_reuse_address(true)?;
    socket.bind(&address.into())?;
    socket.listen(ACCEPT_QUEUE)?;
    Ok(socket.into())
}

/// How long a halted app keeps answering (503, readiness 503) before it stops.
const HALT_GRACE: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("listener: {0}")]
    Io(#[from] std::io::Error),
    #[error("database: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("SMS sender: {0}")]
    Sms(String),
    #[error("storage failed; exiting so that the supervisor restarts cardhook: {0}")]
    Halted(String),
}

/// A built, not yet running, cardhook: the callback server, the ingest writer behind it, and the
/// activation worker.
pub struct App {
    server: Server,
    admin: Server,
    callback_addr: SocketAddr,
    admin_addr: SocketAddr,
    writer: JoinHandle<()>,
    metrics: Metrics,
    worker: Worker,
    run_worker: bool,
    /// A deliverer per `[[webhooks]]` endpoint.
    webhooks: Webhooks,
    /// Cancelled when storage failed for good (`ingest` module doc): the app stops and `run` fails.
    halt: CancellationToken,
    storage_health: StorageHealth,
    /// Closed last: on SQLite its writes' connection (`store::turn_connection`).
    db: Db,
}

impl App {
    /// Build on already bound listeners (tests bind 127.0.0.1:0) and a migrated database.
    pub fn build(
        settings: &Settings,
        listener: TcpListener,
        admin_listener: TcpListener,
        conn: DatabaseConnection,
        clock: Clock,
    ) -> Result<Self, AppError> {
        settings.validate()?;
        let accounts = Accounts::from_settings(&settings.accounts)?;
        let metrics = Metrics::new()?;
        let database_file = match DatabaseFile::path_in_url(settings.database.url.expose_secret()) {
            Some(path) => Some(DatabaseFile::at(path)?),
            None => None,
        };
        // On SQLite every write of serve takes a turn on the one writer (`store::db`).
        let (db, sqlite_writer) = match database_file.clone() {
            Some(file) => {
                let (turns, requests) = store::db::turns();
                let writes = store::turn_connection(&settings.database, file.path());
                (
                    Db::with_turns(conn.clone(), writes, turns),
                    Some((file, requests)),
                )
            }
            None => (Db::new(conn.clone()), None),
        };
        let tokens = TokenProvider::from_settings(settings, db.clone(), metrics.clone())?;
        let halt = CancellationToken::new();
        let stats_offset = settings.stats_offset()?;
        let services = Services {
            accounts,
            distribution: Distribution::new(
                db.clone(),
                tokens.clone(),
                clock.clone(),
                stats_offset,
            ),
            db: db.clone(),
            tokens,
            metrics: metrics.clone(),
            clock,
            wake_worker: Arc::new(Notify::new()),
            wake_webhooks: Arc::new(Notify::new()),
            storage_health: StorageHealth::new(halt.clone()),
            stats_offset,
        };
        let web_state =
            WebState::new(settings, &services).map_err(|e| AppError::Sms(e.to_string()))?;
        let worker = Worker::new(settings, &services)?;
        let webhooks = Webhooks::new(settings, &services)?;
        let admin_state = AdminState::new(settings, &services, database_file)?;
        for account in settings
            .accounts
            .iter()
            .filter(|a| a.mode == crate::wechat::Mode::Plain)
        {
            tracing::warn!(
                appid = %account.appid,
                "account in plain mode (明文模式): WeChat does not sign the body of its pushes, so anyone who captures one signed URL could send another body with it (cardhook stores one body per URL); use safe mode (安全模式)"
            );
        }
        if admin_state.admin_token.is_none() {
            tracing::warn!(
                "admin.token is not set: the admin API answers 401 to everything but /healthz"
            );
        }
        let ingest_config = IngestConfig {
            batch_max: settings.database.batch_max,
            queue_capacity: settings.database.queue_capacity,
            timeout: Duration::from_millis(settings.server.storage_timeout_ms),
            offset: settings.stats_offset()?,
            jobs: Arc::new(CardRules::from_settings(&settings.cards)),
            wake_worker: services.wake_worker.clone(),
            wake_webhooks: services.wake_webhooks.clone(),
            metrics: metrics.clone(),
            health: services.storage_health.clone(),
        };
        let (ingest, writer) = match sqlite_writer {
            Some((file, turns)) => ingest::sqlite::spawn(
                file,
                Duration::from_millis(settings.database.busy_timeout_ms),
                ingest_config,
                turns,
            )?,
            None => ingest::pool::spawn(conn, settings.database.writers, ingest_config),
        };
        let state = AppState::new(settings, &services, ingest);
        let slots = web::Data::new(ClientSlots::new(
            settings.server.max_requests_per_client,
            settings.trusted_proxies()?,
        ));
        let callback_addr = listener.local_addr()?;
        let mut server = HttpServer::new(move || {
            ActixApp::new()
                .wrap(from_fn(limit_per_client))
                .app_data(slots.clone())
                .app_data(web::Data::new(state.clone()))
                .app_data(web::Data::new(web_state.clone()))
                .configure(crate::web::routes)
                .configure(callback_routes(&state.accounts))
        })
        .disable_signals()
        .shutdown_timeout(10);
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        let server = server.listen(listener)?.run();
        let admin_addr = admin_listener.local_addr()?;
        let admin = HttpServer::new(move || {
            ActixApp::new()
                .app_data(web::Data::new(admin_state.clone()))
                .configure(admin_routes)
        })
        .disable_signals()
        .shutdown_timeout(10)
        .workers(1)
        .listen(admin_listener)?
        .run();
        Ok(Self {
            server,
            admin,
            callback_addr,
            admin_addr,
            writer,
            metrics,
            worker,
            run_worker: settings.worker.enabled,
            webhooks,
            halt,
            storage_health: services.storage_health.clone(),
            db,
        })
    }

    pub fn callback_addr(&self) -> SocketAddr {
        self.callback_addr
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    pub fn metrics(&self) -> Metrics {
        self.metrics.clone()
    }

    /// The activation worker (tests drive it with `run_once(now)` when `worker.enabled` is false).
    pub fn worker(&self) -> Worker {
        self.worker.clone()
    }

    /// Serve until `shutdown` is cancelled: stop accepting, let in-flight pushes commit and be
    /// answered, then let the writer drain and stop. When storage fails for good (`ingest` module
    /// doc) the app stops at once, the worker without draining, and this returns the failure.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), AppError> {
        let stop = CancellationToken::new();
        let worker = self
            .run_worker
            .then(|| tokio::spawn(self.worker.clone().run(stop.clone())));
        let deliverers = self.webhooks.spawn(stop.clone());
        let handle = self.server.handle();
        let admin_handle = self.admin.handle();
        let halt = self.halt.clone();
        let stopper = tokio::spawn(async move {
            tokio::select! {
                _ = shutdown.cancelled() => stop.cancel(),
                _ = halt.cancelled() => {
                    stop.cancel();
                    // Pushes get 503 and readiness says why for a moment, so that a load balancer
                    // takes this instance out before it goes away.
                    tokio::time::sleep(HALT_GRACE).await;
                }
            }
            // No new pushes; in-flight ones still commit (or, after a halt, get 503) and are answered.
            handle.stop(true).await;
            admin_handle.stop(true).await;
        });
        let admin = tokio::spawn(self.admin);
        let served = self.server.await;
        let _ = admin.await;
        stopper.abort();
        // The server (and with it every ingest handle) is gone: the writer finishes its batch and ends.
        if tokio::time::timeout(Duration::from_secs(10), self.writer)
            .await
            .is_err()
        {
            tracing::error!("ingest writer did not stop within 10 s");
        }
        let halted = self.halt.is_cancelled();
        // Each deliverer saves where it got to and gives its lease back.
        for deliverer in deliverers {
            let _ = deliverer.await;
        }
        if let Some(worker) = worker {
            if halted {
                // Its claims go back to the queue when their leases expire.
                worker.abort();
            } else {
                // The worker drains within worker.drain_timeout_secs, then releases its claims.
                let _ = worker.await;
            }
        }
        // Nothing writes any more: close the writes' connection (the pool is the caller's).
        self.db.close_writes().await;
        if halted {
            let reason = self.storage_health.failure().unwrap_or_default();
            return Err(AppError::Halted(reason));
        }
        Ok(served?)
    }
}
