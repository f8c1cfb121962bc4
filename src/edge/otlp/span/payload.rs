//! Which span attributes are payloads: the prompt, the completion, a tool
//! call's arguments and result, as the instrumentations downpour's clients
//! use write them (the OpenTelemetry GenAI conventions, the Vercel AI SDK's
//! `ai.*`, Traceloop's, OpenInference's). They are the spans' bodies: stored
//! in `body_attributes`, apart from the rest, and emptied after the
//! project's `body_retention_hours` (docs/CONTRACT.md §C24), while
//! `attributes` (model, token counts, the Raindrop links) live as long as
//! the row.
//!
//! Invariant: a key is a payload when it is one of [`BODY_KEYS`] or starts
//! with one followed by `.` (`gen_ai.prompt.0.content`); no other key is.

/// The payload keys, by namespace (what a key must start with, then the
/// names under it).
pub const BODY_KEYS: [(&str, &[&str]); 6] = [
    (
        "gen_ai.",
        &[
            "prompt",
            "completion",
            "input.messages",
            "output.messages",
            "system_instructions",
            "tool.call.arguments",
            "tool.call.result",
        ],
    ),
    (
        "ai.",
        &[
            "prompt",
            "response.text",
            "response.object",
            "response.toolCalls",
            "response.reasoning",
            "toolCall.args",
            "toolCall.result",
            "value",
            "values",
            "embedding",
            "embeddings",
        ],
    ),
    ("traceloop.entity.", &["input", "output"]),
    ("llm.", &["input_messages", "output_messages", "prompts"]),
    ("input.", &["value"]),
    ("output.", &["value"]),
];

/// Whether the attribute `key` holds a payload. Most keys leave at the
/// first byte or the namespace compare: this runs for every attribute of
/// every span.
#[inline]
pub fn is_body(key: &str) -> bool {
    let Some(first) = key.as_bytes().first() else {
        return false;
    };
    BODY_KEYS
        .iter()
        .filter(|(space, _)| space.as_bytes()[0] == *first)
        .any(|(space, names)| {
            key.strip_prefix(space).is_some_and(|rest| {
                names.iter().any(|name| {
                    rest.strip_prefix(name)
                        .is_some_and(|after| after.is_empty() || after.starts_with('.'))
                })
            })
        })
}

#[cfg(test)]
mod tests {
    use super::is_body;

    #[test]
    fn payloads_and_their_indexed_keys_are_bodies() {
        for key in [
            "gen_ai.prompt",
            "gen_ai.prompt.0.content",
            "gen_ai.completion.0.content",
            "gen_ai.input.messages",
            "ai.prompt",
            "ai.prompt.messages",
            "ai.response.text",
            "ai.toolCall.args",
            "traceloop.entity.input",
            "llm.input_messages.0.message.content",
            "input.value",
        ] {
            assert!(is_body(key), "{key}");
        }
    }

    #[test]
    fn metadata_is_not() {
        for key in [
            "",
            "gen_ai.request.model",
            "gen_ai.usage.input_tokens",
            "gen_ai.prompts",
            "ai.promptTokens",
            "ai.response.model",
            "ai.usage.promptTokens",
            "ai.model.id",
            "ai.telemetry.metadata.raindrop.eventId",
            "traceloop.association.properties.event_id",
            "traceloop.entity.name",
            "input.mime_type",
            "service.name",
            "http.request.method",
        ] {
            assert!(!is_body(key), "{key}");
        }
    }
}
