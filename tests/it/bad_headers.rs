//! Bad headers, case by case (the "Bad input" list of the robustness
//! issue): malformed slugs, a header given twice, missing or garbage keys,
//! a Content-Type that is not JSON, and the org coming from the key only.
//! Each refusal is a 4xx naming the header, and stores nothing.

use crate::bad_input::helpers::{
    STREAMS, TRACK, assert_only_markers, bearer, count, refused, send,
};
use crate::common::Harness;
use downpour::registry::keys::Role;
use serde_json::json;

/// Header name and raw value pairs, in order.
type Headers<'a> = Vec<(&'a str, &'a [u8])>;

async fn start(name: &str) -> Harness {
    Harness::start(name).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_slugs_are_400_on_ingest_query_and_admin() {
    // docs/CONTRACT.md §C3, §C4: a malformed slug is refused with 400.
    let h = start("slugs").await;
    let key = h.write_key("acme").await;
    let owner = h.key("acme", None, Role::Owner).await;
    let long = "a".repeat(64);
    let slugs = [
        "%00",
        "a%00b",
        "../",
        "..%2F",
        "UPPER",
        "Support-Prod",
        long.as_str(),
        "trailing-",
        "a b",
        "a,b",
    ];
    for slug in slugs {
        let r = h.post(TRACK, Some(&key), Some(slug), STREAMS[0].1).await;
        refused(&r, 400, "X-Raindrop-Project-Id", slug);
        let r = send(
            &h,
            "GET",
            "/v1/events",
            &[
                ("authorization", &bearer(&owner)),
                ("x-raindrop-project-id", slug.as_bytes()),
            ],
            Vec::new(),
        )
        .await;
        refused(&r, 400, "X-Raindrop-Project-Id", slug);
        let r = h
            .call(
                "POST",
                "/v1/projects",
                &owner,
                Some(json!({"slug": slug, "name": "n"})),
            )
            .await;
        assert_eq!(r.status, 400, "{slug}: {}", r.body);
    }
    for path in [
        "/v1/projects/%00",
        "/v1/projects/a%00b",
        "/v1/projects/..%2F",
        "/v1/projects/UPPER",
        "/v1/projects/trailing-",
    ] {
        let r = h.call("GET", path, &owner, None).await;
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        r.error();
    }
    assert_only_markers(&h, &key, "acme", None).await;
    // 63 characters is the longest slug: accepted, stored under it.
    let longest = "a".repeat(63);
    let r = h
        .post(TRACK, Some(&key), Some(&longest), STREAMS[0].1)
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let sql = format!("SELECT count() FROM events WHERE org = ? AND project = '{longest}'");
    assert_eq!(h.wait_count(&sql, "acme", 1).await, 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_valued_header_given_twice_is_400_naming_it() {
    // Two `X-Raindrop-Project-Id`s (or two keys) name two scopes; picking
    // one would send the data where the user may not expect it.
    let h = start("twice").await;
    let key = h.write_key("acme").await;
    let other = h.write_key("globex").await;
    let owner = h.key("acme", None, Role::Owner).await;
    let (k, o) = (bearer(&key), bearer(&other));
    let json_ct: &[u8] = b"application/json";
    let cases: [(&str, Headers, &str); 5] = [
        (
            TRACK,
            vec![
                ("authorization", &k),
                ("x-raindrop-project-id", b"a"),
                ("x-raindrop-project-id", b"b"),
            ],
            "X-Raindrop-Project-Id",
        ),
        (
            TRACK,
            vec![
                ("authorization", &k),
                ("x-raindrop-project-id", b"a"),
                ("x-raindrop-project-id", b"a"),
            ],
            "X-Raindrop-Project-Id",
        ),
        (
            TRACK,
            vec![("authorization", &k), ("authorization", &o)],
            "Authorization",
        ),
        (
            TRACK,
            vec![("authorization", &k), ("authorization", &k)],
            "Authorization",
        ),
        (
            TRACK,
            vec![
                ("authorization", &k),
                ("content-type", json_ct),
                ("content-type", b"text/plain"),
            ],
            "Content-Type",
        ),
    ];
    for (path, headers, param) in cases {
        let r = send(&h, "POST", path, &headers, STREAMS[0].1.as_bytes().to_vec()).await;
        refused(&r, 400, param, &format!("{headers:?}"));
    }
    let ob = bearer(&owner);
    let r = send(
        &h,
        "GET",
        "/v1/events",
        &[
            ("authorization", &ob),
            ("x-raindrop-project-id", b"default"),
            ("x-raindrop-project-id", b"x"),
        ],
        Vec::new(),
    )
    .await;
    refused(&r, 400, "X-Raindrop-Project-Id", "query API");
    assert_only_markers(&h, &key, "acme", None).await;
    assert_eq!(count(&h, "events", "globex").await, 0);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_garbage_authorization_is_401_on_every_api() {
    // docs/CONTRACT.md §C2: every request carries the SDK write key; without a valid one, 401.
    let h = start("auth").await;
    let key = h.write_key("acme").await;
    let long = format!("Bearer dp_{}", "x".repeat(8 * 1024));
    let garbage: [&[u8]; 7] = [
        b"",
        b"Bearer",
        b"Bearer ",
        b"Basic dXNlcjpwYXNz",
        b"Token dp_a_b",
        b"Bearer dp__",
        long.as_bytes(),
    ];
    let routes = [
        ("POST", TRACK),
        ("POST", "/v1/signals/track"),
        ("GET", "/v1/projects"),
        ("POST", "/v1/keys"),
        ("GET", "/v1/events"),
        ("GET", "/v1/users/u"),
    ];
    for (method, path) in routes {
        let r = send(&h, method, path, &[], b"{}".to_vec()).await;
        refused(&r, 401, "Authorization", &format!("{path} without a key"));
        for value in garbage {
            let r = send(
                &h,
                method,
                path,
                &[("authorization", value)],
                b"{}".to_vec(),
            )
            .await;
            refused(
                &r,
                401,
                "Authorization",
                &format!(
                    "{path} {:?}",
                    String::from_utf8_lossy(&value[..value.len().min(20)])
                ),
            );
        }
    }
    assert_only_markers(&h, &key, "acme", None).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_content_type_that_is_not_json_is_415() {
    let h = start("content_type").await;
    let key = h.write_key("acme").await;
    let auth = bearer(&key);
    let body = STREAMS[0].1.as_bytes().to_vec();
    for ct in [
        "text/html",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonx",
        "application/xml",
        "image/png",
    ] {
        let r = send(
            &h,
            "POST",
            TRACK,
            &[("authorization", &auth), ("content-type", ct.as_bytes())],
            body.clone(),
        )
        .await;
        refused(&r, 415, "Content-Type", ct);
    }
    assert_only_markers(&h, &key, "acme", None).await;
    // JSON with parameters or in capitals, text/plain (what browsers' beacons
    // send) and no Content-Type at all are accepted.
    let accepted = [
        Some("application/json; charset=utf-8"),
        Some("APPLICATION/JSON"),
        Some("text/plain;charset=UTF-8"),
        None,
    ];
    for ct in accepted {
        let mut headers: Vec<(&str, &[u8])> = vec![("authorization", &auth)];
        if let Some(ct) = ct {
            headers.push(("content-type", ct.as_bytes()));
        }
        let r = send(&h, "POST", TRACK, &headers, body.clone()).await;
        assert_eq!(r.status, 204, "{ct:?}: {}", r.body);
    }
    assert_eq!(
        h.wait_count("SELECT count() FROM events WHERE org = ?", "acme", 5)
            .await,
        5
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_org_comes_from_the_key_only() {
    let h = start("org_from_key").await;
    let acme = h.write_key("acme").await;
    let acme_owner = h.key("acme", None, Role::Owner).await;
    let globex_owner = h.key("globex", None, Role::Owner).await;
    let r = h
        .call(
            "POST",
            "/v1/projects",
            &globex_owner,
            Some(json!({"slug": "shared", "name": "Globex's"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // Org-looking fields in the body or headers change nothing.
    let body = r#"[{"user_id": "u", "event": "e", "org": "globex", "project": "shared"}]"#;
    let r = send(
        &h,
        "POST",
        TRACK,
        &[
            ("authorization", &bearer(&acme)),
            ("x-raindrop-project-id", b"shared"),
            ("x-raindrop-org", b"globex"),
        ],
        body.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let sql = "SELECT count() FROM events WHERE org = ? AND project = 'shared'";
    assert_eq!(
        h.wait_count(sql, "acme", 1).await,
        1,
        "stored under the key's org"
    );
    assert_eq!(count(&h, "events", "globex").await, 0);
    // acme's "shared" is a pending slug of acme, not globex's project.
    let pending = h
        .call("GET", "/v1/projects/pending", &acme_owner, None)
        .await
        .json();
    assert_eq!(pending["pending"][0]["slug"], "shared", "{pending}");
    let theirs = h
        .call("GET", "/v1/projects/pending", &globex_owner, None)
        .await
        .json();
    assert_eq!(theirs["pending"], json!([]), "{theirs}");
    // acme's owner cannot touch globex's project.
    for (method, path, body) in [
        (
            "PATCH",
            "/v1/projects/shared",
            Some(json!({"name": "mine"})),
        ),
        ("DELETE", "/v1/projects/shared", None),
        ("POST", "/v1/projects/shared/keys", None),
    ] {
        let r = h.call(method, path, &acme_owner, body).await;
        assert!(
            [403, 404, 409].contains(&r.status),
            "{method} {path}: {}",
            r.body
        );
        r.error();
    }
    let theirs = h
        .call("GET", "/v1/projects/shared", &globex_owner, None)
        .await
        .json();
    assert_eq!(
        (theirs["name"].as_str(), theirs["status"].as_str()),
        (Some("Globex's"), Some("active")),
        "{theirs}"
    );
    h.stop().await;
}
