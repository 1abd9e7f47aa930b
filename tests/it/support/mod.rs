//! The test harness: a real cardhook on 127.0.0.1:0 with a fresh SQLite file per test.

pub mod backend;
pub mod browser;
pub mod burst;
pub mod fake_catalogue;
pub mod fake_codes;
pub mod fake_member_cards;
pub mod fake_messages;
pub mod fake_tags;
pub mod fake_till;
pub mod fake_wechat;
pub mod faults;
pub mod fixtures;
pub mod nginx;
pub mod powercut;
pub mod process;
pub mod python_server;
pub mod sms_gateway;
pub mod visitor;
pub mod webhook_sink;

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;

use cardhook::accounts::Accounts;
use cardhook::app::App;
use cardhook::clock::Clock;
use cardhook::config::{AccountSettings, Activation, CardSettings, Settings};
use cardhook::metrics::Metrics;
use cardhook::store::{self, channel_day};
use cardhook::wechat::Mode;
use cardhook::worker::{Outcome, Worker};
use entity::{card_binding, card_event};
use fake_wechat::FakeWeChat;
use sea_orm::{DatabaseConnection, EntityTrait, PaginatorTrait};
use secrecy::SecretString;
use tempfile::TempDir;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const KEY_B: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

/// One test account per mode; each has its own token and AppID.
pub fn account_for(mode: Mode) -> (&'static str, &'static str) {
    match mode {
        Mode::Plain => ("wxplain000000001", "plain-token"),
        Mode::Compat => ("wxcompat00000001", "compat-token"),
        Mode::Safe => ("wxsafe0000000001", "safe-token"),
    }
}

pub fn account_settings(
    appid: &str,
    token: &str,
    key: Option<&str>,
    mode: Mode,
) -> AccountSettings {
    AccountSettings {
        appid: appid.to_owned(),
        token: Some(SecretString::from(token.to_owned())),
        encoding_aes_key: key.map(|k| SecretString::from(k.to_owned())),
        app_secret: Some(SecretString::from(format!("secret-of-{appid}"))),
        token_endpoint: Default::default(),
        mode,
    }
}

pub const ADMIN_TOKEN: &str = "test-admin-token-of-24-chars+";

