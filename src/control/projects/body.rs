//! The request bodies of the projects admin API: their parser
//! ([`parse_object`], [`changes_from`]), and the `ToSchema` types the
//! OpenAPI document shows for them.
//!
//! The parser is authoritative: the handlers read bodies by hand (settings
//! nested or flat, `canonical_name` for `slug`, `null` meaning "unlimited"
//! or "any origin"), and the types below only describe what it accepts;
//! they are never deserialized into.

use serde_json::Value;
use utoipa::ToSchema;

use crate::http::ApiError;
use crate::registry::projects::{Changes, normalize_origin};

// Doc-only: `changes_from` and the handler's slug check are authoritative.
/// A new project.
#[derive(ToSchema)]
pub struct CreateProject {
    /// The slug (1–63 of `[a-z0-9-]`, starting and ending with a letter or
    /// digit), frozen once created.
    pub slug: String,
    /// The CRUD API's name for the slug: accepted in place of `slug`.
    #[serde(default)]
    pub canonical_name: String,
    /// Display name, 1 to 256 characters (default: the slug).
    #[serde(default)]
    pub name: String,
    /// A free JSON object (default `{}`).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: Value,
    /// Settings; each may also be given at the top level (`{"rate_limit_rpm": 60}`).
    #[serde(default)]
    pub settings: SettingsChanges,
}

// Doc-only: `changes_from` and `update`'s slug check are authoritative.
/// Changes to a project: PATCH changes the fields given; PUT also returns
/// the others to their defaults.
#[derive(ToSchema)]
pub struct ProjectChanges {
    /// If given, must equal the path's slug (slugs never change).
    #[serde(default)]
    pub slug: String,
    /// If given, must equal the path's slug.
    #[serde(default)]
    pub canonical_name: String,
    /// Display name, 1 to 256 characters.
    #[serde(default)]
    pub name: String,
    /// A free JSON object.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: Value,
    /// Settings to change; each may also be given at the top level.
    #[serde(default)]
    pub settings: SettingsChanges,
}

// Doc-only: `changes_from` is authoritative.
/// Settings to set: only the fields given change;
/// `body_retention_hours ≤ log_retention_days × 24`.
#[derive(ToSchema)]
pub struct SettingsChanges {
    /// Requests per minute, or `null` for unlimited.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub rate_limit_rpm: Option<u32>,
    /// Hours request and response bodies are kept.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub body_retention_hours: u32,
    /// Days the rest of a log row is kept.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub log_retention_days: u32,
    /// Web origins (`https://app.example.com`) whose pages may send data,
    /// or `null` for any origin.
    #[serde(default)]
    pub allowed_origins: Option<Vec<String>>,
    /// The redaction policy to apply (`default`, or an id from `GET
    /// /v1/policies`); an unknown id is a 400.
    #[serde(default)]
    pub active_policy_id: String,
    /// Redact every turn of a conversation (`true`, the default) or only the last.
    #[serde(default)]
    #[schema(default = true)]
    pub filter_all_messages: bool,
}

// The answer of `put_org_settings`, and a description of its body, which
// the handler reads by hand (authoritative).
/// The org's settings.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct OrgSettings {
    /// Slugs with data but no project the org may have at once (at most
    /// this server's `registry.max_pending_limit`).
    #[schema(minimum = 1)]
    pub pending_limit: u32,
}

/// The body as a JSON object (400 otherwise).
pub(super) fn parse_object(body: &[u8]) -> Result<serde_json::Map<String, Value>, ApiError> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_request("body", "must be a JSON object")),
        Err(e) => Err(ApiError::bad_request(
            "body",
            &format!("is not valid JSON ({e})"),
        )),
    }
}

/// Reads name, metadata and settings. Settings may be nested under
/// `settings` or given flat (`{"rate_limit_rpm": 60}`, docs/CONTRACT.md
/// §C18); fields not given are left out of the patch.
pub(super) fn changes_from(
    body: &serde_json::Map<String, serde_json::Value>,
) -> Result<Changes, ApiError> {
    let mut changes = Changes::default();
    if let Some(v) = body.get("name") {
        let name = v
            .as_str()
            .ok_or_else(|| ApiError::bad_request("name", "must be a string"))?;
        if name.trim().is_empty() || name.len() > 256 {
            return Err(ApiError::bad_request("name", "must be 1 to 256 characters"));
        }
        changes.name = Some(name.to_string());
    }
    if let Some(v) = body.get("metadata") {
        if !v.is_object() {
            return Err(ApiError::bad_request("metadata", "must be an object"));
        }
        changes.metadata = Some(v.clone());
    }
    let nested = match body.get("settings") {
        None => None,
        Some(serde_json::Value::Object(map)) => Some(map),
        Some(_) => return Err(ApiError::bad_request("settings", "must be an object")),
    };
    let field = |name: &str| nested.and_then(|m| m.get(name)).or_else(|| body.get(name));
    let invalid = |name: &str, why: &str| ApiError::bad_request(&format!("settings.{name}"), why);
    if let Some(v) = field("rate_limit_rpm") {
        changes.settings.rate_limit_rpm =
            Some(match v {
                serde_json::Value::Null => None,
                v => Some(positive_u32(v).ok_or_else(|| {
                    invalid("rate_limit_rpm", "must be null or a positive integer")
                })?),
            });
    }
    if let Some(v) = field("body_retention_hours") {
        let hours = positive_u32(v)
            .ok_or_else(|| invalid("body_retention_hours", "must be a positive integer"))?;
        changes.settings.body_retention_hours = Some(hours);
    }
    if let Some(v) = field("log_retention_days") {
        let days = positive_u32(v)
            .ok_or_else(|| invalid("log_retention_days", "must be a positive integer"))?;
        changes.settings.log_retention_days = Some(days);
    }
    if let Some(v) = field("allowed_origins") {
        changes.settings.allowed_origins = Some(allowed_origins(v)?);
    }
    if let Some(v) = field("active_policy_id") {
        let id = v
            .as_str()
            .filter(|id| !id.is_empty() && id.len() <= 64)
            .ok_or_else(|| invalid("active_policy_id", "must be a policy id (GET /v1/policies)"))?;
        changes.settings.active_policy_id = Some(id.to_string());
    }
    if let Some(v) = field("filter_all_messages") {
        let all = v
            .as_bool()
            .ok_or_else(|| invalid("filter_all_messages", "must be true or false"))?;
        changes.settings.filter_all_messages = Some(all);
    }
    Ok(changes)
}

/// `null` (any origin) or a list of web origins, normalized to lowercase.
fn allowed_origins(v: &Value) -> Result<Option<Vec<String>>, ApiError> {
    let Some(items) = v.as_array() else {
        return match v {
            Value::Null => Ok(None),
            _ => Err(ApiError::bad_request(
                "settings.allowed_origins",
                "must be null (any origin) or an array of origins",
            )),
        };
    };
    let mut origins = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let field = format!("settings.allowed_origins[{i}]");
        let origin = item
            .as_str()
            .ok_or_else(|| ApiError::bad_request(&field, "must be a string"))?;
        let origin = normalize_origin(origin).map_err(|why| ApiError::bad_request(&field, why))?;
        if !origins.contains(&origin) {
            origins.push(origin);
        }
    }
    Ok(Some(origins))
}

fn positive_u32(v: &serde_json::Value) -> Option<u32> {
    v.as_u64()
        .filter(|n| *n > 0)
        .and_then(|n| u32::try_from(n).ok())
}
