//! Keys (docs/CONTRACT.md §C15): project-scoped write keys whose full value
//! is shown only at creation, stored hashed, revocable, and org
//! keys made by an owner.

use crate::common::{Harness, private_config};
use downpour::registry::keys::Role;
use downpour::runtime::Parts;
use serde_json::json;

const EVENT: &str = r#"[{"user_id": "u", "event": "e"}]"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn project_keys_are_shown_once_scoped_and_revocable() {
    let mut cfg = private_config("keys");
    cfg.edge.key_cache_ttl_ms = 300;
    let h = Harness::start_cfg(cfg).await;
    let owner = h.key("acme", None, Role::Owner).await;
    let member = h.key("acme", None, Role::Member).await;
    assert_eq!(
        h.call("POST", "/v1/projects", &owner, Some(json!({"slug": "bot"})))
            .await
            .status,
        201
    );
    assert_eq!(
        h.call(
            "POST",
            "/v1/projects",
            &owner,
            Some(json!({"slug": "other"}))
        )
        .await
        .status,
        201
    );

    let r = h.call("POST", "/v1/projects/bot/keys", &owner, None).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let created = r.json();
    let key = created["key"]
        .as_str()
        .expect("full key in the creation response")
        .to_string();
    let id = created["id"].as_str().expect("id").to_string();
    assert_eq!(created["project"], "bot");
    assert_eq!(
        h.call("POST", "/v1/projects/missing/keys", &owner, None)
            .await
            .status,
        404
    );
    assert_eq!(
        h.call("POST", "/v1/projects/bot/keys", &member, None)
            .await
            .status,
        403,
        "members do not manage keys"
    );

    // Listed afterwards by prefix only; stored as a hash, never in plaintext.
    let listed = h.call("GET", "/v1/projects/bot/keys", &owner, None).await;
    assert_eq!(listed.status, 200);
    assert!(
        !listed.body.contains(&key[key.len() - 32..]),
        "the secret is never listed: {}",
        listed.body
    );
    assert_eq!(listed.json()["keys"][0]["id"], id.as_str());
    let stored: Vec<String> = h
        .db
        .query("SELECT concat(key_id, org, project, role, secret_hash) FROM keys WHERE key_id = ?")
        .bind(&id)
        .fetch_all()
        .await
        .expect("keys rows");
    assert!(!stored.is_empty());
    assert!(
        stored
            .iter()
            .all(|row| !row.contains(&key[key.len() - 32..])),
        "plaintext secret stored"
    );

    // A project-scoped key writes only to its project: no header means its project,
    // another slug is a 403.
    assert_eq!(
        h.post("/v1/events/track", Some(&key), None, EVENT)
            .await
            .status,
        204
    );
    assert_eq!(
        h.post("/v1/events/track", Some(&key), Some("bot"), EVENT)
            .await
            .status,
        204
    );
    let r = h
        .post("/v1/events/track", Some(&key), Some("other"), EVENT)
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.error()["param"], "X-Raindrop-Project-Id");
    assert_eq!(
        h.post("/v1/events/track", Some(&key), Some("default"), EVENT)
            .await
            .status,
        403
    );
    let count = "SELECT count() FROM events_view WHERE org = ? AND project = 'bot'";
    assert_eq!(h.wait_count(count, "acme", 2).await, 2);
    // A project key is no admin credential.
    assert_eq!(h.call("GET", "/v1/projects", &key, None).await.status, 403);

    // Another org cannot revoke it.
    let stranger = h.key("globex", None, Role::Owner).await;
    assert_eq!(
        h.call(
            "DELETE",
            &format!("/v1/projects/bot/keys/{id}"),
            &stranger,
            None
        )
        .await
        .status,
        404
    );
    assert_eq!(
        h.post("/v1/events/track", Some(&key), None, EVENT)
            .await
            .status,
        204
    );

    // Revoked: refused within the cache expiry.
    let r = h
        .call(
            "DELETE",
            &format!("/v1/projects/bot/keys/{id}"),
            &owner,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let status = h
            .post("/v1/events/track", Some(&key), None, EVENT)
            .await
            .status;
        if status == 401 {
            break;
        }
        assert_eq!(status, 204);
        assert!(
            std::time::Instant::now() < deadline,
            "revoked key still accepted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        h.call("GET", "/v1/projects/bot/keys", &owner, None)
            .await
            .json()["keys"][0]["revoked"],
        true
    );
    // A row written by a creator whose clock ran an hour ahead does not revive it,
    // even once a merge has kept only the winning row.
    h.db.query(
        "INSERT INTO keys (key_id, org, project, role, secret_hash, revoked, version, created_at) \
         SELECT key_id, org, project, role, secret_hash, 0, bitAnd(version, 9223372036854775807) + 3600000000, created_at \
         FROM keys WHERE key_id = ? AND revoked = 1",
    )
    .bind(&id)
    .execute()
    .await
    .expect("skewed write");
    h.db.query("OPTIMIZE TABLE keys FINAL")
        .execute()
        .await
        .expect("merge");
    tokio::time::sleep(std::time::Duration::from_millis(400)).await; // past the key cache expiry
    assert_eq!(
        h.post("/v1/events/track", Some(&key), None, EVENT)
            .await
            .status,
        401,
        "revocation is sticky"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_make_org_keys_with_roles() {
    let h = Harness::start_with(
        private_config("org_keys"),
        Parts {
            edge: true,
            consumers: false,
        },
        true,
    )
    .await;
    let owner = h.key("acme", None, Role::Owner).await;
    let r = h
        .call("POST", "/v1/keys", &owner, Some(json!({"role": "admin"})))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let admin = r.json()["key"].as_str().expect("key").to_string();
    // The new admin key manages projects but not keys of the org.
    assert_eq!(
        h.call(
            "POST",
            "/v1/projects",
            &admin,
            Some(json!({"slug": "made-by-admin"}))
        )
        .await
        .status,
        201
    );
    assert_eq!(
        h.call("POST", "/v1/keys", &admin, Some(json!({"role": "owner"})))
            .await
            .status,
        403
    );
    let r = h
        .call("POST", "/v1/keys", &owner, Some(json!({"role": "write"})))
        .await;
    let writer = r.json()["key"].as_str().expect("key").to_string();
    assert_eq!(
        h.post(
            "/v1/events/track",
            Some(&writer),
            Some("made-by-admin"),
            EVENT
        )
        .await
        .status,
        204
    );
    assert_eq!(
        h.call("POST", "/v1/keys", &owner, Some(json!({"role": "root"})))
            .await
            .status,
        400
    );
    assert_eq!(
        h.call("GET", "/v1/keys", &owner, None).await.json()["keys"]
            .as_array()
            .map(Vec::len),
        Some(3),
        "owner, admin, writer"
    );
    h.stop().await;
}
