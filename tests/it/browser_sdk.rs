//! The published browser SDK (`@raindrop-ai/browser-sdk` 0.0.2, unpacked as
//! npm ships it by `scripts/components.sh browser`) in a real headless
//! Chromium, driven over WebDriver (Debian's chromium-driver), from a page
//! served on another port than the edge: another origin, so every call
//! needs CORS (a preflight for `Authorization` + JSON), and the SDK's
//! promises resolve only if the answers carry the ids it reads.
//!
//! Shown: `trackAi` (an id given, and none: the edge assigns one),
//! `trackSignal` and `identify` with one object each, `trackAiPartial` and
//! its `finish()`, all resolve with the ids the edge stored, and the rows
//! land in ClickHouse.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::{Value, json};

use crate::common::Harness;
use crate::webdriver::Browser;
use downpour::registry::keys::Role;

/// The script the page runs: every SDK call the browser SDK has, results
/// into `window.__result`.
const PAGE_SCRIPT: &str = r#"
import Raindrop from "/sdk.js";
const out = {};
try {
  const r = new Raindrop({ apiKey: KEY, baseUrl: BASE });
  out.given = await r.trackAi([{ eventId: "browser-1", event: "chat", userId: "u-browser",
    input: "hi", output: "hello", model: "m-1", convoId: "c-1", properties: { page: "/x" } }]);
  out.assigned = await r.trackAi({ event: "chat", userId: "u-browser", input: "no id" });
  await r.trackSignal({ eventId: "browser-1", name: "thumbs_up", sentiment: "POSITIVE",
    comment: "nice" });
  await r.identify({ userId: "u-browser", traits: { plan: "pro" } });
  const partial = await r.trackAiPartial({ eventId: "browser-2", event: "stream",
    userId: "u-browser", input: "question" });
  out.partial = { internal: partial.internalEventId, submitted: partial.submittedEventId };
  out.finish = await partial.finish({ output: "answer" });
  out.ok = true;
} catch (e) {
  out.error = String(e) + " " + JSON.stringify(e && e.body !== undefined ? e.body : null);
}
window.__result = out;
"#;

fn sdk_path() -> String {
    std::env::var("DOWNPOUR_BROWSER_SDK").unwrap_or_else(|_| {
        format!(
            "{}/.cache/downpour/npm/browser-sdk-0.0.2/package/dist/index.js",
            std::env::var("HOME").unwrap_or_default()
        )
    })
}

