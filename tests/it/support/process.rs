//! The real `cardhook serve` binary as a child process; its log is drained continuously (a full
//! pipe would block the server) and kept for assertions.

use std::path::Path;
use std::process::{ExitStatus, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

pub struct ServeProcess {
    child: Child,
    log: Arc<Mutex<String>>,
    drain: JoinHandle<()>,
    pub callback: String,
    pub admin: String,
}

impl ServeProcess {
    /// Start `cardhook serve --config <config>` on ephemeral ports with `RUST_LOG=<filter>` (the
    /// start-up line is always kept, whatever the filter).
    pub async fn start(config: &Path, filter: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cardhook"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
                "--config",
            ])
            .arg(config)
            .env("RUST_LOG", format!("{filter},cardhook::cli::serve=info"))
            .env("NO_COLOR", "1")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let log = Arc::new(Mutex::new(String::new()));
        let (listening, addresses) = tokio::sync::oneshot::channel();
        let sink = log.clone();
        let drain = tokio::spawn(async move {
            let mut listening = Some(listening);
            while let Ok(Some(line)) = lines.next_line().await {
                if let (Some(callback), Some(admin)) =
                    (field(&line, "callback="), field(&line, "admin="))
                {
                    if let Some(tx) = listening.take() {
                        let _ = tx.send((callback, admin));
                    }
                }
                let mut log = sink.lock().await;
                log.push_str(&line);
                log.push('\n');
            }
        });
        let (callback, admin) = match tokio::time::timeout(Duration::from_secs(60), addresses).await
        {
            Ok(Ok(addresses)) => addresses,
            _ => panic!("serve did not start listening:\n{}", log.lock().await),
        };
        Self {
            child,
            log,
            drain,
            callback,
            admin,
        }
    }

    pub fn pid(&self) -> String {
        self.child.id().unwrap().to_string()
    }

    /// Send SIGTERM (without waiting).
    pub async fn terminate(&self) {
        self.signal("-TERM").await;
    }

    /// SIGKILL: the process dies wherever it is, nothing flushed, nothing answered.
    pub async fn kill_hard(mut self) {
        self.signal("-KILL").await;
        let _ = self.child.wait().await;
    }

    async fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.pid()])
            .status()
            .await
            .unwrap();
        assert!(status.success());
    }

    /// Wait for the process to exit; its status and the whole log.
    pub async fn wait(mut self) -> (ExitStatus, String) {
        let status = tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .expect("serve stopped")
            .unwrap();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.drain).await;
        let log = self.log.lock().await.clone();
        (status, log)
    }
}

/// The URL of a SQLite database file, created if missing.
pub fn sqlite_url(file: &Path) -> String {
    format!("sqlite://{}?mode=rwc", file.display())
}

/// A config for a `serve` child: the database at `db_url`, the safe test account (with an
/// AppSecret), the WeChat API at `api_base`, plus `extra` TOML (worker settings, cards).
pub fn write_config(dir: &Path, db_url: &str, api_base: &str, extra: &str) -> std::path::PathBuf {
    let (appid, token) = super::account_for(cardhook::wechat::Mode::Safe);
    let config = dir.join("cardhook.toml");
    let key = super::KEY_B;
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"{db_url}\"\n[wechat]\napi_base = \"{api_base}\"\n{extra}\n\
             [[accounts]]\nappid = \"{appid}\"\ntoken = \"{token}\"\nencoding_aes_key = \"{key}\"\napp_secret = \"s\"\nmode = \"safe\"\n",
        ),
    )
    .unwrap();
    config
}

fn field(line: &str, name: &str) -> Option<String> {
    line.split(name)
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
}

/// Run `cardhook <command> --config <config> <args…>` (async: the test's runtime hosts the server).
pub async fn run_cli(command: &str, config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cardhook"))
        .arg(command)
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .await
        .unwrap()
}

/// Run on a terminal (a pseudo-terminal of util-linux's `script`): stdout and stderr together, as a
/// person at the terminal sees them.
pub async fn run_cli_on_terminal(command: &str, config: &Path, args: &[&str]) -> Output {
    let quote = |word: &str| format!("'{}'", word.replace('\'', "'\\''"));
    let mut line = vec![
        quote(env!("CARGO_BIN_EXE_cardhook")),
        quote(command),
        "--config".to_owned(),
        quote(&config.display().to_string()),
    ];
    line.extend(args.iter().map(|a| quote(a)));
    Command::new("script")
        .args(["-qec", &line.join(" "), "/dev/null"])
        .env("TERM", "xterm")
        .output()
        .await
        .expect("util-linux's script (a pseudo-terminal)")
}

/// Run, require success, return stdout.
pub async fn run_cli_ok(command: &str, config: &Path, args: &[&str]) -> String {
    let output = run_cli(command, config, args).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "cardhook {command} {args:?}: {stderr}"
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Seal `xml` as WeChat does for the safe test account and POST it to the `serve` at `callback`.
pub async fn push_to(callback: &str, xml: &str) {
    let account = super::burst::safe_account();
    let nonce = rand::random::<u32>().to_string();
    let sealed = account
        .sealer()
        .seal(
            xml,
            cardhook::wechat::Mode::Safe,
            chrono::Utc::now().timestamp(),
            &nonce,
            &rand::random(),
        )
        .unwrap();
    let url = format!(
        "http://{callback}/wechat/{}?{}",
        account.appid, sealed.query
    );
    let response = reqwest::Client::new()
        .post(url)
        .header("Content-Type", "text/xml")
        .body(sealed.body)
        .send()
        .await
        .unwrap();
    super::fixtures::assert_success(response).await;
}
