//! Typed access to the fields of one JSON object, with error paths.
//!
//! SDKs send explicit `null` for absent optional fields (the Python SDK's
//! signals do), so `null` and absence mean the same everywhere.

use simd_json::prelude::*;
use simd_json::tape::{Object, Value};

/// A refused request: HTTP status, the offending item and field, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// 400 or 413.
    pub status: u16,
    /// Item and field, e.g. `[3].user_id`, or `body`.
    pub param: String,
    /// What is wrong, e.g. `required`.
    pub reason: String,
}

impl Invalid {
    /// A 400.
    pub fn bad(param: impl Into<String>, reason: impl Into<String>) -> Invalid {
        Invalid {
            status: 400,
            param: param.into(),
            reason: reason.into(),
        }
    }

    /// A 413.
    pub fn too_large(param: impl Into<String>, reason: impl Into<String>) -> Invalid {
        Invalid {
            status: 413,
            param: param.into(),
            reason: reason.into(),
        }
    }

    /// `param: reason`, the message of the error body.
    pub fn message(&self) -> String {
        format!("{}: {}", self.param, self.reason)
    }
}

/// Where an item sits in the request, for error messages. Formatted only
/// when an error is reported: the accepted path allocates nothing.
#[derive(Debug, Clone, Copy)]
pub struct Path {
    /// Index of the item in an array body; `None` for a single-object body.
    index: Option<usize>,
}

impl Path {
    /// Item `i` of an array body, or the single object body.
    pub fn item(i: usize, in_array: bool) -> Path {
        Path {
            index: in_array.then_some(i),
        }
    }

    /// The item itself.
    pub fn whole(&self) -> String {
        match self.index {
            Some(i) => format!("[{i}]"),
            None => "body".into(),
        }
    }

    /// A field of the item (`[3].user_id`) or nested (`[3].ai_data.input`).
    pub fn field(&self, name: &str) -> String {
        match self.index {
            Some(i) => format!("[{i}].{name}"),
            None => name.to_string(),
        }
    }
}

/// A field's value, `None` when absent or null.
pub fn present<'t, 'i>(v: Option<Value<'t, 'i>>) -> Option<Value<'t, 'i>> {
    v.filter(|v| !v.is_null())
}

/// A required, non-empty string.
pub fn required_str<'i>(
    v: Option<Value<'_, 'i>>,
    param: impl FnOnce() -> String,
) -> Result<&'i str, Invalid> {
    match present(v) {
        None => Err(Invalid::bad(param(), "required")),
        Some(v) => match v.into_string() {
            Some("") => Err(Invalid::bad(param(), "must not be empty")),
            Some(s) => Ok(s),
            None => Err(Invalid::bad(param(), "must be a string")),
        },
    }
}

/// An optional string (absent, null → `None`).
pub fn optional_str<'i>(
    v: Option<Value<'_, 'i>>,
    param: impl FnOnce() -> String,
) -> Result<Option<&'i str>, Invalid> {
    match present(v) {
        None => Ok(None),
        Some(v) => v
            .into_string()
            .map(Some)
            .ok_or_else(|| Invalid::bad(param(), "must be a string")),
    }
}

/// An optional string limited to `allowed` values.
pub fn optional_enum<'i>(
    v: Option<Value<'_, 'i>>,
    allowed: &[&'static str],
    param: impl Fn() -> String,
) -> Result<Option<&'static str>, Invalid> {
    match optional_str(v, &param)? {
        None => Ok(None),
        Some(s) => allowed
            .iter()
            .find(|a| **a == s)
            .copied()
            .map(Some)
            .ok_or_else(|| Invalid::bad(param(), format!("must be one of {}", allowed.join(", ")))),
    }
}

/// An optional boolean.
pub fn optional_bool(
    v: Option<Value<'_, '_>>,
    param: impl FnOnce() -> String,
) -> Result<Option<bool>, Invalid> {
    match present(v) {
        None => Ok(None),
        Some(v) => v
            .as_bool()
            .map(Some)
            .ok_or_else(|| Invalid::bad(param(), "must be true or false")),
    }
}

/// An optional object, kept as a value so it can be written back as JSON.
pub fn optional_object<'t, 'i>(
    v: Option<Value<'t, 'i>>,
    param: impl FnOnce() -> String,
) -> Result<Option<Value<'t, 'i>>, Invalid> {
    match present(v) {
        None => Ok(None),
        Some(v) if v.is_object() => Ok(Some(v)),
        Some(_) => Err(Invalid::bad(param(), "must be an object")),
    }
}

