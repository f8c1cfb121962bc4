//! `filter_all_messages: false` (docs/CONTRACT.md §C23): when an AI input
//! is a conversation, a JSON array of message objects as the SDKs send for
//! chat models (`[{"role": "user", "content": "..."}, ...]`), only its last
//! message is redacted; the earlier turns are kept as sent.
//!
//! Invariant: the text outside the last message is copied byte for byte;
//! the last message keeps its keys and layout, only its string values
//! change ([`Redactor::redact_json`]).

use super::Redactor;

/// Whether `text` is a conversation: a JSON array of objects.
pub fn is_conversation(text: &str) -> bool {
    text.trim_start().starts_with('[')
        && serde_json::from_str::<Vec<serde_json::Map<String, serde_json::Value>>>(text)
            .is_ok_and(|turns| !turns.is_empty())
}

/// `text`, a conversation ([`is_conversation`], which the caller checked),
/// with its last message redacted; `None` when that changed nothing.
pub fn redact_last(text: &str, redactor: &Redactor) -> Option<String> {
    let (start, end) = last_element(text)?;
    let last = text.get(start..end)?;
    let redacted = redactor.redact_json(last)?;
    let mut out = String::with_capacity(text.len());
    out.push_str(text.get(..start)?);
    out.push_str(&redacted);
    out.push_str(text.get(end..)?);
    Some(out)
}

/// The byte range of the last element of the top-level array `text`.
fn last_element(text: &str) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let (mut start, mut end) = (None, None);
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth == 1 {
                    start = Some(i + 1);
                }
            }
            b']' | b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    end = Some(i);
                }
            }
            b',' if depth == 1 => start = Some(i + 1),
            _ => {}
        }
    }
    Some((start?, end?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_element_is_found_past_strings_and_nesting() {
        let text = r#"[{"a": "x,]"}, {"b": [1, {"c": "\"]"}]}]"#;
        let (s, e) = last_element(text).expect("range");
        assert_eq!(&text[s..e], r#" {"b": [1, {"c": "\"]"}]}"#);
        assert!(!is_conversation("[1, 2]"));
        assert!(!is_conversation("[]"));
        assert!(!is_conversation("hello [world]"));
        assert!(is_conversation(r#"[{"role": "user", "content": "hi"}]"#));
    }
}
