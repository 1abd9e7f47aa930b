//! A real headless browser for the H5 pages and the dashboard: Debian's `chromium`, driven through `chromedriver` over
//! the W3C WebDriver protocol (JSON over HTTP, spoken here with reqwest) at a phone's or a desktop's viewport.
//! Needs the `chromium` and `chromium-driver` packages, which `tools/test` installs; the test fails
//! with a message saying so when they are missing.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

/// A phone's screen, as chromium's mobile emulation takes it (an iPhone 12-sized viewport).
pub const PHONE: (u32, u32) = (390, 844);
/// A desktop's window.
pub const DESKTOP: (u32, u32) = (1280, 800);

/// The W3C key of an element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    http: reqwest::Client,
    session: String,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Start chromedriver on a free port and a headless chromium at a phone's viewport, with
    /// WeChat's in-app browser's user agent.
    pub async fn phone() -> Self {
        Self::start(json!({
            "mobileEmulation": {
                "deviceMetrics": { "width": PHONE.0, "height": PHONE.1, "pixelRatio": 3.0 },
                "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 \
                              (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI Language/zh_CN",
            },
        }))
        .await
    }

    /// A headless chromium with a desktop's viewport ([`DESKTOP`]).
    pub async fn desktop() -> Self {
        let browser = Self::start(json!({})).await;
        browser
            .command(
                reqwest::Method::POST,
                "/window/rect",
                Some(json!({ "width": DESKTOP.0, "height": DESKTOP.1 })),
            )
            .await;
        browser
    }

    /// Chromium with `extra` chromeOptions beside the common ones.
    async fn start(extra: Value) -> Self {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("the H5 browser test needs Debian's chromium-driver (tools/test installs it): {e}")
            });
        let profile = tempfile::tempdir().unwrap();
        let mut capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        }}});
        if let (Some(options), Some(extra)) = (
            capabilities["capabilities"]["alwaysMatch"]["goog:chromeOptions"].as_object_mut(),
            extra.as_object(),
        ) {
            options.extend(extra.clone());
        }
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let mut last = String::new();
        for _ in 0..100 {
            match http
                .post(format!("{base}/session"))
                .json(&capabilities)
                .send()
                .await
            {
                Ok(answer) => {
                    let answer: Value = answer.json().await.unwrap();
                    let Some(session) = answer["value"]["sessionId"].as_str() else {
                        panic!("chromedriver could not start a headless chromium (is Debian's chromium installed?): {answer}");
                    };
                    return Self {
                        http,
                        session: format!("{base}/session/{session}"),
                        driver,
                        _profile: profile,
                    };
                }
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not answer: {last}");
    }

    async fn command(&self, verb: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(verb, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        answer["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    /// The element `css` selects, waiting up to 10 s for it to appear.
    pub async fn find(&self, css: &str) -> String {
        for _ in 0..100 {
            let found = self
                .command(
                    reqwest::Method::POST,
                    "/element",
                    Some(json!({ "using": "css selector", "value": css })),
                )
                .await;
            if let Some(id) = found[ELEMENT].as_str() {
                return id.to_owned();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let page = self.command(reqwest::Method::GET, "/source", None).await;
        panic!("no {css} on the page: {page}");
    }

    pub async fn type_into(&self, element: &str, text: &str) {
        self.command(
            reqwest::Method::POST,
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    pub async fn click(&self, element: &str) {
        self.command(
            reqwest::Method::POST,
            &format!("/element/{element}/click"),
            Some(json!({})),
        )
        .await;
    }

    pub async fn text(&self, element: &str) -> String {
        let text = self
            .command(
                reqwest::Method::GET,
                &format!("/element/{element}/text"),
                None,
            )
            .await;
        text.as_str().unwrap_or_default().to_owned()
    }

    /// Run `script` (a function body) in the page; what it returns.
    pub async fn run(&self, script: &str) -> Value {
        self.command(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
        .await
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> Vec<u8> {
        use base64::Engine;
        let png = self
            .command(reqwest::Method::GET, "/screenshot", None)
            .await;
        base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap_or_default())
            .unwrap()
    }

    /// The page's address now (after any redirect).
    pub async fn url(&self) -> String {
        let url = self.command(reqwest::Method::GET, "/url", None).await;
        url.as_str().unwrap_or_default().to_owned()
    }

    /// Accept the dialog the page opened (`confirm`), waiting up to 10 s for it; its text.
    pub async fn accept_dialog(&self) -> String {
        for _ in 0..100 {
            let text = self
                .command(reqwest::Method::GET, "/alert/text", None)
                .await;
            if let Some(text) = text.as_str() {
                self.command(reqwest::Method::POST, "/alert/accept", Some(json!({})))
                    .await;
                return text.to_owned();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no dialog opened");
    }

    pub async fn close(mut self) {
        let _ = self.http.delete(&self.session).send().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}