/// Serves the page and the SDK on a port of its own; returns its origin.
async fn serve_page(key: &str, base: &str) -> String {
    let sdk = std::fs::read_to_string(sdk_path())
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/components.sh browser)", sdk_path()));
    let html = format!(
        "<!doctype html><html><body><script type=\"module\">const KEY = {key:?}; const BASE = {base:?};\n{PAGE_SCRIPT}</script></body></html>",
        key = key,
        base = base,
    );
    let app = Router::new()
        .route(
            "/",
            get(move || async move { ([(header::CONTENT_TYPE, "text/html")], html.clone()) }),
        )
        .route(
            "/sdk.js",
            get(move || async move {
                ([(header::CONTENT_TYPE, "text/javascript")], sdk.clone()).into_response()
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let origin = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    origin
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_sdk_works_unmodified_from_another_origin() {
    let h = Harness::start("browser").await;
    let key = h.write_key("web").await;
    let page = serve_page(&key, &format!("{}/v1/", h.base)).await;
    assert_ne!(page, h.base, "the page must be another origin");
    let browser = Browser::start(1280, 800).await;
    browser.open(&format!("{page}/")).await;
    let out = browser
        .wait_for(
            "the page's result",
            "return window.__result || null;",
            json!([]),
        )
        .await;
    browser.quit().await;
    assert_eq!(out["ok"], json!(true), "{out}");
    assert_eq!(out["given"]["eventIds"], json!(["browser-1"]), "{out}");
    let assigned = out["assigned"]["eventIds"][0]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(!assigned.is_empty() && assigned != "browser-1", "{out}");
    assert_eq!(out["partial"]["internal"], json!("browser-2"), "{out}");
    assert_eq!(out["partial"]["submitted"], json!("browser-2"), "{out}");
    assert_eq!(
        out["finish"]["internalEventId"],
        json!("browser-2"),
        "{out}"
    );

    // What the SDK was told is what was stored.
    let sql = format!(
        "SELECT count() FROM events_view WHERE org = ? AND event_id IN ('browser-1', '{assigned}', 'browser-2')"
    );
    assert_eq!(h.wait_count(&sql, "web", 3).await, 3);
    let sql = "SELECT count() FROM signals_view WHERE org = ? AND event_id = 'browser-1' \
               AND signal_name = 'thumbs_up' AND sentiment = 'POSITIVE'";
    assert_eq!(h.wait_count(sql, "web", 1).await, 1);
    let sql = "SELECT count() FROM users_view WHERE org = ? AND user_id = 'u-browser' \
               AND traits LIKE '%pro%'";
    assert_eq!(h.wait_count(sql, "web", 1).await, 1);
    let sql = "SELECT count() FROM events_view WHERE org = ? AND event_id = 'browser-2' \
               AND ai_input = 'question' AND ai_output = 'answer'";
    assert_eq!(h.wait_count(sql, "web", 1).await, 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preflight_is_answered_and_only_browser_callers_get_the_ids_body() {
    let h = Harness::start("cors").await;
    let key = h.write_key("web").await;
    // The preflight a page sends before a call with Authorization + JSON.
    let preflight = h
        .http
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/v1/events/track", h.base),
        )
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .expect("preflight");
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let allowed = |name: &str| {
        preflight
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    assert_eq!(
        allowed("access-control-allow-origin"),
        "https://app.example"
    );
    assert!(allowed("access-control-allow-methods").contains("post"));
    assert!(allowed("access-control-allow-headers").contains("authorization"));
    assert!(!allowed("access-control-max-age").is_empty());
    let body = r#"[{"event_id":"c-1","user_id":"u","event":"e"},{"user_id":"u","event":"e","timestamp":"2026-12-01T10:00:00.123Z"}]"#;
    // A browser's call: 200 with the ids in item order (the second derived).
    let r = h
        .http
        .post(format!("{}/v1/events/track", h.base))
        .header("origin", "https://app.example")
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://app.example")
    );
    let answer: Value = serde_json::from_str(&r.text().await.expect("body")).expect("json");
    let ids = answer["events"].as_array().expect("events").clone();
    assert_eq!(ids.len(), 2, "{answer}");
    assert_eq!(ids[0]["event_id"], json!("c-1"));
    // The same body again from a server (no Origin): the documented 204,
    // and the derived id is the same one (it is a hash of the item).
    let again = h.post("/v1/events/track", Some(&key), None, body).await;
    assert_eq!(again.status, 204, "{}", again.body);
    assert!(again.body.is_empty());
    let derived = ids[1]["event_id"].as_str().expect("id").to_string();
    let sql = format!("SELECT count() FROM events_view WHERE org = ? AND event_id = '{derived}'");
    assert_eq!(h.wait_count(&sql, "web", 1).await, 1);
    // Refusals keep their JSON error body and are readable by the page.
    let refused = h
        .http
        .post(format!("{}/v1/events/track", h.base))
        .header("origin", "https://app.example")
        .header("authorization", "Bearer dp_nope_nope")
        .body("[]")
        .send()
        .await
        .expect("sent");
    assert_eq!(refused.status(), 401);
    assert!(
        refused
            .headers()
            .contains_key("access-control-allow-origin")
    );
    h.stop().await;
}

/// A project's `allowed_origins`: pages on other origins get 403 (readable
/// by the page: the answer still carries CORS headers), servers (no
/// `Origin`) are never refused by it, and `null` opens it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_with_allowed_origins_refuses_pages_on_other_origins() {
    let h = Harness::start("origins").await;
    let admin = h.key("web", None, Role::Admin).await;
    let key = h.write_key("web").await;
    for (bad, param) in [
        (json!(["app.example"]), "settings.allowed_origins[0]"),
        (
            json!(["https://app.example/path"]),
            "settings.allowed_origins[0]",
        ),
        (json!([]), "settings.allowed_origins"),
        (json!("https://app.example"), "settings.allowed_origins"),
    ] {
        let body = json!({"slug": "shop", "settings": {"allowed_origins": bad}});
        let r = h.call("POST", "/v1/projects", &admin, Some(body)).await;
        assert_eq!(r.status, 400, "{}", r.body);
        assert_eq!(r.error()["param"], param, "{}", r.body);
    }
    let body = json!({"slug": "shop", "settings": {"allowed_origins": ["HTTPS://Shop.Example"]}});
    let created = h.call("POST", "/v1/projects", &admin, Some(body)).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(
        created.json()["settings"]["allowed_origins"],
        json!(["https://shop.example"])
    );
    let send = |origin: Option<&'static str>, event_id: &'static str| {
        let mut request = h
            .http
            .post(format!("{}/v1/events/track", h.base))
            .header("authorization", format!("Bearer {key}"))
            .header("x-raindrop-project-id", "shop")
            .header("content-type", "application/json")
            .body(format!(
                r#"[{{"event_id":"{event_id}","user_id":"u","event":"e"}}]"#
            ));
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        async move { request.send().await.expect("sent") }
    };
    let allowed = send(Some("https://shop.example"), "o-allowed").await;
    assert_eq!(allowed.status(), 200);
    let refused = send(Some("https://evil.example"), "o-refused").await;
    assert_eq!(refused.status(), 403);
    assert_eq!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://evil.example"),
        "the page can read why it was refused"
    );
    let error: Value = serde_json::from_str(&refused.text().await.expect("body")).expect("json");
    assert_eq!(error["error"]["param"], "Origin", "{error}");
    assert_eq!(send(None, "o-server").await.status(), 204);
    // Back to any origin.
    let opened = h
        .call(
            "PATCH",
            "/v1/projects/shop",
            &admin,
            Some(json!({"settings": {"allowed_origins": null}})),
        )
        .await;
    assert_eq!(opened.status, 200, "{}", opened.body);
    assert_eq!(
        send(Some("https://evil.example"), "o-later").await.status(),
        200
    );
    let sql = "SELECT count() FROM events_view WHERE org = ? AND project = 'shop' \
               AND event_id IN ('o-allowed', 'o-server', 'o-later')";
    assert_eq!(h.wait_count(sql, "web", 3).await, 3);
    let sql = "SELECT count() FROM events_view WHERE org = ? AND event_id = 'o-refused'";
    assert_eq!(h.wait_count(sql, "web", 0).await, 0);
    h.stop().await;
}
