//! Raindrop's published JS clients, unmodified, pinned in
//! tests/clients/package-lock.json and installed by `scripts/components.sh
//! clients`: the TypeScript SDK (`raindrop-ai` 0.1.7) with tracing on, and the
//! AI SDK integration (`@raindrop-ai/ai-sdk` 0.3.0 with `ai` 5). Each drives
//! a script in tests/clients/ against the edge; the rows it sent must land,
//! spans joined to their event by `event_id`.

use serde_json::Value;

use crate::common::Harness;

/// Runs `tests/clients/<script>` with node from the installed clients'
/// directory (ES modules resolve packages from the script's own place), with
/// `env`; returns the JSON of its last line.
pub async fn run_node(h: &Harness, script: &str, env: &[(&str, String)]) -> Value {
    let dir = std::env::var("DOWNPOUR_JS_CLIENTS")
        .expect("DOWNPOUR_JS_CLIENTS: run scripts/components.sh clients (scripts/test.sh does)");
    let source = format!("{}/tests/clients/{script}", env!("CARGO_MANIFEST_DIR"));
    let copy = format!("{dir}/{}-{script}", h.cfg.clickhouse.database);
    std::fs::copy(&source, &copy).expect("script copied next to node_modules");
    let mut command = tokio::process::Command::new("node");
    command.arg(&copy);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().await.expect("node runs");
    let _ = std::fs::remove_file(&copy);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{script} failed: {stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or("");
    serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("{script} printed {stdout:?} ({e}); stderr: {stderr}"))
}

