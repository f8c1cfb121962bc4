//! The projects router serves what its document lists, and every operation
//! documents its error answers.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::http::served::assert_served_as_documented;
use crate::registry::lookups::LookupBudget;

/// A state whose stores are never reached: every probe lacks a key (401).
pub(crate) fn state() -> Arc<AdminState> {
    let db = clickhouse::Client::default();
    let projects = ProjectStore::new(db.clone(), 50);
    let ttl = Duration::from_secs(5);
    Arc::new(AdminState {
        keys: KeyStore::new(db, ttl, ttl, ttl, LookupBudget::new(10)),
        admission: Admission::new(projects.clone(), ttl, ttl),
        projects,
        ceilings: Ceilings {
            max_pending_limit: 1000,
            max_projects: 100,
        },
        endpoints: Default::default(),
        policies: crate::registry::policies::PolicyStore::new(clickhouse::Client::default()),
    })
}

#[tokio::test]
async fn every_route_is_served_as_documented() {
    assert_served_as_documented(
        router(state()),
        &[
            ("/v1/projects", &["GET", "POST"]),
            ("/v1/projects/pending", &["GET"]),
            ("/v1/projects/{slug}", &["GET", "PATCH", "PUT", "DELETE"]),
            ("/v1/projects/{slug}/archive", &["POST"]),
            ("/v1/org/settings", &["PUT"]),
        ],
    )
    .await;
}

#[test]
fn every_operation_has_its_errors_and_types() {
    let mut router = router(state());
    let doc = router.get_openapi_mut();
    let mut ids = Vec::new();
    for item in doc.paths.paths.values_mut() {
        for op in openapi::operations(item) {
            let id = op.operation_id.clone().unwrap_or_default();
            assert!(op.responses.responses.contains_key("401"), "{id}: 401");
            assert!(op.responses.responses.contains_key("503"), "{id}: 503");
            ids.push(id);
        }
    }
    ids.sort();
    let mut table: Vec<String> = ERRORS.iter().map(|(id, _)| id.to_string()).collect();
    table.sort();
    assert_eq!(ids, table, "ERRORS names every operation, and only those");
    let v = serde_json::to_value(&*doc).expect("JSON");
    let schemas = &v["components"]["schemas"];
    for name in [
        "Project",
        "Settings",
        "Status",
        "ProjectList",
        "PendingList",
        "PendingSlug",
        "CreateProject",
        "ProjectChanges",
        "SettingsChanges",
        "OrgSettings",
    ] {
        assert!(schemas[name].is_object(), "{name} in components");
    }
    assert_eq!(
        schemas["CreateProject"]["required"],
        serde_json::json!(["slug"])
    );
    let slug = &v["paths"]["/v1/projects/{slug}"]["get"]["parameters"][0];
    assert_eq!(slug["name"], "slug");
    assert_eq!(slug["in"], "path");
}

#[test]
fn typed_answers_serialize_as_before() {
    let pending = PendingList {
        limit: 50,
        pending: Vec::new(),
        remaining: 50,
    };
    assert_eq!(
        serde_json::to_string(&pending).expect("JSON"),
        serde_json::json!({"pending": [], "limit": 50, "remaining": 50}).to_string()
    );
    let settings = OrgSettings { pending_limit: 7 };
    assert_eq!(
        serde_json::to_string(&settings).expect("JSON"),
        r#"{"pending_limit":7}"#
    );
}
