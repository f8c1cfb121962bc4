//! The real Raindrop Python SDK (`raindrop-ai`, pinned in scripts/components.sh),
//! unmodified, pointed at downpour with `endpoint=` and `project_id=`
//! (docs/CONTRACT.md §C20: `raindrop.init(key, endpoint=..., project_id="support-prod")`).

use crate::common::Harness;
use serde::Deserialize;

#[derive(Debug, clickhouse::Row, Deserialize)]
struct Event {
    project: String,
    user_id: String,
    event: String,
    ai_model: String,
    ai_input: String,
    ai_output: String,
    convo_id: String,
    properties: String,
    attachments: String,
}

/// Runs `tests/sdk/<script>` with the SDK's Python against `h`, sending as
/// `key` to the project `support-prod`; returns its stdout (the ids it
/// printed) and stderr.
async fn run_sdk(h: &Harness, script: &str, key: &str) -> (Vec<u8>, String) {
    let python = std::env::var("DOWNPOUR_SDK_PYTHON").unwrap_or_else(|_| {
        format!(
            "{}/.cache/downpour/venv-sdk/bin/python",
            std::env::var("HOME").unwrap_or_default()
        )
    });
    assert!(
        std::path::Path::new(&python).exists(),
        "{python} missing: run scripts/components.sh sdk"
    );
    let output = tokio::process::Command::new(&python)
        .arg(format!("{}/tests/sdk/{script}", env!("CARGO_MANIFEST_DIR")))
        .env("DOWNPOUR_SDK_KEY", key)
        .env("DOWNPOUR_SDK_ENDPOINT", format!("{}/v1/", h.base))
        .env("DOWNPOUR_SDK_PROJECT", "support-prod")
        .output()
        .await
        .expect("python runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "SDK script failed: {stderr}");
    (output.stdout, stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_works_unmodified() {
    let h = Harness::start("sdk").await;
    let key = h.write_key("sdk-org").await;
    let (stdout, stderr) = run_sdk(&h, "drive.py", &key).await;
    let ids: serde_json::Value = serde_json::from_slice(&stdout).expect("ids JSON");
    let event_id = ids["event_id"].as_str().expect("event id");
    let partial_id = ids["partial_id"].as_str().expect("partial id");

    let count = |table: &str| format!("SELECT count() FROM {table} WHERE org = ?");
    assert_eq!(
        h.wait_count(&count("events_view"), "sdk-org", 2).await,
        2,
        "track_ai + finished interaction; stderr: {stderr}"
    );
    assert_eq!(h.wait_count(&count("signals_view"), "sdk-org", 2).await, 2);
    assert_eq!(h.wait_count(&count("users_view"), "sdk-org", 1).await, 1);

    let select = "SELECT project, user_id, event, ai_model, ai_input, ai_output, convo_id, properties, attachments \
                  FROM events_view WHERE org = ? AND event_id = ?";
    let fetch = |id: &str| {
        h.db.query(select)
            .bind("sdk-org")
            .bind(id.to_string())
            .fetch_one::<Event>()
    };
    let tracked = fetch(event_id).await.expect("track_ai row");
    assert_eq!(tracked.project, "support-prod");
    assert_eq!(
        (tracked.user_id.as_str(), tracked.event.as_str()),
        ("user_123", "chat_message")
    );
    assert_eq!(
        (
            tracked.ai_model.as_str(),
            tracked.ai_input.as_str(),
            tracked.ai_output.as_str(),
            tracked.convo_id.as_str()
        ),
        (
            "gpt-4o",
            "How do I reset my password?",
            "Settings > Security.",
            "convo_abc"
        )
    );
    let props: serde_json::Value = serde_json::from_str(&tracked.properties).expect("JSON");
    assert_eq!(
        (props["plan"].as_str(), props["tokens"].as_i64()),
        (Some("pro"), Some(42))
    );
    let attachments: serde_json::Value = serde_json::from_str(&tracked.attachments).expect("JSON");
    assert_eq!(attachments[0]["value"], "ctx");
    assert_eq!(attachments[0]["role"], "context");

    let finished = fetch(partial_id).await.expect("finished interaction row");
    assert_eq!(
        (finished.user_id.as_str(), finished.event.as_str()),
        ("user_456", "agent_run")
    );
    assert_eq!(
        (finished.ai_input.as_str(), finished.ai_output.as_str()),
        ("Summarise #9", "Refund requested.")
    );
    let props: serde_json::Value = serde_json::from_str(&finished.properties).expect("JSON");
    assert_eq!(props["ticket"], 9);

    let feedback: u64 = h
        .db
        .query("SELECT count() FROM signals_view WHERE org = ? AND event_id = ? AND signal_type = 'feedback' AND sentiment = 'POSITIVE'")
        .bind("sdk-org")
        .bind(event_id.to_string())
        .fetch_one()
        .await
        .expect("count");
    assert_eq!(feedback, 1);
    h.stop().await;
}

/// The same SDK with tracing on (`tracing_enabled=True`): traceloop exports
/// the interaction's task and tool spans as OTLP/HTTP protobuf to
/// `<scheme://host:port>/v1/traces`; they land linked to the interaction's
/// event by traceloop's association properties.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_with_tracing_on_sends_spans_linked_to_its_event() {
    let h = Harness::start("sdk_tracing").await;
    let key = h.write_key("py-org").await;
    let (_, stderr) = run_sdk(&h, "drive_tracing.py", &key).await;
    let joined = "SELECT count() FROM spans_view INNER JOIN events_view USING (org, project, event_id) \
                  WHERE org = ? AND project = 'support-prod' AND event_id = 'py-traced-1'";
    assert_eq!(
        h.wait_count(joined, "py-org", 2).await,
        2,
        "stderr: {stderr}"
    );
    let linked = "SELECT count() FROM spans_view WHERE org = ? AND event_id = 'py-traced-1' \
                  AND user_id = 'py-user' AND convo_id = 'py-convo' AND event_name = 'agent_run' \
                  AND ((name = 'search.tool' AND parent_span_id != '') OR (name = 'plan.task' AND parent_span_id = ''))";
    assert_eq!(
        h.wait_count(linked, "py-org", 2).await,
        2,
        "stderr: {stderr}"
    );
    h.stop().await;
}