/// A member card activated on `activation`, with the membership number `template` and no extras.
pub fn member_card(card_id: &str, activation: Activation, template: &str) -> CardSettings {
    CardSettings {
        card_id: card_id.to_owned(),
        activation,
        membership_number: template.to_owned(),
        init_bonus: 0,
        init_balance: 0,
        init_bonus_record: None,
        init_custom_field_value1: None,
        init_custom_field_value2: None,
        init_custom_field_value3: None,
        background_pic_url: None,
        activate_begin_time: None,
        activate_end_time: None,
        bind_by: None,
        unknown_member: Default::default(),
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub client: reqwest::Client,
    pub db: DatabaseConnection,
    pub metrics: Metrics,
    pub settings: Settings,
    pub accounts: Accounts,
    pub db_path: PathBuf,
    pub dir: TempDir,
    pub fake_wechat: FakeWeChat,
    pub worker: Worker,
    pg: Option<backend::TestDatabase>,
    shutdown: CancellationToken,
    server: JoinHandle<Result<(), cardhook::app::AppError>>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A fresh app; `configure` edits the settings before the build (accounts, timeouts, limits).
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_on(backend::Backend::Sqlite, configure).await
}

/// A fresh app on `backend` (a new SQLite file, or a new PostgreSQL database).
pub async fn spawn_app_on(
    backend: backend::Backend,
    configure: impl FnOnce(&mut Settings),
) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let db_path = dir.path().join("cardhook.db");
    let pg = match backend {
        backend::Backend::Postgres => {
            Some(backend::TestDatabase::create(backend, dir.path()).await)
        }
        backend::Backend::Sqlite => None,
    };
    let fake_wechat = FakeWeChat::start().await;
    let mut settings = Settings::defaults().expect("defaults");
    settings.wechat.api_base = fake_wechat.uri();
    // Tests drive the worker with run_once(now); small timeouts, a short lease.
    settings.worker.enabled = false;
    settings.worker.api_timeout_ms = 500;
    settings.worker.lease_secs = 5;
    settings.admin.token = Some(SecretString::from(ADMIN_TOKEN.to_owned()));
    settings.database.url = SecretString::from(match &pg {
        Some(pg) => pg.url.clone(),
        None => format!("sqlite://{}?mode=rwc", db_path.display()),
    });
    settings.server.workers = 2;
    settings.accounts = [Mode::Plain, Mode::Compat, Mode::Safe]
        .into_iter()
        .map(|mode| {
            let (appid, token) = account_for(mode);
            let key = (mode != Mode::Plain).then_some(KEY_B);
            account_settings(appid, token, key, mode)
        })
        .collect();
    let listener = cardhook::app::bind("127.0.0.1:0").expect("bind");
    configure(&mut settings);
    // `{callback}` in web.public_url: this app's own address (a browser test reaches it there).
    let callback = listener.local_addr().expect("addr").to_string();
    if let Some(url) = settings.web.public_url.as_mut() {
        *url = url.replace("{callback}", &callback);
    }

    let db = store::connect(&settings.database).await.expect("connect");
    store::migrate(&db).await.expect("migrate");
    // As `serve` does before it listens.
    cardhook::webhooks::start_new_endpoints(&db, &settings.webhooks, 0)
        .await
        .expect("webhook endpoints");
    let admin_listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let app = App::build(
        &settings,
        listener,
        admin_listener,
        db.clone(),
        Clock::system(),
    )
    .expect("build app");
    let addr = app.callback_addr();
    let admin_addr = app.admin_addr();
    let metrics = app.metrics();
    let worker = app.worker();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(app.run(shutdown.clone()));
    let accounts = Accounts::from_settings(&settings.accounts).expect("accounts");
    TestApp {
        addr,
        admin_addr,
        client: reqwest::Client::new(),
        db,
        metrics,
        settings,
        accounts,
        db_path,
        dir,
        fake_wechat,
        worker,
        pg,
        shutdown,
        server,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// GET an admin path with the bearer token.
    pub async fn admin_get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("http://{}{path}", self.admin_addr))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("admin request")
    }

    /// POST (no body) to the admin API with the admin token.
    pub async fn admin_post(&self, path: &str) -> reqwest::Response {
        self.client
            .post(format!("http://{}{path}", self.admin_addr))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("admin request")
    }

    /// Send JSON to the admin API with the admin token.
    pub async fn admin_json(
        &self,
        verb: reqwest::Method,
        path: &str,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        self.client
            .request(verb, format!("http://{}{path}", self.admin_addr))
            .bearer_auth(ADMIN_TOKEN)
            .json(body)
            .send()
            .await
            .expect("admin request")
    }

    /// POST a body with a raw query string to `/wechat/{appid}`.
    pub async fn push_raw(
        &self,
        appid: &str,
        query: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        self.client
            .post(self.url(&format!("/wechat/{appid}?{query}")))
            .header("Content-Type", "text/xml")
            .body(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn event_rows(&self) -> Vec<card_event::Model> {
        card_event::Entity::find()
            .all(&self.db)
            .await
            .expect("query")
    }

    pub async fn event_count(&self) -> u64 {
        card_event::Entity::find()
            .count(&self.db)
            .await
            .expect("count")
    }

    pub async fn binding_count(&self) -> u64 {
        card_binding::Entity::find()
            .count(&self.db)
            .await
            .expect("count")
    }

    pub async fn binding(
        &self,
        appid: &str,
        card_id: &str,
        code: &str,
    ) -> Option<card_binding::Model> {
        card_binding::Entity::find_by_id((appid.to_owned(), card_id.to_owned(), code.to_owned()))
            .one(&self.db)
            .await
            .expect("query")
    }

    /// The summed counters of every row of one channel string (`outer_str`) of an account.
    pub async fn channel(
        &self,
        appid: &str,
        outer_id: i64,
        outer_str: &str,
    ) -> channel_day::Counts {
        let query = channel_day::StatsQuery {
            appid: Some(appid.to_owned()),
            ..Default::default()
        };
        let report = channel_day::stats(&self.db, &query).await.expect("stats");
        let mut sum = channel_day::Counts::default();
        for row in report
            .rows
            .iter()
            .filter(|r| r.outer_id == outer_id.into() && r.outer_str == outer_str)
        {
            sum.add(&row.counts);
        }
        sum
    }

    /// Run the worker at `now` until nothing is due; every job outcome, in order.
    pub async fn drain_jobs(&self, now: i64) -> Vec<cardhook::worker::outcome::JobOutcome> {
        let mut outcomes = Vec::new();
        for _ in 0..100 {
            match self.worker.run_once(now).await.expect("run_once") {
                Outcome::Ran(ran) => outcomes.extend(ran),
                Outcome::Empty => return outcomes,
            }
        }
        panic!("the queue did not settle: {outcomes:?}");
    }

    pub async fn job_rows(&self) -> Vec<entity::job::Model> {
        entity::job::Entity::find()
            .all(&self.db)
            .await
            .expect("query")
    }

    /// Another instance of this app on the same database (and the same fake WeChat): its callback
    /// address, and the token that stops it.
    pub async fn another_instance(&self) -> (SocketAddr, CancellationToken) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let admin_listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let db = store::connect(&self.settings.database)
            .await
            .expect("connect");
        let app = App::build(
            &self.settings,
            listener,
            admin_listener,
            db,
            Clock::system(),
        )
        .expect("build app");
        let addr = app.callback_addr();
        let stop = CancellationToken::new();
        tokio::spawn(app.run(stop.clone()));
        (addr, stop)
    }

    /// Stop the app, close its pool and drop its PostgreSQL database; the temp directory (with the
    /// SQLite file) is handed back so the caller can still look at it.
    pub async fn shutdown(self) -> TempDir {
        self.shutdown.cancel();
        self.server.await.expect("join").expect("server");
        self.db.close().await.expect("close");
        if let Some(pg) = self.pg {
            pg.drop_database().await;
        }
        self.dir
    }
}

/// Assert a rejection: status, the JSON error reason, and a message.
pub async fn assert_rejected(response: reqwest::Response, status: u16, reason: &str) {
    assert_eq!(
        response.status().as_u16(),
        status,
        "expected {status} {reason}"
    );
    let body: serde_json::Value = response.json().await.expect("JSON error body");
    assert_eq!(body["error"], reason, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}
