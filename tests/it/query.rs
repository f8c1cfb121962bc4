//! The Query API on the real broker and ClickHouse: who may read, which
//! project a read sees, filters, pages, shapes, and hostile input.

use crate::common::{Harness, Response};
use downpour::registry::keys::Role;
use serde_json::{Value, json};

/// GETs `path` with an optional key and project header.
async fn get(h: &Harness, path: &str, key: Option<&str>, project: Option<&str>) -> Response {
    let mut request = h.http.get(format!("{}{path}", h.base));
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    if let Some(project) = project {
        request = request.header("x-raindrop-project-id", project);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    Response {
        status,
        retry_after: None,
        body,
    }
}

/// GET that must answer 200 with JSON.
async fn ok(h: &Harness, path: &str, key: &str, project: Option<&str>) -> Value {
    let r = get(h, path, Some(key), project).await;
    assert_eq!(r.status, 200, "GET {path} ({project:?}): {}", r.body);
    r.json()
}

/// The `id`s of an events list answer, in order.
fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap_or_else(|| panic!("data array in {page}"))
        .iter()
        .map(|e| e["id"].as_str().unwrap_or("?").to_string())
        .collect()
}

/// Percent-encodes a query-string value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The Query API's error body, `{error: {code, message, details: {field,
/// allowed_fields}}}` (what `@raindrop-ai/query` parses).
fn query_error(r: &Response) -> Value {
    let v: Value = serde_json::from_str(&r.body).unwrap_or_else(|_| panic!("JSON: {}", r.body));
    let e = v["error"].clone();
    assert!(e["code"].is_string() && e["message"].is_string(), "{v}");
    assert!(e["details"].is_object(), "{v}");
    e
}

/// Asserts a refusal: status and the error body's `details.field`.
fn refused(r: &Response, status: u16, param: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(query_error(r)["details"]["field"], param, "{}", r.body);
}

async fn track(h: &Harness, key: &str, project: Option<&str>, body: Value) {
    let r = h
        .post("/v1/events/track", Some(key), project, &body.to_string())
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
}

