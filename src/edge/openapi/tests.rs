//! Every stream kind's documentation builds whole, refers only to schemas
//! it registers, and says what the edge answers.

use std::collections::BTreeMap;

use super::*;
use crate::pipeline::load;

/// The built-in pipelines' path items as JSON, and their schemas.
fn documented() -> Vec<(Pipeline, Value, BTreeMap<String, Value>)> {
    load(None)
        .expect("built-in pipelines")
        .into_iter()
        .map(|p| {
            let (schemas, item) = path_item(&p);
            let item = serde_json::to_value(&item).expect("JSON");
            let schemas = schemas
                .into_iter()
                .map(|(name, s)| (name, serde_json::to_value(&s).expect("JSON")))
                .collect();
            (p, item, schemas)
        })
        .collect()
}

#[test]
fn every_kind_builds_whole() {
    let all = documented();
    assert_eq!(all.len(), StreamKind::ALL.len());
    for (p, item, schemas) in &all {
        let post = &item["post"];
        assert_eq!(post["operationId"], format!("ingest_{}", p.name));
        assert!(post["summary"].is_string(), "{}", p.name);
        assert!(
            post["requestBody"]["content"].is_object(),
            "{}: body",
            p.name
        );
        assert_eq!(post["parameters"][0]["name"], "X-Raindrop-Project-Id");
        for status in ERRORS {
            let error = &post["responses"][status.to_string()];
            assert!(error.is_object(), "{}: {status}", p.name);
        }
        assert!(post["responses"]["429"]["headers"]["Retry-After"].is_object());
        assert_eq!(item["options"]["security"], json!([]), "{}", p.name);
        assert!(item["options"]["responses"]["200"].is_object());
        // What the document refers to is registered by this route, or is a
        // shared error body (`http::openapi::finish`).
        let mut found = Vec::new();
        crate::http::served::refs(item, &mut found);
        schemas
            .values()
            .for_each(|s| crate::http::served::refs(s, &mut found));
        for r in found {
            let name = r.trim_start_matches("#/components/schemas/");
            assert!(
                schemas.contains_key(name) || name == "ErrorBody",
                "{}: {r} not registered",
                p.name
            );
        }
    }
}

#[test]
fn each_kind_says_what_it_answers() {
    for (p, item, schemas) in documented() {
        let post = &item["post"];
        let ok: Vec<&String> = post["responses"]
            .as_object()
            .expect("responses")
            .keys()
            .filter(|s| s.starts_with('2'))
            .collect();
        let body = &post["requestBody"]["content"];
        match p.kind {
            StreamKind::Spans => {
                assert_eq!(ok, ["200"]);
                assert!(body["application/x-protobuf"].is_object());
                assert!(body["application/json"].is_object());
                assert_eq!(post["parameters"][1]["name"], "Content-Encoding");
                assert!(schemas.contains_key("ExportTraceServiceResponse"));
            }
            StreamKind::Events | StreamKind::PartialEvents => {
                assert_eq!(ok, ["200", "204"]);
                assert!(schemas.contains_key("EventIds"));
            }
            StreamKind::Signals | StreamKind::Users => assert_eq!(ok, ["204"]),
        }
        if p.kind != StreamKind::Spans {
            let one_of = &body["application/json"]["schema"]["oneOf"];
            assert_eq!(one_of[0]["maxItems"], json!(p.limits.max_items));
        }
    }
}

#[test]
fn item_schemas_follow_the_contract() {
    let all = documented();
    let schema = |name: &str| {
        all.iter()
            .find_map(|(_, _, s)| s.get(name).cloned())
            .unwrap_or_else(|| panic!("{name} registered"))
    };
    assert_eq!(schema("EventItem")["required"], json!(["user_id", "event"]));
    assert_eq!(
        schema("SignalItem")["required"],
        json!(["event_id", "signal_name"])
    );
    assert_eq!(schema("IdentifyItem")["required"], json!(["user_id"]));
    assert_eq!(schema("PartialEventItem")["required"], json!(["event_id"]));
    assert_eq!(
        schema("EventAttachment")["required"],
        json!(["type", "value"])
    );
    assert_eq!(
        schema("SignalSentiment")["enum"],
        json!(["POSITIVE", "NEGATIVE"])
    );
    assert_eq!(
        schema("AttachmentType")["enum"],
        json!(["code", "text", "image", "iframe"])
    );
}

#[test]
fn the_ids_answer_is_what_the_schema_says() {
    let ids = EventIds {
        events: vec![EventId { event_id: "e-1" }],
    };
    assert_eq!(
        serde_json::to_string(&ids).expect("JSON"),
        r#"{"events":[{"event_id":"e-1"}]}"#
    );
}
