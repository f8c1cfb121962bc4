//! The dashboard (issue 12) in a real headless Chromium, against the real
//! broker and ClickHouse: what an admin and a member see and do, through
//! the page only (clicks and typing over WebDriver); the API is asked
//! afterwards to confirm what the page did.
//!
//! The screenshots the tests take are written to `.run/test/screenshots`
//! (or `$DOWNPOUR_SCREENSHOTS`); `scripts/screenshots.sh` runs these tests
//! with `DOWNPOUR_SCREENSHOTS=docs/dashboard` to refresh the README's.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::common::Harness;
use crate::webdriver::{Browser, ENTER, TAB};
use downpour::registry::keys::Role;

const ORG: &str = "dash";

fn screenshot_path(name: &str) -> PathBuf {
    let dir = std::env::var("DOWNPOUR_SCREENSHOTS").unwrap_or_else(|_| {
        let run = std::env::var("DOWNPOUR_RUN_DIR").unwrap_or_else(|_| ".run/test".into());
        format!("{run}/screenshots")
    });
    PathBuf::from(dir).join(format!("{name}.png"))
}

/// Signs in with `key` (typed, then Enter) and waits for the projects view.
async fn sign_in(browser: &Browser, key: &str, role: &str) {
    browser.type_into("#signin-key", key).await;
    browser.press(&[ENTER]).await;
    browser
        .wait_for(
            "signed in, the projects listed",
            "const w = document.querySelector('#whoami').textContent; \
             return w.includes(arguments[0]) && !document.querySelector('#view-projects').hidden \
                && document.querySelector('#projects-table tr[data-slug=default]') !== null;",
            json!([role]),
        )
        .await;
}

/// `count` events with ids `{prefix}-{i}` (user `u-{i % 2}`), a second
/// apart, the last a few seconds ago.
fn events(prefix: &str, count: usize) -> String {
    let now = chrono::Utc::now();
    let items: Vec<Value> = (0..count)
        .map(|i| {
            let at = now - chrono::Duration::seconds((count - i) as i64 + 5);
            json!({"event_id": format!("{prefix}-{i}"), "user_id": format!("u-{}", i % 2),
                   "timestamp": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                   "event": if i == 0 { "chat" } else { "search" },
                   "ai_data": {"model": "gpt-x", "input": format!("question {i}"), "output": "answer"}})
        })
        .collect();
    Value::Array(items).to_string()
}

/// A span linked to `event_id` (as the Python SDK's Traceloop writes it).
fn span_export(event_id: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    json!({"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"spans": [
        {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "00f067aa0ba902b7",
         "name": "llm-call", "startTimeUnixNano": (now - 2_000_000_000).to_string(),
         "endTimeUnixNano": now.to_string(), "status": {"code": 1},
         "attributes": [
            {"key": "traceloop.association.properties.event_id", "value": {"stringValue": event_id}},
            {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-x"}}]}
    ]}]}]})
    .to_string()
}

