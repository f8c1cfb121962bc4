//! `POST /v1/events/track`: one row of `events` per item.
//!
//! docs/CONTRACT.md §C8: `user_id` and `event` are required; `properties`,
//! `attachments` and `ai_data` optional; an `ai_data` that is present needs
//! `input` or `output` (or both). An item without `event_id`
//! gets one here, so a redelivered record carries the same id and collapses.
//!
//! What real clients send besides is kept, never dropped (issue 10):
//! `feature_flags` (an object; `@raindrop-ai/ai-sdk` sends string values)
//! in its own column, and any other top-level field in `extra`, a JSON
//! object of the fields downpour does not know.

use std::borrow::Cow;

use simd_json::tape::Value;

use super::fields::{self, Invalid, Path};
use super::time::{self, Stamp};
use super::{Envelope, Item};
use crate::pipeline::Limits;
use crate::pipeline::row::JsonText;
use crate::pipeline::rows::EventRow;
use crate::sink::rowbinary::RowWriter;

const ATTACHMENT_TYPES: [&str; 4] = ["code", "text", "image", "iframe"];
const ATTACHMENT_ROLES: [&str; 3] = ["input", "output", "context"];

/// The content fields events and partial events share.
#[derive(Default)]
pub(super) struct Body<'t, 'i> {
    pub user_id: Option<&'i str>,
    pub event: Option<&'i str>,
    pub stamp: Option<Stamp>,
    pub model: &'i str,
    /// Redacted by the project's policy.
    pub input: Cow<'i, str>,
    /// Redacted by the project's policy.
    pub output: Cow<'i, str>,
    pub convo_id: &'i str,
    pub properties: Option<Value<'t, 'i>>,
    pub attachments: Option<Value<'t, 'i>>,
    pub feature_flags: Option<Value<'t, 'i>>,
}

impl Body<'_, '_> {
    /// The event time, or the receive time when the item gives none.
    #[inline]
    pub fn stamp_or(&self, env: &Envelope<'_>) -> Stamp {
        self.stamp.unwrap_or(Stamp::from_micros(env.received_us))
    }
}

raw_fields! {
    /// Raw field values of one event or patch.
    pub(super) struct Raw {
        event_id,
        user_id,
        event,
        timestamp,
        properties,
        attachments,
        ai_data,
        is_pending,
        feature_flags,
    }
}

/// Checks the shared content fields. `complete` items (not partial patches)
/// need `user_id`, `event`, and input or output in `ai_data`.
pub(super) fn body<'t, 'i>(
    raw: &Raw<'t, 'i>,
    path: &Path,
    env: &Envelope<'_>,
    complete: bool,
) -> Result<Body<'t, 'i>, Invalid> {
    let mut b = Body::default();
    if complete {
        b.user_id = Some(fields::required_id(raw.user_id, || path.field("user_id"))?);
        b.event = Some(fields::required_str(raw.event, || path.field("event"))?);
        b.stamp = Some(time::resolve(raw.timestamp, env.received_us, || {
            path.field("timestamp")
        })?);
    } else {
        b.user_id = fields::optional_id(raw.user_id, || path.field("user_id"))?;
        b.event = fields::optional_str(raw.event, || path.field("event"))?;
        b.stamp = match fields::present(raw.timestamp) {
            None => None,
            Some(v) => Some(time::resolve(Some(v), env.received_us, || {
                path.field("timestamp")
            })?),
        };
    }
    b.properties = fields::optional_object(raw.properties, || path.field("properties"))?;
    b.attachments = attachments(raw.attachments, path)?;
    b.feature_flags = fields::optional_object(raw.feature_flags, || path.field("feature_flags"))?;
    if let Some(ai) = fields::optional_object(raw.ai_data, || path.field("ai_data"))? {
        let f = |name: &str| path.field(&format!("ai_data.{name}"));
        let ai_obj = fields::entries(&ai);
        let get = |k: &str| ai_obj.as_ref().and_then(|o| o.get(k));
        b.model = fields::optional_str(get("model"), || f("model"))?.unwrap_or("");
        let input = fields::optional_str(get("input"), || f("input"))?.unwrap_or("");
        let output = fields::optional_str(get("output"), || f("output"))?.unwrap_or("");
        b.input = env.redact_input(input);
        b.output = env.redact(output);
        b.convo_id = fields::optional_str(get("convo_id"), || f("convo_id"))?.unwrap_or("");
        let has_io =
            fields::present(get("input")).is_some() || fields::present(get("output")).is_some();
        if complete && !has_io {
            return Err(Invalid::bad(
                path.field("ai_data"),
                "input or output is required",
            ));
        }
    }
    Ok(b)
}

