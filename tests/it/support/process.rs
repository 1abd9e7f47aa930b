//! The real `cardhook serve` binary as a child process, with its log collected.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, Command};

pub struct ServeProcess {
    child: Child,
    lines: Lines<BufReader<ChildStderr>>,
    pub log: String,
    pub callback: String,
    pub admin: String,
}

impl ServeProcess {
    /// Start `cardhook serve --config <config>` on ephemeral ports with `RUST_LOG=<log_level>`.
    pub async fn start(config: &Path, log_level: &str) -> Self {
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
            .env("RUST_LOG", log_level)
            .env("NO_COLOR", "1")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut process = Self {
            child,
            lines,
            log: String::new(),
            callback: String::new(),
            admin: String::new(),
        };
        let started = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = process.lines.next_line().await.unwrap() {
                process.log.push_str(&line);
                process.log.push('\n');
                if let (Some(callback), Some(admin)) =
                    (field(&line, "callback="), field(&line, "admin="))
                {
                    return (callback, admin);
                }
            }
            panic!("serve exited before listening:\n{}", process.log);
        })
        .await
        .expect("serve started");
        (process.callback, process.admin) = started;
        process
    }

    pub fn pid(&self) -> String {
        self.child.id().unwrap().to_string()
    }

    /// Send SIGTERM (without waiting).
    pub async fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid()])
            .status()
            .await
            .unwrap();
        assert!(status.success());
    }

    /// Wait for the process to exit; its status and the whole log.
    pub async fn wait(mut self) -> (ExitStatus, String) {
        tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = self.lines.next_line().await.unwrap() {
                self.log.push_str(&line);
                self.log.push('\n');
            }
            let status = self.child.wait().await.unwrap();
            (status, self.log)
        })
        .await
        .expect("serve stopped")
    }
}

fn field(line: &str, name: &str) -> Option<String> {
    line.split(name)
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
}
