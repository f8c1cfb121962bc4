//! A headless Chromium (Debian's `chromium` + `chromium-driver`, installed
//! by `scripts/components.sh browser`) driven over the W3C WebDriver
//! protocol: the few commands the browser tests use, over plain HTTP.
//!
//! Every wait polls the page with a deadline ([`DEADLINE`]); clicks and
//! typing go through WebDriver's element commands, as a user's would.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::DEADLINE;

/// The Tab key, as WebDriver names it.
pub const TAB: &str = "\u{E004}";
/// The Enter key.
pub const ENTER: &str = "\u{E007}";

/// A WebDriver session of a headless Chromium.
pub struct Browser {
    http: reqwest::Client,
    url: String,
    _driver: tokio::process::Child,
}

impl Browser {
    /// A new browser, its window `width` × `height` CSS pixels.
    pub async fn start(width: u32, height: u32) -> Browser {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let driver = tokio::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver (scripts/components.sh browser)");
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(started.elapsed() < DEADLINE, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut options = json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--hide-scrollbars",
                     format!("--window-size={width},{height}")]
        });
        // A headless window is at least 500 px wide: a phone's viewport is
        // emulated instead (as DevTools' device mode does).
        if width < 500 {
            options["mobileEmulation"] = json!({"deviceMetrics":
                {"width": width, "height": height, "pixelRatio": 1.0}});
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": options
        }}});
        let session = post(&http, &format!("{base}/session"), &caps).await;
        let id = session["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {session}"))
            .to_string();
        Browser {
            http,
            url: format!("{base}/session/{id}"),
            _driver: driver,
        }
    }

    /// Navigates to `page`.
    pub async fn open(&self, page: &str) {
        self.command("url", &json!({ "url": page })).await;
    }

    /// Runs `script` (a function body; `arguments` are `args`) and returns
    /// its result.
    pub async fn exec(&self, script: &str, args: Value) -> Value {
        let answer = self
            .command("execute/sync", &json!({ "script": script, "args": args }))
            .await;
        answer["value"].clone()
    }

    /// Polls `script` until it returns something other than null, false or
    /// an empty string, and returns that; fails naming `what` at the
    /// deadline.
    pub async fn wait_for(&self, what: &str, script: &str, args: Value) -> Value {
        let started = Instant::now();
        loop {
            let value = self.exec(script, args.clone()).await;
            let done = !matches!(&value, Value::Null | Value::Bool(false))
                && value != Value::String(String::new());
            if done {
                return value;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "waited for {what}; the page shows: {}",
                self.text("body").await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The element `css` selects, once it is there and displayed.
    async fn element(&self, css: &str) -> String {
        let started = Instant::now();
        loop {
            let found = self
                .command("element", &json!({ "using": "css selector", "value": css }))
                .await;
            if let Some(id) = found["value"]
                .as_object()
                .and_then(|o| o.values().next())
                .and_then(|v| v.as_str())
            {
                let shown = self
                    .get(&format!("element/{id}/displayed"))
                    .await
                    .get("value")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                if shown {
                    return id.to_string();
                }
            }
            assert!(started.elapsed() < DEADLINE, "no visible {css}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks the element `css` selects (once visible). An element the
    /// page replaced between finding and clicking it (a refresh re-drew
    /// its row) is found again.
    pub async fn click(&self, css: &str) {
        let started = Instant::now();
        loop {
            let id = self.element(css).await;
            let answer = self
                .command(&format!("element/{id}/click"), &json!({}))
                .await;
            if answer["value"].is_null() {
                return;
            }
            let stale = answer["value"]["error"] == "stale element reference";
            assert!(
                stale && started.elapsed() < DEADLINE,
                "click {css}: {answer}"
            );
        }
    }

    /// Clears the field `css` selects and types `text` into it, key by key.
    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.command(&format!("element/{id}/clear"), &json!({}))
            .await;
        let answer = self
            .command(&format!("element/{id}/value"), &json!({ "text": text }))
            .await;
        assert!(answer["value"].is_null(), "type into {css}: {answer}");
    }

    /// Presses `keys` one after another on whatever has the focus
    /// (WebDriver key codes: [`TAB`], [`ENTER`], or plain characters).
    pub async fn press(&self, keys: &[&str]) {
        let actions: Vec<Value> = keys
            .iter()
            .flat_map(|k| {
                [
                    json!({"type": "keyDown", "value": k}),
                    json!({"type": "keyUp", "value": k}),
                ]
            })
            .collect();
        let body = json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]});
        let answer = self.command("actions", &body).await;
        assert!(answer["value"].is_null(), "keys: {answer}");
    }

    /// The element that has the focus, as `tag#id[data-action]`.
    pub async fn focused(&self) -> String {
        let value = self
            .exec(
                "const e = document.activeElement; \
                 return e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') \
                   + (e.dataset.action ? '[' + e.dataset.action + ']' : '');",
                json!([]),
            )
            .await;
        value.as_str().unwrap_or_default().to_string()
    }

    /// The rendered text of the first element `css` selects ("" if none).
    pub async fn text(&self, css: &str) -> String {
        let value = self
            .exec(
                "const n = document.querySelector(arguments[0]); return n ? n.innerText : '';",
                json!([css]),
            )
            .await;
        value.as_str().unwrap_or_default().to_string()
    }

    /// A PNG of the viewport, written to `path`.
    pub async fn screenshot(&self, path: &std::path::Path) {
        use base64::Engine as _;
        let answer = self.get("screenshot").await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(answer["value"].as_str().expect("screenshot"))
            .expect("base64");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        std::fs::write(path, png).expect("screenshot written");
    }

    /// Ends the session.
    pub async fn quit(self) {
        let _ = self.http.delete(&self.url).send().await;
    }

    async fn command(&self, command: &str, body: &Value) -> Value {
        post(&self.http, &format!("{}/{command}", self.url), body).await
    }

    async fn get(&self, command: &str) -> Value {
        answer(self.http.get(format!("{}/{command}", self.url))).await
    }
}

async fn post(http: &reqwest::Client, url: &str, body: &Value) -> Value {
    answer(
        http.post(url)
            .header("content-type", "application/json")
            .body(body.to_string()),
    )
    .await
}

/// Sends a WebDriver request and reads its JSON answer.
async fn answer(request: reqwest::RequestBuilder) -> Value {
    let text = request
        .send()
        .await
        .expect("webdriver request")
        .text()
        .await
        .expect("webdriver answer");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}
