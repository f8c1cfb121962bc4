//! The items of the JSON ingest bodies, as the OpenAPI document shows them
//! (README.md, "The HTTP API"; docs/CONTRACT.md §C8–§C11).
//!
//! Doc-only: nothing is deserialized into these types. The edge validates
//! with its own parser (`src/edge/validate/`), which stays authoritative; it
//! also takes `null` for any optional field (the same as absent), and keeps
//! unknown fields (events and partial events: the `extra` column).

use serde_json::Value;
use utoipa::ToSchema;

/// An event (`POST /v1/events/track`, docs/CONTRACT.md §C8).
#[derive(ToSchema)]
pub struct EventItem {
    /// The user.
    pub user_id: String,
    /// The event's name.
    pub event: String,
    /// Assigned by the edge when absent: derived from the item when it has a
    /// `timestamp` (so a retried request collapses), random otherwise.
    #[serde(default)]
    pub event_id: Option<String>,
    /// ISO 8601, between 1970 and 2106; the receive time when absent.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub timestamp: Option<String>,
    /// Any JSON object. An event over the stream's item limit (1 MB) has it
    /// truncated: whole entries kept in order, `"$truncated": true`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub properties: Option<Value>,
    /// Attachments.
    #[serde(default)]
    pub attachments: Option<Vec<EventAttachment>>,
    /// The AI interaction; `input` or `output` (or both) required.
    #[serde(default)]
    pub ai_data: Option<AiData>,
    /// Feature flags, a JSON object.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub feature_flags: Option<Value>,
}

/// The AI interaction of an event.
#[derive(ToSchema)]
pub struct AiData {
    /// The model.
    #[serde(default)]
    pub model: Option<String>,
    /// The user's input.
    #[serde(default)]
    pub input: Option<String>,
    /// The assistant's output.
    #[serde(default)]
    pub output: Option<String>,
    /// The conversation.
    #[serde(default)]
    pub convo_id: Option<String>,
}

/// An attachment of an event.
#[derive(ToSchema)]
pub struct EventAttachment {
    /// What it holds.
    #[serde(rename = "type")]
    pub kind: AttachmentType,
    /// Its content.
    pub value: String,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// Its part in the interaction.
    #[serde(default)]
    pub role: Option<AttachmentRole>,
    /// The language of `code`.
    #[serde(default)]
    pub language: Option<String>,
}

/// What an attachment holds.
#[derive(ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AttachmentType {
    /// Source code.
    Code,
    /// Text.
    Text,
    /// An image.
    Image,
    /// An embedded page.
    Iframe,
}

/// An attachment's part in the interaction.
#[derive(ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AttachmentRole {
    /// Given with the input.
    Input,
    /// Part of the output.
    Output,
    /// Context.
    Context,
}

/// A signal on an event (`POST /v1/signals/track`, docs/CONTRACT.md §C9).
#[derive(ToSchema)]
pub struct SignalItem {
    /// The id of an event sent to `/v1/events/track` (not checked).
    pub event_id: String,
    /// The signal's name, e.g. `thumbs_up`.
    pub signal_name: String,
    /// ISO 8601; the receive time when absent.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub timestamp: Option<String>,
    /// Any JSON object.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub properties: Option<Value>,
    /// A previously sent attachment.
    #[serde(default)]
    pub attachment_id: Option<String>,
    /// Stored as sent, up to 64 bytes (documented: `default`, `feedback`,
    /// `edit`, `standard`; the AI SDK also sends `agent` and
    /// `agent_internal`); `default` when absent.
    #[serde(default)]
    #[schema(max_length = 64)]
    pub signal_type: Option<String>,
    /// The signal's sentiment.
    #[serde(default)]
    pub sentiment: Option<SignalSentiment>,
}

/// A signal's sentiment, as sent.
#[derive(ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum SignalSentiment {
    /// Positive.
    Positive,
    /// Negative.
    Negative,
}

/// A user's traits (`POST /v1/users/identify`, docs/CONTRACT.md §C10); the
/// latest identify of a user wins.
#[derive(ToSchema)]
pub struct IdentifyItem {
    /// The user.
    pub user_id: String,
    /// The user's traits, a JSON object.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub traits: Option<Value>,
    /// ISO 8601; the receive time when absent.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub timestamp: Option<String>,
}

/// A patch of a partial event (`POST /v1/events/track_partial`,
/// docs/CONTRACT.md §C11): patches of one `event_id` merge field by field,
/// the latest patch that set a field winning; the event is shown once a
/// patch says `is_pending: false`.
#[derive(ToSchema)]
pub struct PartialEventItem {
    /// The event the patch belongs to.
    pub event_id: String,
    /// Whether more patches follow (absent: true).
    #[serde(default)]
    pub is_pending: Option<bool>,
    /// The user.
    #[serde(default)]
    pub user_id: Option<String>,
    /// The event's name.
    #[serde(default)]
    pub event: Option<String>,
    /// ISO 8601, between 1970 and 2106.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub timestamp: Option<String>,
    /// Replaces the event's properties whole.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub properties: Option<Value>,
    /// Attachments.
    #[serde(default)]
    pub attachments: Option<Vec<EventAttachment>>,
    /// The AI interaction (no field required in a patch).
    #[serde(default)]
    pub ai_data: Option<AiData>,
    /// Feature flags, a JSON object.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub feature_flags: Option<Value>,
}
