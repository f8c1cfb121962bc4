//! Redaction at the edge (issue 13, docs/CONTRACT.md §C23), against the
//! real broker and ClickHouse: what a project's active policy finds never
//! reaches a table; policies are created and listed through the admin API;
//! a switch made elsewhere reaches this edge within
//! `registry.cache_ttl_ms`; `filter_all_messages: false` redacts only the
//! last turn of a conversation.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{Harness, private_config};
use downpour::registry::keys::Role;
use downpour::registry::projects::{Changes, SettingsPatch};
use downpour::registry::slug::Slug;
use downpour::runtime;

const ORG: &str = "redact";

fn event(id: &str, input: &str) -> String {
    json!([{"event_id": id, "user_id": "u1", "event": "chat",
            "ai_data": {"input": input, "output": "ok"}}])
    .to_string()
}

/// `column` of the event `id` once it is stored.
async fn stored(h: &Harness, column: &str, id: &str) -> String {
    let sql = format!("SELECT count() FROM events WHERE org = ? AND event_id = '{id}'");
    h.wait_count(&sql, ORG, 1).await;
    let sql = format!("SELECT {column} FROM events WHERE org = ? AND event_id = '{id}' LIMIT 1");
    let rows: Vec<String> = h.rows(&sql, ORG).await;
    rows.into_iter().next().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_default_policy_finds_never_reaches_a_table() {
    let h = Harness::start("redaction").await;
    let write = h.write_key(ORG).await;
    // As a new user would send it: nothing configured.
    let events = json!([{
        "event_id": "e1", "user_id": "u1", "event": "chat",
        "context": {"ip": "10.20.30.40", "email": "jane.doe@example.com"},
        "ai_data": {"input": "I am jane.doe@example.com, card 4111 1111 1111 1111",
                    "output": "Noted, I will call +1 415 555 2671"},
        "properties": {"contact": "jane.doe@example.com", "n": 3, "nested": {"ip": "10.1.2.3"}},
        "attachments": [{"type": "text", "value": "key sk-proj-abcdefghijklmnopqrstuv", "role": "input"}]
    }]);
    let r = h
        .post("/v1/events/track", Some(&write), None, &events.to_string())
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let signal = json!({"event_id": "e1", "signal_name": "feedback",
                        "properties": {"comment": "mail jane.doe@example.com"}});
    let r = h
        .post("/v1/signals/track", Some(&write), None, &signal.to_string())
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let identify =
        json!({"user_id": "u1", "traits": {"email": "jane.doe@example.com", "plan": "pro"}});
    let r = h
        .post(
            "/v1/users/identify",
            Some(&write),
            None,
            &identify.to_string(),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let span = json!({"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"spans": [{
        "traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "00f067aa0ba902b7", "name": "llm",
        "startTimeUnixNano": "1761991200000000000", "endTimeUnixNano": "1761991201000000000",
        "attributes": [{"key": "gen_ai.prompt", "value": {"stringValue": "reach me at jane.doe@example.com"}}],
        "status": {"code": 2, "message": "failed for 10.9.8.7"}}]}]}]});
    let r = h
        .post("/v1/traces", Some(&write), None, &span.to_string())
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    assert_eq!(
        stored(&h, "ai_input", "e1").await,
        "I am [REDACTED:email], card [REDACTED:card]"
    );
    assert_eq!(
        stored(&h, "ai_output", "e1").await,
        "Noted, I will call [REDACTED:phone]"
    );
    let props: Value = serde_json::from_str(&stored(&h, "properties", "e1").await).unwrap();
    assert_eq!(
        props,
        json!({"contact": "[REDACTED:email]", "n": 3, "nested": {"ip": "[REDACTED:ip]"}})
    );
    let attachments = stored(&h, "attachments", "e1").await;
    assert!(
        attachments.contains("key [REDACTED:token]"),
        "{attachments}"
    );
    let extra: Value = serde_json::from_str(&stored(&h, "extra", "e1").await).unwrap();
    assert_eq!(
        extra,
        json!({"context": {"ip": "[REDACTED:ip]", "email": "[REDACTED:email]"}})
    );
    h.wait_count("SELECT count() FROM users WHERE org = ?", ORG, 1)
        .await;
    let traits: Vec<String> = h.rows("SELECT traits FROM users WHERE org = ?", ORG).await;
    assert_eq!(
        traits,
        vec![r#"{"email":"[REDACTED:email]","plan":"pro"}"#.to_string()]
    );
    h.wait_count("SELECT count() FROM signals WHERE org = ?", ORG, 1)
        .await;
    h.wait_count("SELECT count() FROM spans WHERE org = ?", ORG, 1)
        .await;
    let signal: Vec<String> = h
        .rows("SELECT properties FROM signals WHERE org = ?", ORG)
        .await;
    assert_eq!(
        signal,
        vec![r#"{"comment":"mail [REDACTED:email]"}"#.to_string()]
    );
    // The prompt is a payload: stored apart (docs/CONTRACT.md §C24).
    let span: Vec<(String, String)> = h
        .rows(
            "SELECT body_attributes, status_message FROM spans WHERE org = ?",
            ORG,
        )
        .await;
    assert!(
        span[0].0.contains("reach me at [REDACTED:email]"),
        "{span:?}"
    );
    assert_eq!(span[0].1, "failed for [REDACTED:ip]");
    // None of what was sent, in any table.
    for table in ["events", "signals", "spans", "users"] {
        for secret in [
            "jane.doe@",
            "4111 1111",
            "555 2671",
            "sk-proj-",
            "10.1.2.3",
            "10.20.30.40",
            "10.9.8.7",
        ] {
            let sql = format!(
                "SELECT count() FROM {table} WHERE org = ? AND position(toString(tuple(*)), '{secret}') > 0"
            );
            let found: Vec<u64> = h.rows(&sql, ORG).await;
            assert_eq!(found, vec![0], "{secret} in {table}");
        }
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_are_created_listed_and_switched_within_the_cache_bound() {
    let mut cfg = private_config("redaction_switch");
    cfg.registry.cache_ttl_ms = 1500;
    let ttl = Duration::from_millis(cfg.registry.cache_ttl_ms);
    let h = Harness::start_cfg(cfg).await;
    let admin = h.key(ORG, None, Role::Admin).await;
    let member = h.key(ORG, None, Role::Member).await;
    let write = h.write_key(ORG).await;

    // Refused bodies name the field.
    for (body, param) in [
        (
            json!({"name": "x", "rules": [{"name": "t", "pattern": "(open"}]}),
            "rules[0].pattern",
        ),
        (json!({"name": "x", "detectors": ["ssn"]}), "detectors[0]"),
        (json!({"detectors": []}), "name"),
    ] {
        let r = h.call("POST", "/v1/policies", &admin, Some(body)).await;
        assert_eq!(r.status, 400, "{}", r.body);
        assert_eq!(r.error()["param"], json!(param));
    }
    let r = h
        .call("POST", "/v1/policies", &member, Some(json!({"name": "x"})))
        .await;
    assert_eq!(r.status, 403, "a member creates no policy");
    let created = h
        .call(
            "POST",
            "/v1/policies",
            &admin,
            Some(json!({"name": "tickets only", "detectors": [],
                        "rules": [{"name": "ticket", "pattern": "TCK-[0-9]{4}"}]})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let policy = created.json()["id"].as_str().unwrap().to_string();
    let list = h.call("GET", "/v1/policies", &member, None).await.json();
    let ids: Vec<&str> = list["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["default", policy.as_str()]);
    assert_eq!(
        h.call("GET", &format!("/v1/policies/{policy}"), &member, None)
            .await
            .json()["rules"][0]["name"],
        json!("ticket")
    );
    assert_eq!(
        h.call("GET", "/v1/policies/pol_nope", &member, None)
            .await
            .status,
        404
    );

    let r = h
        .call(
            "POST",
            "/v1/projects",
            &admin,
            Some(json!({"slug": "support"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["settings"]["active_policy_id"], json!("default"));
    assert_eq!(r.json()["settings"]["filter_all_messages"], json!(true));
    let r = h
        .call(
            "PATCH",
            "/v1/projects/support",
            &admin,
            Some(json!({"active_policy_id": "pol_nope"})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error()["param"], json!("settings.active_policy_id"));

    let text = "TCK-1234 from jane@example.com";
    let send = |id: String| {
        let body = event(&id, text);
        let h = &h;
        let write = &write;
        async move {
            let r = h
                .post("/v1/events/track", Some(write), Some("support"), &body)
                .await;
            assert_eq!(r.status, 204, "{}", r.body);
        }
    };
    send("before".into()).await;
    assert_eq!(
        stored(&h, "ai_input", "before").await,
        "TCK-1234 from [REDACTED:email]"
    );

    // The switch, made as another edge's admin API makes it: in the
    // registry, this edge's cache not told. A request just before it has
    // this edge's view of the org fresh.
    let store = runtime::project_store(&h.cfg).unwrap();
    send("primed".into()).await;
    let changes = Changes {
        settings: SettingsPatch {
            active_policy_id: Some(policy.clone()),
            ..Default::default()
        },
        ..Default::default()
    };
    store
        .update(ORG, &Slug::parse("support").unwrap(), changes)
        .await
        .unwrap();
    let switched = Instant::now();
    let mut sent = Vec::new();
    let mut i = 0;
    while switched.elapsed() < ttl + Duration::from_millis(1500) {
        let id = format!("after-{i}");
        let at = switched.elapsed();
        send(id.clone()).await;
        sent.push((id, at));
        i += 1;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let new_policy = "[REDACTED:ticket] from jane@example.com";
    // The view read before the switch is served until it expires: the first
    // request after the switch still ran the old policy.
    assert_eq!(
        stored(&h, "ai_input", &sent[0].0).await,
        "TCK-1234 from [REDACTED:email]",
        "a switch is not seen before the cache expires"
    );
    let mut switched_seen = false;
    for (id, at) in &sent {
        let input = stored(&h, "ai_input", id).await;
        if input == new_policy {
            switched_seen = true;
        } else {
            assert_eq!(input, "TCK-1234 from [REDACTED:email]", "{id}");
            assert!(
                *at < ttl + Duration::from_millis(200),
                "{id}, sent {at:?} after the switch, still ran the old policy"
            );
        }
    }
    assert!(switched_seen, "the switch never took effect");
    let last = sent.last().unwrap();
    assert_eq!(stored(&h, "ai_input", &last.0).await, new_policy);

    // Only the last turn of a conversation, once asked (through the API:
    // this edge's cache is invalidated at once).
    let r = h
        .call(
            "PATCH",
            "/v1/projects/support",
            &admin,
            Some(json!({"active_policy_id": "default", "filter_all_messages": false})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let convo = json!([
        {"role": "user", "content": "I am jane@example.com"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "my card is 4111 1111 1111 1111"}
    ])
    .to_string();
    let r = h
        .post(
            "/v1/events/track",
            Some(&write),
            Some("support"),
            &event("convo", &convo),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let input: Value = serde_json::from_str(&stored(&h, "ai_input", "convo").await).unwrap();
    assert_eq!(input[0]["content"], json!("I am jane@example.com"));
    assert_eq!(input[2]["content"], json!("my card is [REDACTED:card]"));
    h.stop().await;
}