async fn create_project(h: &Harness, owner: &str, slug: &str) {
    let r = h
        .call("POST", "/v1/projects", owner, Some(json!({"slug": slug})))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_are_stricter_than_writes() {
    let h = Harness::start("query_access").await;
    let owner = h.key("acme", None, Role::Owner).await;
    let admin = h.key("acme", None, Role::Admin).await;
    let member = h.key("acme", None, Role::Member).await;
    let write = h.write_key("acme").await;
    create_project(&h, &owner, "live").await;
    create_project(&h, &owner, "old").await;
    for (project, id) in [
        (None, "e-default"),
        (Some("live"), "e-live"),
        (Some("old"), "e-old"),
        (Some("later"), "e-later"),
    ] {
        let event = json!([{"event_id": id, "user_id": "u", "event": "e"}]);
        track(&h, &write, project, event).await;
    }
    assert_eq!(
        h.wait_count(
            "SELECT count() FROM events_by_user WHERE org = ?",
            "acme",
            4
        )
        .await,
        4
    );
    let r = h.call("DELETE", "/v1/projects/old", &owner, None).await;
    assert_eq!(r.status, 200, "{}", r.body);

    // docs/CONTRACT.md §C3, §C5: a request naming no project, or an empty or
    // `default` slug, reads the `default` ("Production") project.
    for header in [None, Some(""), Some("default")] {
        let page = ok(&h, "/v1/events", &member, header).await;
        assert_eq!(ids(&page), ["e-default"], "{header:?}");
        assert_eq!(page["data"][0]["project"], "default");
        assert_eq!(page["meta"], json!({"cursor": null, "has_more": false}));
    }
    // Owner and admin keys read as well as members.
    for key in [&owner, &admin] {
        assert_eq!(
            ids(&ok(&h, "/v1/events", key, Some("live")).await),
            ["e-live"]
        );
    }

    // docs/CONTRACT.md §C19: reads are stricter than writes; only a project that
    // exists and is active is readable, so an unknown, pending or archived slug
    // is a 403 on read. The archived and the pending slug both hold data.
    for slug in ["old", "later", "never-seen"] {
        for path in [
            "/v1/events",
            "/v1/events/e-old",
            "/v1/events/e-later",
            "/v1/events/count",
            "/v1/events/search?query=x",
            "/v1/events/timeseries",
            "/v1/events/facets",
            "/v1/signals",
            "/v1/signals/s",
            "/v1/signal-groups",
            "/v1/signal-groups/g",
            "/v1/signal-groups/g/signals",
            "/v1/users",
            "/v1/users/u",
            "/v1/conversations",
            "/v1/conversations/c",
            "/v1/traces?event_id=e",
        ] {
            let r = get(&h, path, Some(&member), Some(slug)).await;
            refused(&r, 403, "X-Raindrop-Project-Id");
        }
    }
    // A malformed slug is a 400 (docs/CONTRACT.md §C3, §C4), as on ingest; so is a repeated header.
    for bad in ["Bad_Slug", "-x", &"x".repeat(64)] {
        let r = get(&h, "/v1/events", Some(&member), Some(bad)).await;
        refused(&r, 400, "X-Raindrop-Project-Id");
    }
    let twice = h
        .http
        .get(format!("{}/v1/events", h.base))
        .header("authorization", format!("Bearer {member}"))
        .header("x-raindrop-project-id", "live")
        .header("x-raindrop-project-id", "live")
        .send()
        .await
        .expect("sent");
    assert_eq!(twice.status().as_u16(), 400);

    // Members "can send data to and view existing projects"; an SDK write key only sends.
    let r = get(&h, "/v1/events", Some(&write), None).await;
    refused(&r, 403, "Authorization");
    let r = get(&h, "/v1/events", None, None).await;
    refused(&r, 401, "Authorization");
    let r = get(&h, "/v1/events", Some("dp_nope_nope"), None).await;
    refused(&r, 401, "Authorization");

    // "The data only becomes visible in the dashboard and the Query API once
    // the project has been created."
    create_project(&h, &owner, "later").await;
    let page = ok(&h, "/v1/events", &member, Some("later")).await;
    assert_eq!(ids(&page), ["e-later"]);
    assert_eq!(page["data"][0]["project"], "later");

    // A project-scoped key reads only its project; without the header it means that project.
    let scoped = h.key("acme", Some("live"), Role::Member).await;
    assert_eq!(ids(&ok(&h, "/v1/events", &scoped, None).await), ["e-live"]);
    assert_eq!(
        ids(&ok(&h, "/v1/events", &scoped, Some("live")).await),
        ["e-live"]
    );
    for other in ["default", "later"] {
        let r = get(&h, "/v1/events", Some(&scoped), Some(other)).await;
        refused(&r, 403, "X-Raindrop-Project-Id");
    }
    let scoped_write = h.key("acme", Some("live"), Role::Write).await;
    let r = get(&h, "/v1/events", Some(&scoped_write), None).await;
    refused(&r, 403, "Authorization");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projects_and_orgs_are_isolated() {
    let h = Harness::start("query_isolation").await;
    let a_owner = h.key("acme", None, Role::Owner).await;
    let a_member = h.key("acme", None, Role::Member).await;
    let a_write = h.write_key("acme").await;
    let b_owner = h.key("globex", None, Role::Owner).await;
    let b_member = h.key("globex", None, Role::Member).await;
    let b_write = h.write_key("globex").await;
    create_project(&h, &a_owner, "x").await;
    create_project(&h, &a_owner, "y").await;
    create_project(&h, &b_owner, "x").await;

    // The same event_id in two projects and two orgs: each read sees its own.
    let event = |id: &str, user: &str, name: &str| {
        json!([{"event_id": id, "user_id": user, "event": name,
                "ai_data": {"input": "q", "convo_id": "c"}}])
    };
    track(&h, &a_write, Some("x"), event("e-x", "u-x", "in-x")).await;
    track(&h, &a_write, Some("x"), event("shared", "u-x", "a-x")).await;
    track(&h, &a_write, Some("y"), event("e-y", "u-y", "in-y")).await;
    track(&h, &a_write, Some("y"), event("shared", "u-y", "a-y")).await;
    track(&h, &b_write, Some("x"), event("e-bx", "u-x", "in-bx")).await;
    track(&h, &b_write, Some("x"), event("shared", "u-x", "b-x")).await;
    let signal = r#"[{"event_id": "e-y", "signal_name": "thumbs_up"}]"#;
    let r = h
        .post("/v1/signals/track", Some(&a_write), Some("y"), signal)
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    // The same user_id in three (org, project)s, each with its own traits.
    for (key, project, plan) in [
        (&a_write, "y", "a-y"),
        (&a_write, "x", "a-x"),
        (&b_write, "x", "b-x"),
    ] {
        let identify = json!({"user_id": "u-shared", "traits": {"plan": plan}}).to_string();
        let r = h
            .post("/v1/users/identify", Some(key), Some(project), &identify)
            .await;
        assert_eq!(r.status, 204, "{}", r.body);
    }
    // Counted on the tables: on ClickHouse 18.16 the views' FINAL collapses
    // equal ids of different orgs and projects (see src/control/query.rs).
    for (sql, org, n) in [
        (
            "SELECT count() FROM events_by_user WHERE org = ?",
            "acme",
            4,
        ),
        (
            "SELECT count() FROM events_by_user WHERE org = ?",
            "globex",
            2,
        ),
        ("SELECT count() FROM signals WHERE org = ?", "acme", 1),
        ("SELECT count() FROM users WHERE org = ?", "acme", 2),
        ("SELECT count() FROM users WHERE org = ?", "globex", 1),
    ] {
        assert_eq!(h.wait_count(sql, org, n).await, n, "{sql} {org}");
    }

    // "There is no cross-project read: switching projects ... switches the entire data scope."
    let names = |page: &Value| -> Vec<String> {
        page["data"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["event_name"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let x = ok(&h, "/v1/events", &a_member, Some("x")).await;
    assert_eq!(names(&x), ["a-x", "in-x"], "{x}");
    let y = ok(&h, "/v1/events", &a_member, Some("y")).await;
    assert_eq!(names(&y), ["a-y", "in-y"], "{y}");
    let shared = ok(&h, "/v1/events/shared", &a_member, Some("x")).await;
    assert_eq!(shared["data"]["event_name"], "a-x");
    assert_eq!(shared["data"]["project"], "x");
    // Y's event through X: not found, as if it did not exist.
    let r = get(&h, "/v1/events/e-y", Some(&a_member), Some("x")).await;
    refused(&r, 404, "id");
    let r = get(&h, "/v1/users/u-shared", Some(&a_member), Some("default")).await;
    refused(&r, 404, "id");
    let by_user = ok(&h, "/v1/events?user_id=u-y", &a_member, Some("x")).await;
    assert_eq!(ids(&by_user), Vec::<String>::new());
    let signals = ok(&h, "/v1/signals", &a_member, Some("x")).await;
    assert_eq!(signals["data"], json!([]));
    let signals = ok(&h, "/v1/signals", &a_member, Some("y")).await;
    assert_eq!(signals["data"].as_array().map(Vec::len), Some(1));
    let r = get(&h, "/v1/signals/thumbs_up", Some(&a_member), Some("x")).await;
    refused(&r, 404, "id");
    for (key, project, plan) in [
        (&a_member, "y", "a-y"),
        (&a_member, "x", "a-x"),
        (&b_member, "x", "b-x"),
    ] {
        let user = ok(&h, "/v1/users/u-shared", key, Some(project)).await;
        assert_eq!(user["data"]["traits"], json!({"plan": plan}), "{project}");
        assert_eq!(user["data"]["event_count"], 0, "{project}");
    }

    // Org B's member, same slug: only org B's rows.
    let bx = ok(&h, "/v1/events", &b_member, Some("x")).await;
    assert_eq!(names(&bx), ["b-x", "in-bx"], "{bx}");
    assert_eq!(
        ok(&h, "/v1/events/shared", &b_member, Some("x")).await["data"]["event_name"],
        "b-x"
    );
    let r = get(&h, "/v1/events/e-x", Some(&b_member), Some("x")).await;
    refused(&r, 404, "id");
    // Org A's project y does not exist in org B.
    let r = get(&h, "/v1/events", Some(&b_member), Some("y")).await;
    refused(&r, 403, "X-Raindrop-Project-Id");
    // Nothing in B's default project either.
    assert_eq!(
        ok(&h, "/v1/events", &b_member, None).await["data"],
        json!([])
    );
    h.stop().await;
}

const T0: u64 = 1_767_323_040_000; // 2026-01-02T03:04:00.000Z

fn at(offset_ms: u64) -> String {
    let t = chrono::DateTime::from_timestamp_millis(i64::try_from(T0 + offset_ms).expect("ms"))
        .expect("time");
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_pages_partials_users_and_signals() {
    let h = Harness::start("query_reads").await;
    let m = h.key("acme", None, Role::Member).await;
    let write = h.write_key("acme").await;
    // e3 and e4 share a timestamp, so a page boundary falls between equal timestamps.
    let events = json!([
        {"event_id": "e1", "user_id": "u1", "event": "chat", "timestamp": at(1000),
         "ai_data": {"model": "m", "input": "hi", "output": "hello", "convo_id": "c1"}},
        {"event_id": "e2", "user_id": "u1", "event": "search", "timestamp": at(2000),
         "ai_data": {"input": "find", "convo_id": "c1"}},
        {"event_id": "e3", "user_id": "u1", "event": "chat", "timestamp": at(3000)},
        {"event_id": "e4", "user_id": "u2", "event": "search", "timestamp": at(3000)},
        {"event_id": "e5", "user_id": "u2", "event": "chat", "timestamp": at(5000),
         "properties": {"plan": "pro", "n": 2},
         "attachments": [{"type": "text", "value": "v", "role": "input"}]}
    ]);
    track(&h, &write, None, events).await;
    let signals = r#"[{"event_id": "e1", "signal_name": "thumbs_up", "sentiment": "POSITIVE", "properties": {"k": 1}},
                      {"event_id": "e2", "signal_name": "thumbs_down", "sentiment": "NEGATIVE", "signal_type": "feedback"},
                      {"event_id": "e1", "signal_name": "copied"}]"#;
    let r = h
        .post("/v1/signals/track", Some(&write), None, signals)
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    for traits in [r#"{"plan": "free"}"#, r#"{"plan": "paid", "seats": 3}"#] {
        let body = format!(r#"{{"user_id": "u1", "traits": {traits}}}"#);
        let r = h
            .post("/v1/users/identify", Some(&write), None, &body)
            .await;
        assert_eq!(r.status, 204, "{}", r.body);
    }
    let begin = r#"{"event_id": "p1", "user_id": "u9", "event": "agent_run",
                    "ai_data": {"model": "m1", "input": "question", "convo_id": "c9"}, "is_pending": true}"#;
    let r = h
        .post("/v1/events/track_partial", Some(&write), None, begin)
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    for (sql, n) in [
        ("SELECT count() FROM events_by_user WHERE org = ?", 5),
        ("SELECT count() FROM signals_view WHERE org = ?", 3),
        ("SELECT count() FROM users WHERE org = ?", 2),
        ("SELECT count() FROM partial_events WHERE org = ?", 1),
    ] {
        assert_eq!(h.wait_count(sql, "acme", n).await, n, "{sql}");
    }

    // Newest first by (timestamp, event_id); every field, JSON parsed.
    let all = ok(&h, "/v1/events", &m, None).await;
    assert_eq!(ids(&all), ["e5", "e4", "e3", "e2", "e1"]);
    assert_eq!(all["meta"], json!({"cursor": null, "has_more": false}));
    let e5 = &all["data"][0];
    assert_eq!(e5["timestamp"], at(5000));
    assert_eq!(e5["properties"], json!({"plan": "pro", "n": 2}));
    assert_eq!(
        e5["input_attachments"],
        json!([{"attachment_type": "text", "value": "v"}])
    );
    assert_eq!(e5["output_attachments"], json!([]));
    assert_eq!(
        (&e5["user_input"], &e5["assistant_output"], &e5["convo_id"]),
        (&Value::Null, &Value::Null, &Value::Null)
    );
    assert!(e5.get("model").is_none(), "no model sent: {e5}");
    assert_eq!(
        (&e5["user_id"], &e5["event_name"]),
        (&json!("u2"), &json!("chat"))
    );
    let e1 = ok(&h, "/v1/events/e1", &m, None).await;
    let d = &e1["data"];
    assert_eq!(
        (
            &d["model"],
            &d["user_input"],
            &d["assistant_output"],
            &d["convo_id"]
        ),
        (&json!("m"), &json!("hi"), &json!("hello"), &json!("c1"))
    );
    assert_eq!(d["timestamp"], "2026-01-02T03:04:01.000Z");
    let mut signal_names: Vec<&str> = d["signals"]
        .as_array()
        .expect("signals")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    signal_names.sort_unstable();
    assert_eq!(signal_names, ["copied", "thumbs_up"], "{d}");
    assert!(d["signals"][0]["id"].is_string(), "{d}");
    assert_eq!(all["data"][4]["signals"].as_array().map(Vec::len), Some(2));

    // Pages: 5 events, limit 2 → 3 pages, no duplicates, no gaps.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for page_no in 0..3 {
        let path = match &cursor {
            None => "/v1/events?limit=2".to_string(),
            Some(c) => format!("/v1/events?limit=2&cursor={}", enc(c)),
        };
        let page = ok(&h, &path, &m, None).await;
        seen.extend(ids(&page));
        cursor = page["meta"]["cursor"].as_str().map(String::from);
        assert_eq!(cursor.is_some(), page_no < 2, "page {page_no}: {page}");
        assert_eq!(
            page["meta"]["has_more"],
            page_no < 2,
            "page {page_no}: {page}"
        );
    }
    assert_eq!(seen, ["e5", "e4", "e3", "e2", "e1"]);
    // Oldest first, paged the same way.
    let oldest = ok(&h, "/v1/events?order_by=timestamp&limit=3", &m, None).await;
    assert_eq!(ids(&oldest), ["e1", "e2", "e3"]);
    let c = oldest["meta"]["cursor"].as_str().expect("more");
    let rest = ok(
        &h,
        &format!("/v1/events?order_by=timestamp&limit=3&cursor={}", enc(c)),
        &m,
        None,
    )
    .await;
    assert_eq!(ids(&rest), ["e4", "e5"]);

    // The SDK's filters (deepObject): each operator, time bounds in ISO 8601.
    for (query, want) in [
        ("event_name=chat", vec!["e5", "e3", "e1"]),
        ("event_name[eq]=chat", vec!["e5", "e3", "e1"]),
        ("event_name[neq]=chat", vec!["e4", "e2"]),
        ("event_name[startsWith]=sea", vec!["e4", "e2"]),
        ("event_name[endsWith]=at", vec!["e5", "e3", "e1"]),
        ("event_name[contains]=ear", vec!["e4", "e2"]),
        ("user_id=u2", vec!["e5", "e4"]),
        (
            "user_id[neq]=u2&user_id[startsWith]=u",
            vec!["e3", "e2", "e1"],
        ),
        ("convo_id=c1", vec!["e2", "e1"]),
        ("event_name=chat&user_id=u1", vec!["e3", "e1"]),
        (
            &format!(
                "timestamp[gte]={}&timestamp[lt]={}",
                enc(&at(2000)),
                enc(&at(5000))
            ),
            vec!["e4", "e3", "e2"],
        ),
        (
            &format!("timestamp[gt]={}", enc(&at(2000))),
            vec!["e5", "e4", "e3"],
        ),
        (
            &format!("timestamp[lte]={}", enc(&at(2000))),
            vec!["e2", "e1"],
        ),
        (
            &format!("timestamp[gte]={}", enc("2026-01-02T04:04:03.000+01:00")),
            vec!["e5", "e4", "e3"],
        ),
        ("properties[plan]=pro", vec!["e5"]),
        ("properties[plan][neq]=pro", vec!["e4", "e3", "e2", "e1"]),
        ("properties[n]=2", vec!["e5"]),
        ("properties[n][gt]=1.5", vec!["e5"]),
        ("properties[n][lt]=2", vec![]),
        ("properties[n][lte]=2", vec!["e5"]),
        ("properties[plan][gte]=0", vec![]),
        ("signal=thumbs_up", vec!["e1"]),
        ("signal[neq]=thumbs_up", vec!["e5", "e4", "e3", "e2"]),
        ("signal_group=feedback", vec!["e2"]),
        ("signal_group=default", vec!["e1"]),
        ("signal_group=thumbs_down", vec![]),
        ("traits[plan]=paid", vec!["e3", "e2", "e1"]),
        ("traits[plan]=free", vec![]),
        ("traits[seats][gte]=3&event_name=search", vec!["e2"]),
        ("event_name=chat&limit=1", vec!["e5"]),
    ] {
        let page = ok(&h, &format!("/v1/events?{query}"), &m, None).await;
        assert_eq!(ids(&page), want, "{query}");
    }

    // Bad input is a 400 naming the parameter.
    for (query, param) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("limit=-1", "limit"),
        ("cursor=garbage", "cursor"),
        ("cursor=1.zz", "cursor"),
        ("cursor=", "cursor"),
        ("timestamp[gte]=yesterday", "timestamp[gte]"),
        ("timestamp[lt]=2026-01-02", "timestamp[lt]"),
        ("timestamp=2026-01-02T00:00:00Z", "timestamp"),
        ("event_name=%FF", "event_name"),
        ("event_name[like]=a", "event_name[like]"),
        ("properties[n][gt]=many", "properties[n][gt]"),
        ("order_by=random", "order_by"),
        ("color=red", "color"),
        ("event_name=a&event_name=b", "event_name"),
    ] {
        let r = get(&h, &format!("/v1/events?{query}"), Some(&m), None).await;
        refused(&r, 400, param);
    }
    let r = get(&h, "/v1/signals?limit=5000", Some(&m), None).await;
    refused(&r, 400, "limit");

    // Hostile filter values are data, never SQL: 200 and nothing matches.
    let long = "x".repeat(10 * 1024);
    for value in [
        "' OR 1=1 --",
        "\\",
        "\\'",
        "?",
        "e1' OR '1'='1",
        "\0",
        long.as_str(),
    ] {
        for name in [
            "event_name",
            "user_id[contains]",
            "convo_id",
            "properties[k]",
            "traits[k]",
            "signal",
        ] {
            let page = ok(&h, &format!("/v1/events?{name}={}", enc(value)), &m, None).await;
            assert_eq!(page["data"], json!([]), "{name}={value:.20}");
        }
        for path in [
            "events",
            "users",
            "signals",
            "signal-groups",
            "conversations",
        ] {
            let r = get(&h, &format!("/v1/{path}/{}", enc(value)), Some(&m), None).await;
            assert_eq!(r.status, 404, "{path}/{value:.20}: {}", r.body);
        }
    }
    // A well-formed cursor carrying a hostile id is still only a bound value.
    let hostile: String = "' OR 1=1 --".bytes().map(|b| format!("{b:02x}")).collect();
    let page = ok(
        &h,
        &format!("/v1/events?cursor={}.{hostile}", T0 + 2000),
        &m,
        None,
    )
    .await;
    assert_eq!(ids(&page), ["e1"]);
    let r = get(
        &h,
        &format!("/v1/events?event_name={}", "x".repeat(17 * 1024)),
        Some(&m),
        None,
    )
    .await;
    refused(&r, 400, "event_name");
    // An unknown parameter lists the ones the endpoint takes.
    let r = get(&h, "/v1/events?color=red", Some(&m), None).await;
    let allowed = &query_error(&r)["details"]["allowed_fields"];
    assert!(
        allowed
            .as_array()
            .is_some_and(|a| a.contains(&json!("event_name"))),
        "{}",
        r.body
    );

    // Counts: distinct event_id (the default), user_id or convo_id, filtered.
    for (query, total) in [
        ("", 5),
        ("?count_by=user_id", 2),
        ("?count_by=convo_id", 1),
        ("?event_name=chat", 3),
        ("?signal=thumbs_up&count_by=user_id", 1),
    ] {
        let c = ok(&h, &format!("/v1/events/count{query}"), &m, None).await;
        assert_eq!(c, json!({"data": {"total": total}}), "{query}");
    }
    refused(
        &get(&h, "/v1/events/count?count_by=name", Some(&m), None).await,
        400,
        "count_by",
    );
    // An id spelled like an ingest route is an id like any other.
    for path in [
        "/v1/events/track",
        "/v1/events/track_partial",
        "/v1/signals/track",
        "/v1/users/identify",
    ] {
        let r = get(&h, path, Some(&m), None).await;
        assert_eq!(r.status, 404, "{path}: {}", r.body);
        query_error(&r);
    }
    refused(&get(&h, "/v1/events/nope", Some(&m), None).await, 404, "id");

    // "GET /v1/users/{id}": the latest identify's traits; first and last
    // seen over events and identifies; a user known only from events.
    let u1 = ok(&h, "/v1/users/u1", &m, None).await;
    assert_eq!(u1["data"]["traits"], json!({"plan": "paid", "seats": 3}));
    assert_eq!(u1["data"]["id"], "u1");
    assert_eq!(u1["data"]["event_count"], 3);
    assert_eq!(u1["data"]["first_seen"], at(1000));
    let u2 = ok(&h, "/v1/users/u2", &m, None).await;
    assert_eq!(
        u2["data"],
        json!({"id": "u2", "traits": null, "first_seen": at(3000),
               "last_seen": at(5000), "event_count": 2})
    );
    refused(&get(&h, "/v1/users/u3", Some(&m), None).await, 404, "id");

    // Signals: one definition per name, its group the signal type, its
    // sentiment the latest one sent (NEUTRAL without); paged.
    let s = ok(&h, "/v1/signals?order_by=timestamp", &m, None).await;
    let rows = s["data"].as_array().expect("data");
    let by_name = |name: &str| {
        rows.iter().find(|r| r["name"] == name).map(|r| {
            (
                r["id"].clone(),
                r["group_id"].clone(),
                r["sentiment"].clone(),
            )
        })
    };
    assert_eq!(rows.len(), 3, "{s}");
    assert_eq!(
        by_name("thumbs_up"),
        Some((json!("thumbs_up"), json!("default"), json!("POSITIVE")))
    );
    assert_eq!(
        by_name("thumbs_down"),
        Some((json!("thumbs_down"), json!("feedback"), json!("NEGATIVE")))
    );
    assert_eq!(
        by_name("copied"),
        Some((json!("copied"), json!("default"), json!("NEUTRAL")))
    );
    let one = ok(&h, "/v1/signals/thumbs_down", &m, None).await;
    assert_eq!(one["data"]["type"], "instrumented");
    let groups = ok(&h, "/v1/signal-groups", &m, None).await;
    let mut counts: Vec<(String, u64)> = groups["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| {
            (
                g["id"].as_str().unwrap_or("").to_string(),
                g["signal_count"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    counts.sort();
    assert_eq!(
        counts,
        [("default".to_string(), 2), ("feedback".to_string(), 1)]
    );
    let first = ok(&h, "/v1/signals?limit=2", &m, None).await;
    assert_eq!(first["meta"]["has_more"], true, "{first}");
    let cursor = first["meta"]["cursor"].as_str().expect("a next page");
    let rest = ok(
        &h,
        &format!("/v1/signals?limit=2&cursor={}", enc(cursor)),
        &m,
        None,
    )
    .await;
    assert_eq!(rest["meta"], json!({"cursor": null, "has_more": false}));
    let mut all_ids: Vec<&str> = first["data"]
        .as_array()
        .into_iter()
        .chain(rest["data"].as_array())
        .flatten()
        .filter_map(|r| r["id"].as_str())
        .collect();
    all_ids.sort_unstable();
    assert_eq!(all_ids, ["copied", "thumbs_down", "thumbs_up"]);

    // docs/CONTRACT.md §C11: event views are finalized-only; a partial event
    // appears once finalized, not while still pending.
    refused(&get(&h, "/v1/events/p1", Some(&m), None).await, 404, "id");
    refused(&get(&h, "/v1/users/u9", Some(&m), None).await, 404, "id");
    assert_eq!(
        ok(&h, "/v1/events?user_id=u9", &m, None).await["data"],
        json!([])
    );
    let finish = r#"{"event_id": "p1", "ai_data": {"output": "answer"}, "properties": {"step": 2}, "is_pending": false}"#;
    let r = h
        .post("/v1/events/track_partial", Some(&write), None, finish)
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(
        h.wait_count("SELECT count() FROM events_view WHERE org = ?", "acme", 6)
            .await,
        6
    );
    let p1 = ok(&h, "/v1/events/p1", &m, None).await;
    let d = &p1["data"];
    assert_eq!(
        (
            &d["model"],
            &d["user_input"],
            &d["assistant_output"],
            &d["convo_id"]
        ),
        (
            &json!("m1"),
            &json!("question"),
            &json!("answer"),
            &json!("c9")
        )
    );
    assert_eq!(p1["data"]["properties"], json!({"step": 2}));
    assert_eq!(
        ids(&ok(&h, "/v1/events?convo_id=c9", &m, None).await),
        ["p1"]
    );
    // Finalized, it counts for its user and its conversation too.
    let u9 = ok(&h, "/v1/users/u9", &m, None).await;
    assert_eq!(u9["data"]["event_count"], 1, "{u9}");
    let c9 = ok(&h, "/v1/conversations/c9", &m, None).await;
    assert_eq!(
        (&c9["data"]["user_id"], &c9["data"]["message_count"]),
        (&json!("u9"), &json!(1)),
        "{c9}"
    );
    h.stop().await;
}