/// `attachments`: an array of `{type, value, name?, role?, language?}`.
fn attachments<'t, 'i>(
    v: Option<Value<'t, 'i>>,
    path: &Path,
) -> Result<Option<Value<'t, 'i>>, Invalid> {
    let Some(v) = fields::present(v) else {
        return Ok(None);
    };
    let array = v
        .as_array()
        .ok_or_else(|| Invalid::bad(path.field("attachments"), "must be an array"))?;
    for (j, item) in array.iter().enumerate() {
        let at = |name: &str| path.field(&format!("attachments[{j}].{name}"));
        let obj = item.as_object().ok_or_else(|| {
            Invalid::bad(
                path.field(&format!("attachments[{j}]")),
                "must be an object",
            )
        })?;
        match fields::optional_enum(obj.get("type"), &ATTACHMENT_TYPES, || at("type"))? {
            Some(_) => {}
            None => return Err(Invalid::bad(at("type"), "required")),
        }
        if fields::present(obj.get("value")).is_none() {
            return Err(Invalid::bad(at("value"), "required"));
        }
        fields::optional_str(obj.get("value"), || at("value"))?;
        fields::optional_str(obj.get("name"), || at("name"))?;
        fields::optional_enum(obj.get("role"), &ATTACHMENT_ROLES, || at("role"))?;
        fields::optional_str(obj.get("language"), || at("language"))?;
    }
    Ok(Some(v))
}

/// How to write `properties` into a row.
#[derive(Clone, Copy)]
pub(super) enum Props<'a, 't, 'i> {
    /// As sent (absent → the given default).
    Whole(Option<&'a Value<'t, 'i>>, &'static str),
    /// Cut to this many bytes and marked.
    Truncated(&'a Value<'t, 'i>, usize),
}

impl JsonText for Props<'_, '_, '_> {
    fn write_json(&self, out: &mut Vec<u8>) {
        match *self {
            Props::Whole(Some(v), _) => fields::write_json(v, out),
            Props::Whole(None, default) => out.extend_from_slice(default.as_bytes()),
            Props::Truncated(v, budget) => fields::write_truncated(v, budget, out),
        }
    }
}

impl Props<'_, '_, '_> {
    pub fn is_truncated(self) -> bool {
        matches!(self, Props::Truncated(..))
    }
}

/// A JSON value as sent, or `default` when absent.
pub(super) struct JsonOr<'a, 't, 'i>(pub Option<&'a Value<'t, 'i>>, pub &'static str);

impl JsonText for JsonOr<'_, '_, '_> {
    fn write_json(&self, out: &mut Vec<u8>) {
        match self.0 {
            Some(v) => fields::write_json(v, out),
            None => out.extend_from_slice(self.1.as_bytes()),
        }
    }
}

/// The item's top-level fields downpour does not know, as a JSON object;
/// `none` (the column's text for "no such field") when there are none.
pub(super) struct Extra<'a, 't, 'i> {
    pub obj: &'a simd_json::tape::Object<'t, 'i>,
    pub none: &'static str,
}

impl JsonText for Extra<'_, '_, '_> {
    fn write_json(&self, out: &mut Vec<u8>) {
        let mut first = true;
        for (key, value) in self.obj.iter() {
            if Raw::KEYS.contains(&key) {
                continue;
            }
            out.push(if first { b'{' } else { b',' });
            first = false;
            crate::pipeline::row::json_string(out, key);
            out.push(b':');
            fields::write_json(&value, out);
        }
        if first {
            out.extend_from_slice(self.none.as_bytes());
        } else {
            out.push(b'}');
        }
    }
}