/// The number of rows `css` selects.
async fn rows(browser: &Browser, css: &str) -> u64 {
    browser
        .exec(
            "return document.querySelectorAll(arguments[0]).length;",
            json!([css]),
        )
        .await
        .as_u64()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_adopts_a_pending_slug_explores_its_events_and_archives_a_project() {
    let h = Harness::start("dashboard").await;
    let admin = h.key(ORG, None, Role::Admin).await;
    let write = h.write_key(ORG).await;

    // The page is served with a policy that allows this origin only.
    let page = h
        .http
        .get(format!("{}/dashboard", h.base))
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 200);
    let csp = page
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));

    let browser = Browser::start(1280, 900).await;
    browser.open(&format!("{}/dashboard", h.base)).await;

    // A wrong key, then a write key: clear messages, still signed out.
    browser.type_into("#signin-key", "dp_notakey_000").await;
    browser.click("#signin-form button[type=submit]").await;
    let message = browser
        .wait_for(
            "the wrong-key message",
            "const e = document.querySelector('#signin-error'); return e.hidden ? '' : e.textContent;",
            json!([]),
        )
        .await;
    assert!(
        message.as_str().unwrap().contains("not accepted"),
        "{message}"
    );
    browser.type_into("#signin-key", &write).await;
    browser.click("#signin-form button[type=submit]").await;
    browser
        .wait_for(
            "the write-key message",
            "return document.querySelector('#signin-error').textContent.includes('write key');",
            json!([]),
        )
        .await;
    let signed_out = browser
        .exec(
            "return !document.querySelector('#view-signin').hidden && document.querySelector('#nav').hidden;",
            json!([]),
        )
        .await;
    assert_eq!(signed_out, json!(true), "a write key does not sign in");

    sign_in(&browser, &admin, "admin").await;
    // The key is in the tab's session storage, not in the URL.
    let url = browser.exec("return location.href;", json!([])).await;
    assert!(!url.as_str().unwrap().contains(&admin), "{url}");
    let stored = browser
        .exec("return sessionStorage.getItem('downpour.key');", json!([]))
        .await;
    assert_eq!(stored, json!(admin));
    // `default` shows as Production, with no archive button.
    let default_row = browser.text("#projects-table tr[data-slug=default]").await;
    assert!(default_row.contains("Production"), "{default_row}");
    assert_eq!(
        rows(&browser, "#projects-table tr[data-slug=default] button").await,
        0
    );

    // Create a project: the slug is checked as it is typed; the API's own
    // error is shown for a slug that exists.
    browser.type_into("#create-slug", "Old App").await;
    let hint = browser.text("#create-hint").await;
    assert!(hint.starts_with("Not valid"), "{hint}");
    browser.type_into("#create-slug", "old-app").await;
    browser.type_into("#create-name", "Old app").await;
    browser.click("#create-submit").await;
    browser
        .wait_for(
            "old-app in the projects table",
            "return document.querySelector('#projects-table tr[data-slug=old-app]') !== null;",
            json!([]),
        )
        .await;
    browser.type_into("#create-slug", "old-app").await;
    browser.click("#create-submit").await;
    let refused = browser
        .wait_for(
            "the API's refusal",
            "const e = document.querySelector('#create-error'); return e.hidden ? '' : e.textContent;",
            json!([]),
        )
        .await;
    assert!(
        refused.as_str().unwrap().contains("already exists"),
        "{refused}"
    );
    browser.type_into("#create-slug", "").await;

    // Data sent to a slug nobody created appears in the panel, with its
    // count, without a reload.
    browser.exec("window.__same_page = true;", json!([])).await;
    for (path, body) in [
        ("/v1/events/track", events("support-bot", 3)),
        (
            "/v1/signals/track",
            json!([{"event_id": "support-bot-0", "signal_name": "thumbs_up"}]).to_string(),
        ),
        ("/v1/traces", span_export("support-bot-0")),
    ] {
        let r = h.post(path, Some(&write), Some("support-bot"), &body).await;
        assert!(r.status == 204 || r.status == 200, "{path}: {}", r.body);
    }
    browser
        .wait_for(
            "support-bot in the pending panel with 3 events",
            "const c = document.querySelector('#pending-table tr[data-slug=support-bot] td[data-count]'); \
             return c !== null && c.dataset.count === '3';",
            json!([]),
        )
        .await;
    let same = browser
        .exec("return window.__same_page === true;", json!([]))
        .await;
    assert_eq!(same, json!(true), "the panel refreshed without a reload");
    let usage = browser.text("#pending-usage").await;
    assert!(usage.contains("1 of 50"), "{usage}");
    browser
        .wait_for(
            "the streams that sent it",
            "return document.querySelector('#pending-table tr[data-slug=support-bot]').textContent.includes('/v1/traces');",
            json!([]),
        )
        .await;
    browser
        .exec(
            "document.querySelector('#pending-panel').scrollIntoView();",
            json!([]),
        )
        .await;
    browser.screenshot(&screenshot_path("pending")).await;

    // Create it from the panel: the slug is fixed, the name editable.
    browser
        .click("#pending-table button[data-action=adopt][data-slug=support-bot]")
        .await;
    let readonly = browser
        .exec(
            "const i = document.querySelector('#adopt-slug'); return [i.readOnly, i.value];",
            json!([]),
        )
        .await;
    assert_eq!(readonly, json!([true, "support-bot"]));
    browser.type_into("#adopt-name", "Support bot").await;
    browser.click("#adopt-ok").await;
    browser
        .wait_for(
            "support-bot moved to the projects table",
            "return document.querySelector('#projects-table tr[data-slug=support-bot]') !== null \
                && document.querySelector('#pending-table tr[data-slug=support-bot]') === null;",
            json!([]),
        )
        .await;
    let project = h
        .call("GET", "/v1/projects/support-bot", &admin, None)
        .await;
    assert_eq!(project.json()["name"], json!("Support bot"));

    // Its earlier events in the explorer, newest first, then filtered.
    h.wait_count(
        "SELECT count() FROM events_by_user WHERE org = ? AND project = 'support-bot'",
        ORG,
        3,
    )
    .await;
    browser
        .click("#projects-table a[data-open=support-bot]")
        .await;
    browser
        .wait_for(
            "three events in the explorer",
            "return document.querySelectorAll('#events-table tr[data-event-id]').length === 3;",
            json!([]),
        )
        .await;
    browser.type_into("#filter-user", "u-0").await;
    browser.click("#filter-apply").await;
    browser
        .wait_for(
            "u-0's two events",
            "const ids = [...document.querySelectorAll('#events-table tr[data-event-id]')].map(r => r.dataset.eventId); \
             return ids.join(',') === 'support-bot-2,support-bot-0';",
            json!([]),
        )
        .await;
    // One event's detail: its signals and its spans.
    browser
        .click("#events-table tr[data-event-id=support-bot-0] a")
        .await;
    browser
        .wait_for(
            "the event's signal and span",
            "return document.querySelector('#event-signals').textContent.includes('thumbs_up') \
                && document.querySelector('#event-spans tr[data-span-id]') !== null;",
            json!([]),
        )
        .await;
    let detail = browser.text("#event-detail").await;
    assert!(
        detail.contains("question 0") && detail.contains("llm-call"),
        "{detail}"
    );
    browser.exec("window.scrollTo(0, 0);", json!([])).await;
    browser.screenshot(&screenshot_path("explorer")).await;

    // Ingest over time: a bar per minute of the last hour holding the 3.
    browser.click("#nav a[data-view=ingest]").await;
    let chart = browser
        .wait_for(
            "the chart",
            "const bars = [...document.querySelectorAll('#ingest-chart rect')]; \
             return bars.length ? [bars.length, bars.reduce((n, b) => n + Number(b.dataset.count), 0)] : null;",
            json!([]),
        )
        .await;
    assert_eq!(chart, json!([61, 3]), "61 minutes holding the 3 events");
    assert!(browser.text("#chart-total").await.starts_with("3 events"));
    browser.screenshot(&screenshot_path("chart")).await;
    browser.click("#chart-month").await;
    browser
        .wait_for(
            "30 daily bars holding the 3 events",
            "const bars = [...document.querySelectorAll('#ingest-chart rect')]; \
             return bars.length === 30 && bars[29].dataset.count === '3' \
                && document.querySelector('#chart-month').getAttribute('aria-pressed') === 'true';",
            json!([]),
        )
        .await;

    // Settings: the API's validation message, then a change that sticks.
    browser.click("#nav a[data-view=settings]").await;
    browser
        .wait_for(
            "the redaction policy in force",
            "const p = document.querySelector('#set-policy'); \
             return p.value === 'default' && document.querySelector('#set-all-messages').checked;",
            json!([]),
        )
        .await;
    browser.type_into("#set-log-days", "1").await;
    browser.type_into("#set-body-hours", "48").await;
    browser.click("#settings-save").await;
    let invalid = browser
        .wait_for(
            "the settings refusal",
            "const e = document.querySelector('.field-error[data-field=body_retention_hours]'); \
             return e.hidden ? '' : e.textContent;",
            json!([]),
        )
        .await;
    assert!(
        invalid.as_str().unwrap().contains("log_retention_days"),
        "{invalid}"
    );
    browser.type_into("#set-body-hours", "24").await;
    browser.type_into("#set-rate", "600").await;
    browser.click("#set-all-messages").await;
    browser.click("#settings-save").await;
    browser
        .wait_for(
            "saved",
            "return document.querySelector('#flash').textContent.startsWith('Saved');",
            json!([]),
        )
        .await;
    browser.screenshot(&screenshot_path("settings")).await;
    let project = h
        .call("GET", "/v1/projects/support-bot", &admin, None)
        .await;
    assert_eq!(project.json()["settings"]["rate_limit_rpm"], json!(600));
    assert_eq!(
        project.json()["settings"]["body_retention_hours"],
        json!(24)
    );
    assert_eq!(
        project.json()["settings"]["filter_all_messages"],
        json!(false)
    );

    // Keys: a project key shown once, which sends; then revoked.
    browser.click("#nav a[data-view=keys]").await;
    browser.click("#project-key-create").await;
    let secret = browser
        .wait_for(
            "the new key",
            "const b = document.querySelector('#key-secret-box'); return b.hidden ? '' : document.querySelector('#key-secret').textContent;",
            json!([]),
        )
        .await;
    let secret = secret.as_str().unwrap().to_string();
    let sent = h
        .post(
            "/v1/events/track",
            Some(&secret),
            Some("support-bot"),
            &events("by-key", 1),
        )
        .await;
    assert_eq!(sent.status, 204, "{}", sent.body);
    browser
        .click("#project-keys-table button[data-action=revoke]")
        .await;
    browser.click("#confirm-ok").await;
    browser
        .wait_for(
            "the key revoked",
            "const r = document.querySelector('#project-keys-table tbody tr'); return r && r.textContent.includes('revoked');",
            json!([]),
        )
        .await;
    let keys = h
        .call("GET", "/v1/projects/support-bot/keys", &admin, None)
        .await;
    assert_eq!(
        keys.json()["keys"][0]["revoked"],
        json!(true),
        "{}",
        keys.body
    );

    // Archive another project, after a confirmation that says slugs are
    // never reused: with the keyboard alone, from the project's link.
    browser.click("#nav a[data-view=projects]").await;
    browser
        .wait_for(
            "the projects view",
            "const a = document.querySelector('#projects-table a[data-open=old-app]'); \
             if (a) a.focus(); return a !== null && document.activeElement === a;",
            json!([]),
        )
        .await;
    browser.press(&[TAB]).await;
    assert_eq!(browser.focused().await, "button[archive]");
    browser.press(&[ENTER]).await;
    let warning = browser
        .wait_for(
            "the confirmation",
            "const d = document.querySelector('#confirm-dialog'); return d.open ? document.querySelector('#confirm-text').textContent : '';",
            json!([]),
        )
        .await;
    assert!(
        warning.as_str().unwrap().contains("never reused"),
        "{warning}"
    );
    assert_eq!(browser.focused().await, "button#confirm-cancel");
    browser.press(&[TAB]).await;
    assert_eq!(browser.focused().await, "button#confirm-ok");
    browser.press(&[ENTER]).await;
    browser
        .wait_for(
            "old-app archived",
            "const r = document.querySelector('#projects-table tr[data-slug=old-app]'); \
             return r && r.querySelector('.status').textContent === 'archived' && !r.querySelector('button');",
            json!([]),
        )
        .await;
    let archived = h.call("GET", "/v1/projects/old-app", &admin, None).await;
    assert_eq!(archived.json()["status"], json!("archived"));
    browser.screenshot(&screenshot_path("projects")).await;

    // Signing out forgets the key.
    browser.click("#signout").await;
    let stored = browser
        .exec("return sessionStorage.getItem('downpour.key');", json!([]))
        .await;
    assert!(stored.is_null());
    browser.quit().await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_sees_everything_read_only_at_phone_width() {
    let h = Harness::start("dashboard_member").await;
    let admin = h.key(ORG, None, Role::Admin).await;
    let member = h.key(ORG, None, Role::Member).await;
    let write = h.write_key(ORG).await;
    let created = h
        .call("POST", "/v1/projects", &admin, Some(json!({"slug": "web"})))
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let r = h
        .post(
            "/v1/events/track",
            Some(&write),
            Some("pending-one"),
            &events("pending-one", 2),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = h
        .post(
            "/v1/events/track",
            Some(&write),
            Some("web"),
            &events("web", 30),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);

    let browser = Browser::start(390, 844).await;
    browser.open(&format!("{}/dashboard", h.base)).await;
    sign_in(&browser, &member, "member").await;
    browser
        .wait_for(
            "the pending slug",
            "return document.querySelector('#pending-table tr[data-slug=pending-one]') !== null;",
            json!([]),
        )
        .await;
    // No management control anywhere: the rows are there, their buttons not.
    assert_eq!(rows(&browser, "#projects-table tr[data-slug=web]").await, 1);
    assert_eq!(rows(&browser, "#projects-table button").await, 0);
    assert_eq!(rows(&browser, "#pending-table button").await, 0);
    assert_eq!(
        browser
            .exec(
                "return document.querySelector('#create-form').hidden;",
                json!([])
            )
            .await,
        json!(true)
    );
    // Nothing wider than the phone's screen.
    let fits = browser
        .exec(
            "return document.documentElement.scrollWidth <= window.innerWidth;",
            json!([]),
        )
        .await;
    assert_eq!(fits, json!(true), "the projects view fits 390 px");
    // The settings of `web` (a project that could be archived): read only.
    browser.click("#project-switcher").await;
    browser.click("#project-switcher option[value=web]").await;
    // Its 30 events page by 25, older and back.
    h.wait_count(
        "SELECT count() FROM events_by_user WHERE org = ? AND project = 'web'",
        ORG,
        30,
    )
    .await;
    browser.click("#nav a[data-view=events]").await;
    let page = "const ids = [...document.querySelectorAll('#events-table tr[data-event-id]')] \
                .map(r => r.dataset.eventId); \
                return ids.length === arguments[0] && ids[0] === arguments[1] \
                && !document.querySelector('#page-next').disabled === arguments[2] ? ids : null;";
    let newest = browser
        .wait_for("the newest 25", page, json!([25, "web-29", true]))
        .await;
    browser.click("#page-next").await;
    let oldest = browser
        .wait_for("the oldest 5", page, json!([5, "web-4", false]))
        .await;
    assert_eq!(oldest[4], json!("web-0"));
    assert!(
        newest
            .as_array()
            .unwrap()
            .iter()
            .all(|id| !oldest.as_array().unwrap().contains(id))
    );
    browser.click("#page-prev").await;
    browser
        .wait_for("the newest 25 again", page, json!([25, "web-29", true]))
        .await;
    browser.click("#nav a[data-view=settings]").await;
    browser
        .wait_for(
            "web's read-only settings",
            "return document.querySelector('#set-name').value === 'web' \
                && document.querySelector('#set-name').readOnly \
                && !document.querySelector('#settings-readonly').hidden \
                && document.querySelector('#settings-save').hidden \
                && document.querySelector('#archive-zone').hidden;",
            json!([]),
        )
        .await;
    browser.click("#nav a[data-view=keys]").await;
    browser
        .wait_for(
            "no key management",
            "return !document.querySelector('#keys-readonly').hidden \
                && document.querySelector('#project-keys').hidden \
                && document.querySelector('#org-keys').hidden;",
            json!([]),
        )
        .await;

    // The API refuses a member who tries anyway, from the same page.
    let status = browser
        .exec(
            "const x = new XMLHttpRequest(); x.open('POST', '/v1/projects', false); \
             x.setRequestHeader('Authorization', 'Bearer ' + sessionStorage.getItem('downpour.key')); \
             x.setRequestHeader('Content-Type', 'application/json'); \
             x.send(JSON.stringify({slug: 'pending-one'})); return x.status;",
            json!([]),
        )
        .await;
    assert_eq!(status, json!(403));
    browser.quit().await;
    h.stop().await;
}

/// The routes the dashboard reads beside the projects API: who the caller
/// is, each project's activity, and a project's events per minute and day,
/// counted as written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_caller_and_its_org_activity_are_answered_as_written() {
    let h = Harness::start("dashboard_api").await;
    let admin = h.key(ORG, None, Role::Admin).await;
    let member = h.key(ORG, None, Role::Member).await;
    let scoped = h.key(ORG, Some("web"), Role::Admin).await;
    let write = h.write_key(ORG).await;
    let r = h
        .call("POST", "/v1/projects", &admin, Some(json!({"slug": "web"})))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    for (project, count) in [("web", 4), ("pending-one", 2)] {
        let r = h
            .post(
                "/v1/events/track",
                Some(&write),
                Some(project),
                &events(project, count),
            )
            .await;
        assert_eq!(r.status, 204, "{}", r.body);
    }
    let signal = json!([{"event_id": "web-0", "signal_name": "thumbs_up"}]).to_string();
    let r = h
        .post("/v1/signals/track", Some(&write), Some("web"), &signal)
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    // Every row's activity is in the hourly rollup the route reads: 6 events
    // (4 + 2) and the signal. (Waiting on `project_activity` raced its feed:
    // an INSERT's rows show in the source table before its materialized
    // view has written them.)
    for (sql, rows) in [
        (
            "SELECT toUInt64(sumMerge(row_count)) FROM project_activity_hourly WHERE org = ? AND stream = 'events'",
            6,
        ),
        (
            "SELECT toUInt64(sumMerge(row_count)) FROM project_activity_hourly WHERE org = ? AND stream = 'signals'",
            1,
        ),
    ] {
        assert_eq!(h.wait_count(sql, ORG, rows).await, rows, "{sql}");
    }

    let me = h.call("GET", "/v1/me", &member, None).await.json();
    assert_eq!(me["org"], json!(ORG));
    assert_eq!(me["role"], json!("member"));
    assert_eq!(me["can_manage"], json!(false));
    assert!(!me.to_string().contains(&member), "the key is never echoed");
    let me = h.call("GET", "/v1/me", &scoped, None).await.json();
    assert_eq!(me["project"], json!("web"));
    assert_eq!(
        [
            &me["can_manage"],
            &me["can_manage_keys"],
            &me["can_manage_org"]
        ],
        [&json!(true), &json!(false), &json!(false)]
    );
    assert_eq!(h.call("GET", "/v1/me", &write, None).await.status, 403);

    let activity = h
        .call("GET", "/v1/org/activity", &member, None)
        .await
        .json();
    let of = |slug: &str| {
        activity["projects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["slug"] == slug)
            .cloned()
            .unwrap_or_else(|| panic!("{slug} in {activity}"))
    };
    let web = of("web");
    assert_eq!(
        (&web["events_24h"], &web["events_total"]),
        (&json!(4), &json!(4))
    );
    assert_eq!(web["streams"], json!(["events", "signals"]));
    assert_eq!(
        web["endpoints"],
        json!(["/v1/events/track", "/v1/signals/track"])
    );
    assert!(web["last_event"].as_u64().unwrap() > 0);
    assert!(web["last_seen"].as_u64().unwrap() >= web["last_event"].as_u64().unwrap());
    assert_eq!(of("pending-one")["events_total"], json!(2));
    // A project-scoped key sees its own project only.
    let own = h
        .call("GET", "/v1/org/activity", &scoped, None)
        .await
        .json();
    assert_eq!(own["projects"].as_array().unwrap().len(), 1, "{own}");
    let pending = h
        .call("GET", "/v1/projects/pending", &admin, None)
        .await
        .json();
    assert_eq!(
        pending["pending"][0]["endpoints"],
        json!(["/v1/events/track"])
    );

    let minutes = h
        .call("GET", "/v1/projects/web/ingest", &member, None)
        .await
        .json();
    assert_eq!(minutes["interval"], json!("minute"));
    assert_eq!(minutes["buckets"].as_array().unwrap().len(), 61);
    assert_eq!(minutes["total"], json!(4));
    let days = h
        .call("GET", "/v1/projects/web/ingest?interval=day", &member, None)
        .await
        .json();
    assert_eq!(days["buckets"].as_array().unwrap().len(), 30);
    assert_eq!(days["buckets"][29]["count"], json!(4), "{days}");
    assert!(
        days["buckets"][29]["timestamp"]
            .as_str()
            .unwrap()
            .ends_with("T00:00:00Z")
    );
    for (path, key, status, param) in [
        (
            "/v1/projects/web/ingest?interval=hour",
            &member,
            400,
            Some("interval"),
        ),
        ("/v1/projects/web/ingest?from=1", &member, 400, Some("from")),
        ("/v1/projects/Bad_Slug/ingest", &member, 400, Some("slug")),
        (
            "/v1/projects/default/ingest",
            &scoped,
            403,
            Some("Authorization"),
        ),
    ] {
        let r = h.call("GET", path, key, None).await;
        assert_eq!(r.status, status, "{path}: {}", r.body);
        assert_eq!(r.error()["param"].as_str(), param, "{path}");
    }
    h.stop().await;
}
