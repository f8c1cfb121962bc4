//! The redaction policies API (docs/CONTRACT.md §C23):
//!
//! | route | who |
//! | `GET /v1/policies`, `GET /v1/policies/{id}` | owner, admin, member |
//! | `POST /v1/policies` (`{name, detectors, rules}`) | owner, admin (org-wide keys) |
//!
//! A policy never changes once created: to change what a project redacts,
//! create a policy and switch the project to it (`PATCH /v1/projects/{slug}
//! {"active_policy_id": …}`), which every edge applies within
//! `registry.cache_ttl_ms`; switching back is the rollback.
//!
//! Invariants: a rule is compiled here exactly as the edge compiles it
//! (`redact::compile_rule`, size-limited) before it is stored, so a stored
//! policy always compiles; every error names the field (`rules[2].pattern`).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::projects::{AdminState, document_errors, org_wide};
use crate::http::ApiError;
use crate::http::auth::{Caller, Manage, Read};
use crate::redact::{Detector, compile_rule};
use crate::registry::policies::{Policy, PolicyError, RuleBody};

type Shared = State<Arc<AdminState>>;

/// Most rules one policy may hold.
pub const MAX_RULES: usize = 50;
/// Longest rule pattern, in bytes.
pub const MAX_PATTERN_BYTES: usize = 1000;

/// The routes, documented.
pub fn router(state: Arc<AdminState>) -> OpenApiRouter {
    let mut router = OpenApiRouter::new()
        .routes(routes!(list_policies, create_policy))
        .routes(routes!(get_policy))
        .with_state(state);
    document_errors(router.get_openapi_mut(), ERRORS);
    router
}

/// 401, 403 (a role not allowed; a project-scoped key creating), 429, 503
/// as the caller is authenticated; 400 for a malformed body, 404 for an
/// unknown policy, 413 for a body over axum's 2 MB limit.
const ERRORS: &[(&str, &[u16])] = &[
    ("list_policies", &[401, 403, 429, 503]),
    ("create_policy", &[400, 401, 403, 413, 429, 503]),
    ("get_policy", &[401, 403, 404, 429, 503]),
];

impl From<PolicyError> for ApiError {
    fn from(e: PolicyError) -> ApiError {
        tracing::warn!(error = %e, "policies unavailable");
        ApiError::unavailable("redaction policies unavailable, retry shortly")
    }
}

/// The org's policies.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyList {
    /// `default` first, then oldest first.
    pub policies: Vec<Policy>,
}

// Doc-only: `create_policy` reads the body by hand (authoritative).
/// A new policy.
#[derive(ToSchema)]
pub struct NewPolicy {
    /// 1 to 128 characters.
    pub name: String,
    /// The built-in detectors it runs (default: all of them).
    #[serde(default)]
    pub detectors: Vec<Detector>,
    /// The org's own rules, at most 50, run after the detectors.
    #[serde(default)]
    pub rules: Vec<RuleBody>,
}

#[utoipa::path(get, path = "/v1/policies", tag = "admin",
    summary = "The org's redaction policies, `default` (every built-in detector) first.",
    responses((status = 200, description = "The policies.", body = PolicyList)))]
async fn list_policies(
    State(state): Shared,
    who: Caller<Read>,
) -> Result<Json<PolicyList>, ApiError> {
    let policies = state.policies.list(who.org()).await?;
    Ok(Json(PolicyList { policies }))
}

#[utoipa::path(get, path = "/v1/policies/{id}", tag = "admin",
    summary = "One redaction policy.",
    params(("id" = String, Path, description = "`default` or a policy id.")),
    responses((status = 200, description = "The policy.", body = Policy)))]
async fn get_policy(
    State(state): Shared,
    who: Caller<Read>,
    Path(id): Path<String>,
) -> Result<Json<Policy>, ApiError> {
    match state.policies.get(who.org(), &id).await? {
        Some(policy) => Ok(Json((*policy).clone())),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such policy in this org",
        )
        .with_param("id")),
    }
}

#[utoipa::path(post, path = "/v1/policies", tag = "admin",
    summary = "Creates a redaction policy (policies never change: create another and switch).",
    request_body = NewPolicy,
    responses((status = 201, description = "Created.", body = Policy)))]
async fn create_policy(
    State(state): Shared,
    who: Caller<Manage>,
    body: Bytes,
) -> Result<(StatusCode, Json<Policy>), ApiError> {
    org_wide(&who)?;
    let (name, detectors, rules) = parse(&body)?;
    let policy = state
        .policies
        .create(who.org(), &name, detectors, rules)
        .await?;
    Ok((StatusCode::CREATED, Json(policy)))
}