/// Writes a row with `write`, and if it exceeds the item limit, rewrites it
/// with properties truncated to fit. Returns whether it truncated.
pub(super) fn write_bounded<'t, 'i>(
    buf: &mut Vec<u8>,
    limits: &Limits,
    path: &Path,
    properties: Option<&Value<'t, 'i>>,
    default: &'static str,
    write: impl Fn(&mut RowWriter<'_>, Props<'_, 't, 'i>),
) -> Result<bool, Invalid> {
    let start = buf.len();
    write(&mut RowWriter::new(buf), Props::Whole(properties, default));
    let size = buf.len() - start;
    if size <= limits.max_item_bytes {
        return Ok(false);
    }
    let too_big = || {
        Invalid::too_large(
            path.whole(),
            format!(
                "is larger than {} bytes even without properties",
                limits.max_item_bytes
            ),
        )
    };
    let props = properties.ok_or_else(too_big)?;
    // Size of everything but properties, from a row written with "{}".
    buf.truncate(start);
    write(&mut RowWriter::new(buf), Props::Whole(None, "{}"));
    let rest = buf.len() - start;
    buf.truncate(start);
    let budget = limits
        .max_item_bytes
        .checked_sub(rest)
        .filter(|b| *b > 32)
        .ok_or_else(too_big)?;
    let p = Props::Truncated(props, budget);
    write(&mut RowWriter::new(buf), p);
    Ok(p.is_truncated())
}

/// A row of the event shape (`EventRow`, `PartialEventRow`, declared by
/// `event_shaped_row!` in `src/pipeline/rows.rs`): the shared columns from
/// the event body `b`, the item `obj` (its unknown fields), the envelope and
/// the written `props`, plus the row's own columns. `attachments` is the
/// text stored when there are none, `absent` the text of `feature_flags` and
/// `extra` when the item has none.
macro_rules! event_shaped {
    ($row:ident { $($field:ident $(: $value:expr)?),* $(,)? }
        from $b:expr, $obj:expr, $env:expr, $props:expr, $attachments:expr, $absent:expr) => {
        $row {
            org: $env.org,
            project: $env.project,
            user_id: $b.user_id.unwrap_or(""),
            event: $b.event.unwrap_or(""),
            timestamp: $b.stamp_or(&$env).secs,
            timestamp_ms: $b.stamp_or(&$env).ms,
            received_at: Stamp::from_micros($env.received_us).secs,
            ai_model: $b.model,
            ai_input: $b.input.as_ref(),
            ai_output: $b.output.as_ref(),
            convo_id: $b.convo_id,
            properties: &$crate::edge::validate::Redacted($props, $env.redactor()),
            attachments: &$crate::edge::validate::Redacted(JsonOr($b.attachments.as_ref(), $attachments), $env.redactor()),
            properties_truncated: u8::from($props.is_truncated()),
            feature_flags: &$crate::edge::validate::Redacted(JsonOr($b.feature_flags.as_ref(), $absent), $env.redactor()),
            extra: &$crate::edge::validate::Redacted(Extra { obj: $obj, none: $absent }, $env.redactor()),
            body_expires_at: $env.body_expires_at(),
            expires_at: $env.expires_at(),
            $($field $(: $value)?),*
        }
    };
}
pub(super) use event_shaped;

/// Encodes one event item into `buf`.
pub(super) fn encode(it: &Item<'_, '_, '_>, buf: &mut Vec<u8>) -> Result<bool, Invalid> {
    let (obj, path, env) = (it.obj, it.path, it.env);
    let raw = Raw::of(obj);
    let b = body(&raw, path, env, true)?;
    let generated;
    let event_id = match fields::optional_id(raw.event_id, || path.field("event_id"))? {
        Some(id) => id,
        None => {
            generated = match fields::present(raw.timestamp) {
                Some(_) => fields::derived_id(env, it.index, it.value),
                None => fields::new_id(),
            };
            generated.as_str()
        }
    };
    it.event_id(event_id);
    write_bounded(
        buf,
        it.limits,
        path,
        b.properties.as_ref(),
        "{}",
        |w, props| {
            event_shaped!(EventRow { event_id } from b, obj, env, props, "[]", "{}").write(w);
        },
    )
}
