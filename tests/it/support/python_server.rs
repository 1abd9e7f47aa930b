//! A test server written in Python (`tests/*.py`) as a child process: it prints the port it
//! listens on, answers JSON on GET, takes `POST /control`, and is killed when dropped.

use std::process::Stdio;

use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub struct PythonServer {
    _child: Child,
    pub base: String,
    http: reqwest::Client,
}

impl PythonServer {
    /// Run `tests/{script}` with `env`; `packages` names what it needs from pip (tools/test
    /// installs it), for the message when it does not start.
    pub async fn start(script: &str, env: &[(&str, &str)], packages: &str) -> Self {
        let path = format!("{}/tests/{script}", env!("CARGO_MANIFEST_DIR"));
        let mut child = Command::new("python3")
            .arg(&path)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("python3 runs {path}: {e}"));
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let port = lines.next_line().await.unwrap().unwrap_or_else(|| {
            panic!("tests/{script} did not start: it needs `pip install {packages}` (tools/test installs it)")
        });
        Self {
            _child: child,
            base: format!("http://127.0.0.1:{}", port.trim()),
            http: reqwest::Client::new(),
        }
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> T {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// `POST /control` with `settings`.
    pub async fn control(&self, settings: Value) {
        self.http
            .post(format!("{}/control", self.base))
            .json(&settings)
            .send()
            .await
            .unwrap();
    }
}