/// The body of a new policy, checked field by field.
fn parse(body: &[u8]) -> Result<(String, Vec<Detector>, Vec<RuleBody>), ApiError> {
    let body: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request("body", &format!("is not valid JSON ({e})")))?;
    let body = body
        .as_object()
        .ok_or_else(|| ApiError::bad_request("body", "must be a JSON object"))?;
    for key in body.keys() {
        if !["name", "detectors", "rules"].contains(&key.as_str()) {
            let key: String = key.chars().take(64).collect();
            return Err(ApiError::bad_request(
                &key,
                "unknown field (name, detectors, rules)",
            ));
        }
    }
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty() && n.chars().count() <= 128)
        .ok_or_else(|| ApiError::bad_request("name", "required, 1 to 128 characters"))?
        .to_string();
    let detectors = match body.get("detectors") {
        None => Detector::ALL.to_vec(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                item.as_str().and_then(Detector::parse).ok_or_else(|| {
                    ApiError::bad_request(
                        &format!("detectors[{i}]"),
                        "must be one of token, email, card, iban, ip, phone",
                    )
                })
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(ApiError::bad_request(
                "detectors",
                "must be an array of detector names",
            ));
        }
    };
    let rules = match body.get("rules") {
        None => Vec::new(),
        Some(Value::Array(items)) if items.len() <= MAX_RULES => items
            .iter()
            .enumerate()
            .map(|(i, item)| rule(i, item))
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(ApiError::bad_request(
                "rules",
                &format!("must be an array of at most {MAX_RULES} rules"),
            ));
        }
    };
    Ok((name, detectors, rules))
}

/// `rules[i]`: `{name, pattern}`, the pattern compiling as the edge compiles it.
fn rule(i: usize, item: &Value) -> Result<RuleBody, ApiError> {
    let field = |f: &str| format!("rules[{i}].{f}");
    let name = item
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| {
            (1..=32).contains(&n.len())
                && n.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        })
        .ok_or_else(|| {
            ApiError::bad_request(&field("name"), "required, 1 to 32 of a-z, 0-9, _ and -")
        })?;
    let pattern = item
        .get("pattern")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty() && p.len() <= MAX_PATTERN_BYTES)
        .ok_or_else(|| {
            ApiError::bad_request(
                &field("pattern"),
                &format!("required, a regular expression of 1 to {MAX_PATTERN_BYTES} bytes"),
            )
        })?;
    compile_rule(pattern).map_err(|e| {
        let why: String = e
            .lines()
            .last()
            .unwrap_or("invalid")
            .chars()
            .take(200)
            .collect();
        ApiError::bad_request(&field("pattern"), &format!("refused: {why}"))
    })?;
    Ok(RuleBody {
        name: name.to_string(),
        pattern: pattern.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_route_is_served_as_documented() {
        crate::http::served::assert_served_as_documented(
            router(crate::control::projects::tests::state()),
            &[
                ("/v1/policies", &["GET", "POST"]),
                ("/v1/policies/{id}", &["GET"]),
            ],
        )
        .await;
    }

    #[test]
    fn a_body_is_checked_field_by_field() {
        let ok = parse(br#"{"name": "strict", "detectors": ["email", "card"], "rules": [{"name": "ticket", "pattern": "TCK-[0-9]+"}]}"#)
            .expect("valid");
        assert_eq!(ok.1, vec![Detector::Email, Detector::Card]);
        assert_eq!(ok.2[0].name, "ticket");
        let all = parse(br#"{"name": "all"}"#).expect("valid");
        assert_eq!(all.1, Detector::ALL.to_vec());
        for (body, param) in [
            (&br#"{"detectors": []}"#[..], "name"),
            (br#"{"name": "x", "detectors": ["ssn"]}"#, "detectors[0]"),
            (br#"{"name": "x", "detectors": "email"}"#, "detectors"),
            (br#"{"name": "x", "rules": [{"name": "Bad Name", "pattern": "a"}]}"#, "rules[0].name"),
            (br#"{"name": "x", "rules": [{"name": "ok", "pattern": "a"}, {"name": "b", "pattern": "(open"}]}"#, "rules[1].pattern"),
            (br#"{"name": "x", "rules": [{"name": "ok"}]}"#, "rules[0].pattern"),
            (
                br#"{"name": "x", "rules": [{"name": "empty", "pattern": "x*"}]}"#,
                "rules[0].pattern",
            ),
            (br#"{"name": "x", "extra": 1}"#, "extra"),
            (b"[]", "body"),
            (b"{", "body"),
        ] {
            let e = parse(body).expect_err(std::str::from_utf8(body).unwrap_or(""));
            assert_eq!(e.param.as_deref(), Some(param), "{}", String::from_utf8_lossy(body));
            assert_eq!(e.status.as_u16(), 400);
        }
    }
}