/// Fields of an object, in order.
pub fn entries<'t, 'i>(v: &Value<'t, 'i>) -> Option<Object<'t, 'i>> {
    v.as_object()
}

/// Ids the edge stores (event_id, user_id, ...) are bounded so keys stay small.
pub const MAX_ID_BYTES: usize = 1024;

/// A required id: non-empty string of at most [`MAX_ID_BYTES`].
pub fn required_id<'i>(
    v: Option<Value<'_, 'i>>,
    param: impl Fn() -> String,
) -> Result<&'i str, Invalid> {
    let s = required_str(v, &param)?;
    check_id_len(s, &param)?;
    Ok(s)
}

/// An optional id; empty counts as absent.
pub fn optional_id<'i>(
    v: Option<Value<'_, 'i>>,
    param: impl Fn() -> String,
) -> Result<Option<&'i str>, Invalid> {
    match optional_str(v, &param)? {
        None | Some("") => Ok(None),
        Some(s) => check_id_len(s, &param).map(|_| Some(s)),
    }
}

fn check_id_len(s: &str, param: impl Fn() -> String) -> Result<(), Invalid> {
    if s.len() > MAX_ID_BYTES {
        return Err(Invalid::bad(
            param(),
            format!("longer than {MAX_ID_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// Writes a JSON value (already depth-checked) as compact JSON.
pub fn write_json(v: &Value<'_, '_>, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail.
    let _ = v.write(out);
}

/// An id derived from the item itself, for items that carry none but name
/// their own `timestamp`: a client retrying an identical request (after a 503
/// on a partly acknowledged one) gets the same ids, and the copies collapse.
/// Items without a timestamp keep random ids: two identical events sent a
/// minute apart are two events.
pub fn derived_id(env: &super::Envelope<'_>, index: usize, item: &Value<'_, '_>) -> String {
    use sha2::{Digest, Sha256};
    let mut json = Vec::new();
    write_json(item, &mut json);
    let mut hasher = Sha256::new();
    for part in [
        env.org.as_bytes(),
        b"\0",
        env.project.as_bytes(),
        b"\0",
        &(index as u64).to_le_bytes(),
        &json,
    ] {
        hasher.update(part);
    }
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_sha1_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

/// A fresh random id (UUID v4, hyphenated) for items that carry none.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().hyphenated().to_string()
}

/// Key added to properties that were cut to fit the per-event limit.
pub const TRUNCATED_MARK: &str = "$truncated";

/// Writes `properties` keeping every whole entry that fits in `budget`
/// bytes, in order (a large entry is skipped, later small ones kept), then
/// marks the object with `"$truncated": true` (a sent `$truncated` key is
/// replaced by the mark, never duplicated).
///
/// docs/CONTRACT.md §C12: an event over 1 MB has its properties truncated.
/// Keeping whole entries keeps the JSON valid.
pub fn write_truncated(properties: &Value<'_, '_>, budget: usize, out: &mut Vec<u8>) {
    let mark = format!("\"{TRUNCATED_MARK}\":true}}");
    let start = out.len();
    out.push(b'{');
    if let Some(obj) = properties.as_object() {
        let mut entry = Vec::new();
        for (key, value) in obj.iter() {
            if key == TRUNCATED_MARK {
                continue;
            }
            entry.clear();
            crate::pipeline::row::json_string(&mut entry, key);
            entry.push(b':');
            write_json(&value, &mut entry);
            entry.push(b',');
            if out.len() - start + entry.len() + mark.len() <= budget {
                out.extend_from_slice(&entry);
            }
        }
    }
    out.extend_from_slice(mark.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_marks_once_and_keeps_valid_json() {
        let mut body = br#"{"$truncated": "mine", "a": 1, "big": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "b": 2}"#.to_vec();
        let tape = simd_json::to_tape(&mut body).expect("json");
        let mut out = Vec::new();
        write_truncated(&tape.as_value(), 40, &mut out);
        let text = String::from_utf8(out).expect("utf8");
        assert_eq!(text.matches(TRUNCATED_MARK).count(), 1, "{text}");
        let parsed: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(
            parsed,
            serde_json::json!({"a": 1, "b": 2, "$truncated": true})
        );
    }
}