/// Runs an ingest client script against the edge.
async fn run_client(h: &Harness, script: &str, key: &str, project: &str) -> Value {
    let env = [
        ("DOWNPOUR_KEY", key.to_string()),
        ("DOWNPOUR_ENDPOINT", format!("{}/v1/", h.base)),
        ("DOWNPOUR_PROJECT", project.to_string()),
        // Tracing's defaults outside production: one export per span, now.
        ("NODE_ENV", "test".to_string()),
    ];
    run_node(h, script, &env).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ts_sdk_with_tracing_on_works_unmodified() {
    let h = Harness::start("ts_sdk").await;
    let key = h.write_key("ts-org").await;
    let ids = run_client(&h, "ts_sdk.mjs", &key, "web-app").await;
    assert_eq!(ids["event_id"], "ts-event-1");
    let org = "ts-org";
    let q = |sql: &str| sql.replace("$P", "org = ? AND project = 'web-app'");
    // trackAi and the finished interaction.
    let events = q(
        "SELECT count() FROM events_view WHERE $P AND event_id IN ('ts-event-1', 'ts-interaction-1')",
    );
    assert_eq!(h.wait_count(&events, org, 2).await, 2);
    let event = q(
        "SELECT count() FROM events_view WHERE $P AND event_id = 'ts-event-1' \
                   AND ai_model = 'gpt-test' AND ai_input = 'what is up' AND convo_id = 'ts-convo' \
                   AND properties LIKE '%\"library\":{\"name\":\"raindrop-ai\"%' \
                   AND attachments LIKE '%SELECT 1%'",
    );
    assert_eq!(
        h.wait_count(&event, org, 1).await,
        1,
        "fields and $context kept"
    );
    let finished = q(
        "SELECT count() FROM events_view WHERE $P AND event_id = 'ts-interaction-1' \
                      AND ai_input = 'do the thing' AND ai_output = 'done'",
    );
    assert_eq!(h.wait_count(&finished, org, 1).await, 1);
    // Every signal type it sent, the agent ones included.
    let signals = q(
        "SELECT count() FROM signals_view WHERE $P AND event_id = 'ts-event-1' \
                     AND signal_type IN ('default', 'agent', 'agent_internal')",
    );
    assert_eq!(h.wait_count(&signals, org, 3).await, 3);
    assert_eq!(
        h.wait_count(
            &q("SELECT count() FROM users_view WHERE $P AND user_id = 'ts-user'"),
            org,
            1
        )
        .await,
        1
    );
    // Its spans (OTLP protobuf, chunked, to <origin>/v1/traces), joined to
    // the interaction's event.
    let joined = q(
        "SELECT count() FROM spans_view INNER JOIN events_view USING (org, project, event_id) \
                    WHERE $P AND event_id = 'ts-interaction-1'",
    );
    assert!(
        h.wait_count(&joined, org, 2).await >= 2,
        "the task and the tool span"
    );
    let tool = q(
        "SELECT count() FROM spans_view WHERE $P AND event_id = 'ts-interaction-1' \
                  AND user_id = 'ts-user' AND convo_id = 'ts-convo' AND parent_span_id != '' \
                  AND name LIKE 'search%'",
    );
    assert_eq!(
        h.wait_count(&tool, org, 1).await,
        1,
        "the tool span under the task span"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ai_sdk_integration_works_unmodified() {
    let h = Harness::start("ai_sdk").await;
    let key = h.write_key("ai-org").await;
    let ids = run_client(&h, "ai_sdk.mjs", &key, "agent").await;
    assert_eq!(ids["event_id"], "ai-event-1");
    let org = "ai-org";
    let q = |sql: &str| sql.replace("$P", "org = ? AND project = 'agent'");
    // The wrapped call's event (one track_partial, final), and a manual event
    // built from patches: properties, attachments, then finished.
    let wrapped = q(
        "SELECT count() FROM events_view WHERE $P AND event_id = 'ai-event-1' \
         AND user_id = 'ai-user' AND event = 'chat_message' AND ai_output = 'It is sunny.' \
         AND ai_model = 'mock-model' AND convo_id = 'ai-convo' \
         AND properties LIKE '%\"name\":\"@raindrop-ai/ai-sdk\"%'",
    );
    assert_eq!(h.wait_count(&wrapped, org, 1).await, 1);
    let manual = q(
        "SELECT count() FROM events_view WHERE $P AND event_id = 'ai-event-2' \
         AND ai_input = 'hello' AND ai_output = 'world' \
         AND properties LIKE '%\"stage\":\"patched\"%' AND attachments LIKE '%context text%' \
         AND visitParamExtractString(feature_flags, 'new_ui') = 'true'",
    );
    assert_eq!(
        h.wait_count(&manual, org, 1).await,
        1,
        "its feature flags kept too"
    );
    // Signals of the types the integration adds.
    let signals = q(
        "SELECT count() FROM signals_view WHERE $P AND event_id = 'ai-event-1' \
                     AND signal_type IN ('agent', 'agent_internal')",
    );
    assert_eq!(h.wait_count(&signals, org, 2).await, 2);
    assert_eq!(
        h.wait_count(
            &q("SELECT count() FROM users_view WHERE $P AND user_id = 'ai-user'"),
            org,
            1
        )
        .await,
        1
    );
    // Its spans (OTLP JSON, base64 ids, to <endpoint>traces): the wrapped
    // call's and the manual parent and child, all joined to the event.
    let joined = q(
        "SELECT count() FROM spans_view INNER JOIN events_view USING (org, project, event_id) \
                    WHERE $P AND event_id = 'ai-event-1'",
    );
    assert!(h.wait_count(&joined, org, 3).await >= 3);
    #[derive(clickhouse::Row, serde::Deserialize, Debug)]
    struct Span {
        name: String,
        span_id: String,
        parent_span_id: String,
        trace_id: String,
    }
    let manual_spans =
        q("SELECT count() FROM spans_view WHERE $P AND name IN ('agent_turn', 'grep_search')");
    assert_eq!(h.wait_count(&manual_spans, org, 2).await, 2);
    let spans: Vec<Span> = h
        .rows(
            &q(
                "SELECT name, span_id, parent_span_id, trace_id FROM spans_view \
                WHERE $P AND name IN ('agent_turn', 'grep_search') ORDER BY name",
            ),
            org,
        )
        .await;
    let (root, child) = (&spans[0], &spans[1]);
    assert_eq!(
        (root.name.as_str(), child.name.as_str()),
        ("agent_turn", "grep_search")
    );
    assert_eq!(
        child.parent_span_id, root.span_id,
        "the child names its parent"
    );
    assert_eq!(child.trace_id, root.trace_id);
    assert_eq!(root.parent_span_id, "");
    h.stop().await;
}
