//! First-class projects on the real broker and ClickHouse: the ingest table
//! (docs/CONTRACT.md §C3), the admin API (§C18) and its roles (§C14), pending
//! slugs (§C6), rate limits (§C16).

use crate::common::{Harness, private_config};
use downpour::registry::keys::Role;
use downpour::runtime::Parts;
use serde_json::json;

const EVENT: &str = r#"[{"user_id": "u", "event": "e"}]"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_row_of_the_ingest_table() {
    let mut cfg = private_config("ingest_table");
    cfg.registry.cache_ttl_ms = 200;
    let h = Harness::start_cfg(cfg).await;
    let owner = h.key("acme", None, Role::Owner).await;
    let key = h.write_key("acme").await;
    assert_eq!(
        h.call(
            "PUT",
            "/v1/org/settings",
            &owner,
            Some(json!({"pending_limit": 2}))
        )
        .await
        .status,
        200
    );
    assert_eq!(
        h.call(
            "POST",
            "/v1/projects",
            &owner,
            Some(json!({"slug": "live", "name": "Live"}))
        )
        .await
        .status,
        201
    );
    assert_eq!(
        h.call("POST", "/v1/projects", &owner, Some(json!({"slug": "old"})))
            .await
            .status,
        201
    );
    assert_eq!(
        h.call("DELETE", "/v1/projects/old", &owner, None)
            .await
            .status,
        200
    );

    // §C3 row: unset, empty or `default` → the `default` ("Production") project.
    for header in [None, Some(""), Some("default")] {
        assert_eq!(
            h.post("/v1/events/track", Some(&key), header, EVENT)
                .await
                .status,
            204,
            "{header:?}"
        );
    }
    // §C3 row: an active project's slug → accepted, stored in that project.
    assert_eq!(
        h.post("/v1/events/track", Some(&key), Some("live"), EVENT)
            .await
            .status,
        204
    );
    // §C3 row: an archived project's slug → 403.
    let r = h
        .post("/v1/events/track", Some(&key), Some("old"), EVENT)
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.error()["param"], "X-Raindrop-Project-Id");
    // A later "active" version (a racing or clock-skewed update) does not un-archive it.
    h.db.query(
        "INSERT INTO projects SELECT org, slug, name, metadata, 'active', rate_limit_rpm, body_retention_hours, \
         log_retention_days, created_at, updated_at, bitAnd(version, 9223372036854775807) + 3600000000, allowed_origins, \
         active_policy_id, filter_all_messages FROM projects \
         WHERE org = ? AND slug = 'old' AND status = 'archived'",
    )
    .bind("acme")
    .execute()
    .await
    .expect("skewed write");
    h.db.query("OPTIMIZE TABLE projects FINAL")
        .execute()
        .await
        .expect("merge");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await; // past the registry cache expiry
    assert_eq!(
        h.post("/v1/events/track", Some(&key), Some("old"), EVENT)
            .await
            .status,
        403,
        "archiving is sticky"
    );
    assert_eq!(
        h.call("POST", "/v1/projects", &owner, Some(json!({"slug": "old"})))
            .await
            .status,
        409
    );
    // A request refused for its body does not take a pending slot (the limit is 2;
    // new-a and new-b below must both still fit).
    let r = h
        .post(
            "/v1/events/track",
            Some(&key),
            Some("typo-slug"),
            r#"[{"event": "no user"}]"#,
        )
        .await;
    assert_eq!(r.status, 400);
    // §C3 row: a new slug, org below its pending limit → accepted, data stored (§C6).
    for slug in ["new-a", "new-b"] {
        assert_eq!(
            h.post("/v1/events/track", Some(&key), Some(slug), EVENT)
                .await
                .status,
            204,
            "{slug}"
        );
    }
    // A pending slug keeps accepting data.
    assert_eq!(
        h.post("/v1/events/track", Some(&key), Some("new-a"), EVENT)
            .await
            .status,
        204
    );
    // §C3 row: a new slug beyond the pending limit → 403.
    let r = h
        .post("/v1/events/track", Some(&key), Some("new-c"), EVENT)
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.error()["message"]
            .as_str()
            .is_some_and(|m| m.contains("limit"))
    );
    // §C3 row: a malformed slug (§C4) → 400.
    assert_eq!(
        h.post("/v1/events/track", Some(&key), Some("New_C"), EVENT)
            .await
            .status,
        400
    );

    // "Each such slug then appears ... along with how many events it has received and when it was last seen."
    let deadline = std::time::Instant::now() + crate::common::DEADLINE;
    let pending = loop {
        let p = h
            .call("GET", "/v1/projects/pending", &owner, None)
            .await
            .json();
        let counts: Vec<u64> = p["pending"]
            .as_array()
            .expect("array")
            .iter()
            .map(|s| s["event_count"].as_u64().unwrap_or(0))
            .collect();
        if counts.iter().sum::<u64>() == 3 || std::time::Instant::now() > deadline {
            break p;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let slugs: Vec<&str> = pending["pending"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|s| s["slug"].as_str())
        .collect();
    assert_eq!(slugs.len(), 2, "{pending}");
    assert!(
        slugs.contains(&"new-a") && slugs.contains(&"new-b"),
        "{pending}"
    );
    let new_a = pending["pending"]
        .as_array()
        .expect("array")
        .iter()
        .find(|s| s["slug"] == "new-a")
        .expect("new-a");
    assert_eq!(new_a["event_count"], 2);
    assert!(new_a["last_seen"].as_u64().is_some_and(|t| t > 0));
    assert_eq!(
        (pending["limit"].as_u64(), pending["remaining"].as_u64()),
        (Some(2), Some(0))
    );

    // "Once your org reaches the limit, further new slugs are rejected with a 403
    // until you create some of the pending ones." Creating new-a adopts its data.
    let r = h
        .call(
            "POST",
            "/v1/projects",
            &owner,
            Some(json!({"slug": "new-a", "name": "New A"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let pending = h
        .call("GET", "/v1/projects/pending", &owner, None)
        .await
        .json();
    assert_eq!(
        pending["pending"].as_array().map(Vec::len),
        Some(1),
        "{pending}"
    );
    assert_eq!(pending["remaining"], 1);
    let count = "SELECT count() FROM events_view WHERE org = ? AND project = 'new-a'";
    assert_eq!(
        h.wait_count(count, "acme", 2).await,
        2,
        "data sent before creation is kept"
    );
    let deadline = std::time::Instant::now() + crate::common::DEADLINE;
    while h
        .post("/v1/events/track", Some(&key), Some("new-c"), EVENT)
        .await
        .status
        != 204
    {
        assert!(
            std::time::Instant::now() < deadline,
            "new-c still refused after a slot freed up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_endpoints_and_roles() {
    let h = Harness::start_with(
        private_config("admin"),
        Parts {
            edge: true,
            consumers: false,
        },
        true,
    )
    .await;
    let owner = h.key("acme", None, Role::Owner).await;
    let admin = h.key("acme", None, Role::Admin).await;
    let member = h.key("acme", None, Role::Member).await;
    let writer = h.write_key("acme").await;

    // Every org has `default`, named "Production".
    let list = h.call("GET", "/v1/projects", &member, None).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.json()["projects"][0]["slug"], "default");
    assert_eq!(list.json()["projects"][0]["name"], "Production");

    // The CRUD API's create body: name, canonical_name, metadata (docs/CONTRACT.md §C18).
    let body = json!({"name": "Customer Support Bot", "canonical_name": "support-bot",
                      "metadata": {"team": "customer-success"}, "settings": {"rate_limit_rpm": 60}});
    let created = h.call("POST", "/v1/projects", &admin, Some(body)).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let p = created.json();
    assert_eq!(
        (p["slug"].as_str(), p["status"].as_str()),
        (Some("support-bot"), Some("active"))
    );
    assert_eq!(
        p["settings"],
        json!({"rate_limit_rpm": 60, "body_retention_hours": 48, "log_retention_days": 90, "allowed_origins": null,
               "active_policy_id": "default", "filter_all_messages": true})
    );
    // Read your own writes, at once.
    let got = h
        .call("GET", "/v1/projects/support-bot", &member, None)
        .await
        .json();
    assert_eq!(got["name"], "Customer Support Bot");
    assert_eq!(got["metadata"], json!({"team": "customer-success"}));

    // Members read but do not manage; SDK write keys are not admin credentials.
    for key in [&member, &writer] {
        assert_eq!(
            h.call("POST", "/v1/projects", key, Some(json!({"slug": "nope"})))
                .await
                .status,
            403
        );
        assert_eq!(
            h.call("DELETE", "/v1/projects/support-bot", key, None)
                .await
                .status,
            403
        );
    }
    assert_eq!(
        h.call("GET", "/v1/projects", &writer, None).await.status,
        403
    );
    assert_eq!(
        h.call(
            "PUT",
            "/v1/org/settings",
            &admin,
            Some(json!({"pending_limit": 5}))
        )
        .await
        .status,
        403,
        "owner only"
    );

    // PATCH renames (`{"rate_limit_rpm": null}` removes the limit, docs/CONTRACT.md §C16);
    // the slug never changes (§C18).
    let r = h
        .call(
            "PATCH",
            "/v1/projects/support-bot",
            &owner,
            Some(json!({"name": "Support", "rate_limit_rpm": null})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (
            r.json()["name"].as_str(),
            r.json()["settings"]["rate_limit_rpm"].is_null()
        ),
        (Some("Support"), true)
    );
    assert_eq!(
        r.json()["metadata"],
        json!({"team": "customer-success"}),
        "PATCH keeps what it was not given"
    );
    assert_eq!(
        h.call(
            "PATCH",
            "/v1/projects/support-bot",
            &owner,
            Some(json!({"slug": "other"}))
        )
        .await
        .status,
        400
    );
    // docs/CONTRACT.md §C17: body_retention_hours ≤ log_retention_days × 24 is enforced.
    let r = h
        .call(
            "PATCH",
            "/v1/projects/support-bot",
            &owner,
            Some(json!({"settings": {"body_retention_hours": 49, "log_retention_days": 2}})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["param"], "settings.body_retention_hours");
    assert_eq!(
        h.call(
            "PATCH",
            "/v1/projects/support-bot",
            &owner,
            Some(json!({"rate_limit_rpm": 0}))
        )
        .await
        .status,
        400
    );
    // Two PATCHes of different settings at once: both stick.
    let (a, b) = tokio::join!(
        h.call(
            "PATCH",
            "/v1/projects/support-bot",
            &owner,
            Some(json!({"rate_limit_rpm": 120}))
        ),
        h.call(
            "PATCH",
            "/v1/projects/support-bot",
            &admin,
            Some(json!({"settings": {"log_retention_days": 30}}))
        ),
    );
    assert_eq!((a.status, b.status), (200, 200));
    let settings = h
        .call("GET", "/v1/projects/support-bot", &member, None)
        .await
        .json()["settings"]
        .clone();
    assert_eq!(
        settings,
        json!({"rate_limit_rpm": 120, "body_retention_hours": 48, "log_retention_days": 30,
               "allowed_origins": null,
               "active_policy_id": "default", "filter_all_messages": true})
    );
    // PUT replaces every mutable field.
    let r = h
        .call(
            "PUT",
            "/v1/projects/support-bot",
            &owner,
            Some(json!({"name": "Replaced"})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        (
            r.json()["metadata"].clone(),
            r.json()["settings"]["body_retention_hours"].clone()
        ),
        (json!({}), json!(48))
    );

    // Archive (DELETE archives; no hard delete); archived slugs are never reusable.
    let r = h
        .call("DELETE", "/v1/projects/support-bot", &admin, None)
        .await;
    assert_eq!(
        (r.status, r.json()["status"].as_str()),
        (200, Some("archived"))
    );
    assert_eq!(
        h.call("GET", "/v1/projects/support-bot", &member, None)
            .await
            .json()["status"],
        "archived"
    );
    assert_eq!(
        h.call(
            "POST",
            "/v1/projects",
            &owner,
            Some(json!({"slug": "support-bot"}))
        )
        .await
        .status,
        409
    );
    assert_eq!(
        h.call(
            "POST",
            "/v1/projects",
            &owner,
            Some(json!({"slug": "live"}))
        )
        .await
        .status,
        201
    );
    assert_eq!(
        h.call("POST", "/v1/projects/live/archive", &owner, None)
            .await
            .status,
        200
    );
    // `default` cannot be archived or created; it can be renamed.
    assert_eq!(
        h.call("DELETE", "/v1/projects/default", &owner, None)
            .await
            .status,
        409
    );
    assert_eq!(
        h.call(
            "POST",
            "/v1/projects",
            &owner,
            Some(json!({"slug": "default"}))
        )
        .await
        .status,
        409
    );
    let r = h
        .call(
            "PATCH",
            "/v1/projects/default",
            &owner,
            Some(json!({"name": "Prod"})),
        )
        .await;
    assert_eq!(
        (
            r.status,
            r.json()["slug"].as_str(),
            r.json()["name"].as_str()
        ),
        (200, Some("default"), Some("Prod"))
    );
    assert_eq!(
        h.call("GET", "/v1/projects/missing", &member, None)
            .await
            .status,
        404
    );
    assert_eq!(
        h.call(
            "POST",
            "/v1/projects",
            &owner,
            Some(json!({"slug": "Bad_Slug"}))
        )
        .await
        .status,
        400
    );

    // Another org sees none of it.
    let other = h.key("globex", None, Role::Owner).await;
    let theirs = h.call("GET", "/v1/projects", &other, None).await.json();
    assert_eq!(
        theirs["projects"].as_array().map(Vec::len),
        Some(1),
        "only their default: {theirs}"
    );
    assert_eq!(
        h.call("GET", "/v1/projects/live", &other, None)
            .await
            .status,
        404
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_edges_share_the_pending_limit() {
    // docs/ARCHITECTURE.md: with N edges the limit can be overshot by at most N − 1 slugs.
    let h = Harness::start_with(
        private_config("two_edges"),
        Parts {
            edge: true,
            consumers: false,
        },
        true,
    )
    .await;
    let second = Harness::start_with(
        h.cfg.clone(),
        Parts {
            edge: true,
            consumers: false,
        },
        false,
    )
    .await;
    let owner = h.key("acme", None, Role::Owner).await;
    let key = h.write_key("acme").await;
    let limit = 3;
    assert_eq!(
        h.call(
            "PUT",
            "/v1/org/settings",
            &owner,
            Some(json!({"pending_limit": limit}))
        )
        .await
        .status,
        200
    );
    let sends = (0..10).map(|i| {
        let edge = if i % 2 == 0 { &h } else { &second };
        let (key, slug) = (key.clone(), format!("slug-{i}"));
        async move {
            edge.post("/v1/events/track", Some(&key), Some(&slug), EVENT)
                .await
                .status
        }
    });
    let statuses = futures_join(sends).await;
    let accepted = statuses.iter().filter(|s| **s == 204).count();
    assert!(
        statuses.iter().all(|s| *s == 204 || *s == 403),
        "{statuses:?}"
    );
    assert!(
        (limit..=limit + 1).contains(&accepted),
        "accepted {accepted} of 10 with limit {limit} and 2 edges: {statuses:?}"
    );
    let pending = h
        .call("GET", "/v1/projects/pending", &owner, None)
        .await
        .json();
    assert_eq!(
        pending["pending"].as_array().map(Vec::len),
        Some(accepted),
        "{pending}"
    );
    // Once at the limit, both edges refuse new slugs.
    for edge in [&h, &second] {
        assert_eq!(
            edge.post("/v1/events/track", Some(&key), Some("late"), EVENT)
                .await
                .status,
            403
        );
    }
    // The same slug created on both edges at once ends as one project.
    let create = |edge: &'static str| {
        let (harness, owner) = (if edge == "first" { &h } else { &second }, owner.clone());
        async move {
            harness
                .call(
                    "POST",
                    "/v1/projects",
                    &owner,
                    Some(json!({"slug": "raced", "name": edge})),
                )
                .await
                .status
        }
    };
    let (a, b) = tokio::join!(create("first"), create("second"));
    assert!(
        [a, b].contains(&201) && [a, b].iter().all(|s| *s == 201 || *s == 409),
        "{a} {b}"
    );
    let list = h.call("GET", "/v1/projects", &owner, None).await.json();
    let raced = list["projects"]
        .as_array()
        .expect("array")
        .iter()
        .filter(|p| p["slug"] == "raced")
        .count();
    assert_eq!(raced, 1, "{list}");
    assert_eq!(
        h.call(
            "POST",
            "/v1/projects",
            &owner,
            Some(json!({"slug": "raced"}))
        )
        .await
        .status,
        409
    );
    if let Some(running) = { second }.running.take() {
        running.stop().await;
    }
    h.stop().await;
}

/// Runs futures concurrently (no extra dependency).
async fn futures_join<F: std::future::Future<Output = u16> + Send>(
    futures: impl Iterator<Item = F>,
) -> Vec<u16> {
    let mut set = Vec::new();
    for f in futures {
        set.push(f);
    }
    let mut out = Vec::new();
    let pinned: Vec<_> = set.into_iter().map(Box::pin).collect();
    let mut pending: Vec<Option<_>> = pinned.into_iter().map(Some).collect();
    out.resize(pending.len(), 0);
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (i, slot) in pending.iter_mut().enumerate() {
            if let Some(fut) = slot {
                match fut.as_mut().poll(cx) {
                    std::task::Poll::Ready(status) => {
                        out[i] = status;
                        *slot = None;
                    }
                    std::task::Poll::Pending => done = false,
                }
            }
        }
        if done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_projects_get_429_with_headers() {
    let h = Harness::start_with(
        private_config("rate"),
        Parts {
            edge: true,
            consumers: false,
        },
        true,
    )
    .await;
    let owner = h.key("acme", None, Role::Owner).await;
    let key = h.write_key("acme").await;
    let body = json!({"slug": "limited", "settings": {"rate_limit_rpm": 3}});
    assert_eq!(
        h.call("POST", "/v1/projects", &owner, Some(body))
            .await
            .status,
        201
    );
    // Windows are clock minutes: start well inside one so the count is not reset mid-test.
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    };
    if now() % 60 > 50 {
        tokio::time::sleep(std::time::Duration::from_secs(61 - now() % 60)).await;
    }
    let send = || async {
        let r = h
            .http
            .post(format!("{}/v1/events/track", h.base))
            .header("authorization", format!("Bearer {key}"))
            .header("x-raindrop-project-id", "limited")
            .body(EVENT)
            .send()
            .await
            .expect("sent");
        let header = |name: &str| {
            r.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let seen = (
            r.status().as_u16(),
            header("x-ratelimit-limit"),
            header("x-ratelimit-remaining"),
            header("retry-after"),
        );
        let reset = header("x-ratelimit-reset").and_then(|v| v.parse::<u64>().ok());
        let body = r.text().await.unwrap_or_default();
        (seen, reset, body)
    };
    // docs/CONTRACT.md §C16: the X-RateLimit-* headers come on every request of a limited project.
    for remaining in ["2", "1", "0"] {
        let ((status, limit, left, _), reset, body) = send().await;
        assert_eq!(
            (status, limit.as_deref(), left.as_deref()),
            (204, Some("3"), Some(remaining)),
            "{body}"
        );
        assert!(
            reset.is_some_and(|t| t % 60 == 0 && t > now()),
            "X-RateLimit-Reset is the window's end"
        );
    }
    // "When the limit is exceeded, CollieAI returns HTTP 429 with an OpenAI-compatible error".
    let ((status, _, left, retry), _, body) = send().await;
    assert_eq!((status, left.as_deref()), (429, Some("0")), "{body}");
    assert!(
        retry
            .and_then(|s| s.parse::<u64>().ok())
            .is_some_and(|s| (1..=60).contains(&s))
    );
    let error: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(
        (
            error["error"]["type"].as_str(),
            error["error"]["code"].as_u64()
        ),
        (Some("rate_limit_exceeded"), Some(429))
    );
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Rate limit exceeded. Max 3 requests per minute."))
    );
    // Unlimited projects carry no rate-limit headers.
    let r = h
        .http
        .post(format!("{}/v1/events/track", h.base))
        .header("authorization", format!("Bearer {key}"))
        .body(EVENT)
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status().as_u16(), 204);
    assert!(r.headers().get("x-ratelimit-limit").is_none());
    h.stop().await;
}

/// docs/CONTRACT.md §C16 across edges: two edges in front of one registry
/// admit a project's `rate_limit_rpm` together, not each (each would admit
/// 20 of the 40 requests below; together 40), give or take what the other
/// admitted within two exchange intervals and a round trip.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_holds_across_two_edges() {
    let mut cfg = private_config("rate_edges");
    cfg.edge.rate_limit_sync_ms = 100;
    let h = Harness::start_with(
        cfg.clone(),
        Parts {
            edge: true,
            consumers: false,
        },
        true,
    )
    .await;
    let second = downpour::runtime::start(
        &cfg,
        Parts {
            edge: true,
            consumers: false,
        },
    )
    .await
    .expect("a second edge");
    let bases = [
        h.base.clone(),
        format!("http://{}", second.edge_addr.expect("listening")),
    ];
    let owner = h.key("acme", None, Role::Owner).await;
    let key = h.write_key("acme").await;
    let body = json!({"slug": "shared", "settings": {"rate_limit_rpm": 20}});
    let r = h.call("POST", "/v1/projects", &owner, Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    // Windows are clock minutes: run inside one (the 40 requests take ~10 s).
    let now = || chrono::Utc::now().timestamp();
    if now() % 60 > 45 {
        tokio::time::sleep(std::time::Duration::from_secs((61 - now() % 60) as u64)).await;
    }
    let minute = now() / 60;
    let mut admitted = [0u32; 2];
    let mut refused = 0;
    for i in 0..40 {
        let edge = i % 2;
        let r = h
            .http
            .post(format!("{}/v1/events/track", bases[edge]))
            .header("authorization", format!("Bearer {key}"))
            .header("x-raindrop-project-id", "shared")
            .body(EVENT)
            .send()
            .await
            .expect("sent");
        match r.status().as_u16() {
            204 => admitted[edge] += 1,
            429 => refused += 1,
            other => panic!("request {i}: {other}"),
        }
        // Traffic spread over time, as a balancer spreads it: each edge
        // hears of the other's requests within two 100 ms intervals and a
        // round trip.
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert_eq!(now() / 60, minute, "the requests stayed in one window");
    let total = admitted[0] + admitted[1];
    assert!(
        (20..=22).contains(&total),
        "20 per minute across both edges, give or take a late exchange: {admitted:?}, {refused} refused"
    );
    assert!(
        admitted.iter().all(|n| *n >= 8),
        "both edges admitted their share: {admitted:?}"
    );
    second.stop().await;
    h.stop().await;
}
