//! `GET /v1/events/search` (`@raindrop-ai/query` 0.1.13, `events-search.ts`):
//! events whose AI input or output holds `query`, as a list of events in
//! the shape of `GET /v1/events` (`events.rs`), newest first by default.
//!
//! - `mode=text` (the default): case-insensitive substring
//!   (`positionCaseInsensitiveUTF8`);
//! - `mode=regex`: `match()`, ClickHouse's RE2, case-sensitive unless the
//!   pattern says `(?i)`; a pattern that does not parse is a 400 naming
//!   `query` (checked here with `regex-syntax`, and ClickHouse's own
//!   refusal, code 427, is a 400 too: the two dialects differ at the edges);
//! - `mode=semantic`: a 400 naming `mode`. downpour stores no embeddings,
//!   and a search that silently fell back to words would answer a different
//!   question than the one asked.
//!
//! `search_in` names the fields searched, comma-separated: `user_input`,
//! `assistant_output` (both by default) and `event_name`. `user_id`,
//! `convo_id`, `signal` and `timestamp[gte|lt]` narrow it like the list's
//! filters (`conditions.rs`). Every value is bound.

use super::Scope;

use super::events;
use super::events::Event;
use super::filter::{Filters, Shape};
use super::list::{self, Listing, Page};
use super::sql::{Arg, Select};
use crate::http::ApiError;

/// The fields `search_in` may name, and their columns.
const FIELDS: [(&str, &str); 3] = [
    ("user_input", "ai_input"),
    ("assistant_output", "ai_output"),
    ("event_name", "event"),
];

/// ClickHouse's code for a regular expression it cannot compile.
const CANNOT_COMPILE_REGEXP: &str = "Code: 427";

/// The parameters of `GET /v1/events/search`.
pub fn params() -> Vec<(&'static str, Shape)> {
    list::params(&[
        ("query", Shape::Plain),
        ("mode", Shape::Plain),
        ("search_in", Shape::Plain),
        ("threshold", Shape::Plain),
        ("signal", Shape::Choice),
        ("user_id", Shape::Text),
        ("convo_id", Shape::Text),
        ("timestamp", Shape::Range),
    ])
}

/// How the query matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Text,
    Regex,
}

/// One page of the events that match.
pub async fn search(
    db: &clickhouse::Client,
    scope: &Scope,
    f: &Filters,
) -> Result<Page<Event>, ApiError> {
    let listing = Listing::parse(f)?;
    let query = f
        .plain("query")
        .filter(|q| !q.is_empty())
        .ok_or_else(|| ApiError::bad_request("query", "is required and must not be empty"))?;
    let mode = mode(f.plain("mode"))?;
    if mode == Mode::Regex {
        regex_syntax::Parser::new()
            .parse(query)
            .map_err(|e| bad_pattern(&e.to_string()))?;
    }
    let columns = columns(f.plain("search_in"))?;
    let test = match mode {
        Mode::Text => "positionCaseInsensitiveUTF8(COLUMN, ?) > 0",
        Mode::Regex => "match(COLUMN, ?)",
    };
    let any: Vec<String> = columns.iter().map(|c| test.replace("COLUMN", c)).collect();
    // ClickHouse 18.16 looks for a pattern's literal prefix with case and
    // so ignores a leading `(?i)`; inside a group RE2 applies it (the same
    // meaning on every version).
    let bound = match mode {
        Mode::Text => query.to_string(),
        Mode::Regex => format!("(?:{query})"),
    };
    let matches = format!("({})", any.join(" OR "));
    let more = |q: &mut Select| {
        q.and_sql(
            matches.clone(),
            columns.iter().map(|_| Arg::Text(bound.clone())).collect(),
        );
        Ok(())
    };
    events::page(db, scope, &listing, f, more, |error| {
        error
            .contains(CANNOT_COMPILE_REGEXP)
            .then(|| bad_pattern("ClickHouse (RE2) cannot compile it"))
    })
    .await
}

fn mode(raw: Option<&str>) -> Result<Mode, ApiError> {
    match raw.unwrap_or("text") {
        "text" => Ok(Mode::Text),
        "regex" => Ok(Mode::Regex),
        "semantic" => Err(ApiError::bad_request(
            "mode",
            "semantic search is not available on this server (it stores no embeddings); use text or regex",
        )
        .with_allowed(&["text", "regex"])),
        _ => Err(ApiError::bad_request("mode", "must be text or regex").with_allowed(&["text", "regex"])),
    }
}

fn bad_pattern(why: &str) -> ApiError {
    let mut why = why.lines().last().unwrap_or(why).trim().to_string();
    why.truncate(200);
    ApiError::bad_request(
        "query",
        &format!("is not a valid regular expression: {why}"),
    )
}

/// The columns `search_in` names (each once), in [`FIELDS`] order.
fn columns(raw: Option<&str>) -> Result<Vec<&'static str>, ApiError> {
    let raw = raw.unwrap_or("user_input,assistant_output");
    let allowed: Vec<&str> = FIELDS.iter().map(|(n, _)| *n).collect();
    let mut named = Vec::new();
    for name in raw.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if !allowed.contains(&name) {
            return Err(ApiError::bad_request(
                "search_in",
                &format!("names fields from {}", allowed.join(", ")),
            )
            .with_allowed(&allowed));
        }
        named.push(name);
    }
    let columns: Vec<&'static str> = FIELDS
        .iter()
        .filter(|(n, _)| named.contains(n))
        .map(|(_, c)| *c)
        .collect();
    if columns.is_empty() {
        return Err(ApiError::bad_request("search_in", "names no field").with_allowed(&allowed));
    }
    Ok(columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_in_names_known_fields_once() {
        assert_eq!(
            columns(None).expect("default"),
            vec!["ai_input", "ai_output"]
        );
        assert_eq!(
            columns(Some("assistant_output, user_input,assistant_output")).expect("both"),
            vec!["ai_input", "ai_output"]
        );
        assert_eq!(columns(Some("event_name")).expect("name"), vec!["event"]);
        for bad in ["", ",", "properties", "user_input,x"] {
            let e = columns(Some(bad)).expect_err(bad);
            assert_eq!(e.param.as_deref(), Some("search_in"), "{bad}");
        }
    }

    #[test]
    fn semantic_is_refused_by_name() {
        let e = mode(Some("semantic")).expect_err("refused");
        assert_eq!(e.status, 400);
        assert_eq!(e.param.as_deref(), Some("mode"));
        assert!(e.message.contains("not available"), "{}", e.message);
        assert_eq!(mode(None).expect("default"), Mode::Text);
        assert!(mode(Some("fuzzy")).is_err());
    }
}
