//! Request validation and encoding: JSON body → Kafka records of RowBinary rows.
//!
//! One pass over a simd-json tape (no tree, no per-field allocation): each
//! item is checked field by field and written straight into the record
//! buffer. The request is accepted whole or refused whole; a refusal names
//! the item and field (`[3].user_id: required`).
//!
//! Invariant: nothing here panics on any input; every failure is a
//! [`Invalid`] with a 4xx status.

/// Declares the raw values of an item's known keys, named as the keys, and
/// `of(obj)`, which fills them in one pass over the object's entries
/// (unknown keys are skipped; a key given twice: the last one wins).
macro_rules! raw_fields {
    ($(#[$meta:meta])* $vis:vis struct $name:ident { $($field:ident),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Default)]
        $vis struct $name<'t, 'i> {
            $(pub $field: Option<simd_json::tape::Value<'t, 'i>>,)*
        }

        impl<'t, 'i> $name<'t, 'i> {
            /// The keys this item knows; others are kept as `extra`
            /// where the stream stores it.
            #[allow(dead_code)]
            pub const KEYS: &'static [&'static str] = &[$(stringify!($field)),*];

            pub fn of(obj: &simd_json::tape::Object<'t, 'i>) -> Self {
                let mut raw = Self::default();
                for (key, value) in obj.iter() {
                    $(if key == stringify!($field) {
                        raw.$field = Some(value);
                        continue;
                    })*
                }
                raw
            }
        }
    };
}

mod event;
mod fields;
mod partial;
mod signal;
mod time;
mod user;

use std::borrow::Cow;

use simd_json::prelude::*;
use simd_json::tape::{Object, Value};

use crate::bus::record;
use crate::pipeline::row::JsonText;
use crate::pipeline::{Limits, StreamKind};
use crate::redact::Redactor;
use crate::registry::projects::Retention;
pub use fields::Invalid;
use fields::Path;

/// Nesting beyond this is refused; it bounds every recursive walk after parsing.
pub const MAX_DEPTH: usize = 64;
/// A record is closed once it holds this many bytes (one event may overshoot it).
pub const RECORD_TARGET_BYTES: usize = 512 * 1024;

/// Who sent the request and where it goes: the same for every item.
#[derive(Debug, Clone, Copy)]
pub struct Envelope<'a> {
    /// Org of the authenticated key.
    pub org: &'a str,
    /// Resolved project slug.
    pub project: &'a str,
    /// Edge receive time, microseconds since the epoch.
    pub received_us: u64,
    /// The project's redaction (docs/CONTRACT.md §C23); `None` redacts
    /// nothing (benches, tests, tools that re-encode stored rows).
    pub redaction: Option<Redaction<'a>>,
    /// The project's retention, stamped into every row (§C24).
    pub retention: Retention,
}

/// What the project's active policy redacts, applied while a row is encoded.
#[derive(Debug, Clone, Copy)]
pub struct Redaction<'a> {
    /// The policy, compiled.
    pub redactor: &'a Redactor,
    /// `filter_all_messages`.
    pub all_messages: bool,
}

impl<'a> Envelope<'a> {
    /// Edge receive time, seconds.
    #[inline]
    pub fn received_secs(&self) -> u32 {
        u32::try_from(self.received_us / 1_000_000).unwrap_or(u32::MAX)
    }

    /// When the bodies of this request's rows are emptied.
    #[inline]
    pub fn body_expires_at(&self) -> u32 {
        self.retention.body_expires_at(self.received_secs())
    }

    /// When this request's rows are deleted.
    #[inline]
    pub fn expires_at(&self) -> u32 {
        self.retention.expires_at(self.received_secs())
    }

    /// The policy to apply, if it finds anything at all.
    #[inline]
    pub fn redactor(&self) -> Option<&'a Redactor> {
        self.redaction.map(|r| r.redactor).filter(|r| !r.is_empty())
    }

    /// An AI input, redacted (a conversation as `filter_all_messages` says).
    #[inline]
    pub fn redact_input<'t>(&self, text: &'t str) -> Cow<'t, str> {
        match self.redaction {
            Some(r) => r.redactor.redact_input(text, r.all_messages),
            None => Cow::Borrowed(text),
        }
    }

    /// A text field, redacted.
    #[inline]
    pub fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        match self.redaction {
            Some(r) => r.redactor.redact(text),
            None => Cow::Borrowed(text),
        }
    }
}

/// A JSON column written with its string values redacted by `1` (keys and
/// layout kept, `Redactor::redact_json`); as written when `1` is `None`.
pub struct Redacted<'r, T>(pub T, pub Option<&'r Redactor>);

impl<T: JsonText> JsonText for Redacted<'_, T> {
    fn write_json(&self, out: &mut Vec<u8>) {
        let start = out.len();
        self.0.write_json(out);
        let Some(redactor) = self.1 else {
            return;
        };
        let redacted = out
            .get(start..)
            .and_then(|json| std::str::from_utf8(json).ok())
            .and_then(|json| redactor.redact_json(json));
        if let Some(json) = redacted {
            out.truncate(start);
            out.extend_from_slice(json.as_bytes());
        }
    }
}

/// One item as every stream's encoder sees it: the object, where it is in
/// the body, the envelope and the limits.
pub(super) struct Item<'a, 't, 'i> {
    /// The item's fields.
    pub obj: &'a Object<'t, 'i>,
    /// The item's value (derived ids hash it).
    pub value: &'a Value<'t, 'i>,
    /// Its index in the body.
    pub index: usize,
    /// Its path in error messages (`[3].user_id`).
    pub path: &'a Path,
    /// Who sent it and where it goes.
    pub env: &'a Envelope<'a>,
    /// The stream's size limits.
    pub limits: &'a Limits,
    /// Where an encoder that has an event id (given or assigned) puts it,
    /// when the caller asked for them ([`encode_with_ids`]).
    pub ids: Option<&'a std::cell::RefCell<Vec<String>>>,
}

impl Item<'_, '_, '_> {
    /// Records the item's event id, when ids are collected.
    pub fn event_id(&self, id: &str) {
        if let Some(ids) = self.ids {
            ids.borrow_mut().push(id.to_string());
        }
    }
}

/// A validated request: Kafka record values, ready to publish.
#[derive(Debug, Default)]
pub struct Encoded {
    /// Record values (header + rows).
    pub records: Vec<Vec<u8>>,
    /// Items in the request.
    pub items: usize,
    /// Items whose properties were truncated to fit the per-item limit.
    pub truncated: usize,
    /// The event id of each item, in item order (given or assigned), from
    /// [`encode_with_ids`] for the streams whose items have one (events,
    /// partial events); empty otherwise.
    pub ids: Vec<String>,
}

/// Validates `body` (parsed in place) and encodes it for `kind`.
pub fn encode(
    kind: StreamKind,
    limits: &Limits,
    body: &mut [u8],
    env: &Envelope<'_>,
) -> Result<Encoded, Invalid> {
    encode_as(kind, limits, body, env, None)
}

/// [`encode`], also returning each item's event id (what the browser SDK
/// reads from the answer).
pub fn encode_with_ids(
    kind: StreamKind,
    limits: &Limits,
    body: &mut [u8],
    env: &Envelope<'_>,
) -> Result<Encoded, Invalid> {
    let ids = std::cell::RefCell::new(Vec::new());
    let mut encoded = encode_as(kind, limits, body, env, Some(&ids))?;
    encoded.ids = ids.into_inner();
    Ok(encoded)
}

fn encode_as(
    kind: StreamKind,
    limits: &Limits,
    body: &mut [u8],
    env: &Envelope<'_>,
    ids: Option<&std::cell::RefCell<Vec<String>>>,
) -> Result<Encoded, Invalid> {
    let tape = parse(body).map_err(|e| Invalid::bad("body", format!("is not valid JSON ({e})")))?;
    check_depth(&tape.0)?;
    let root = tape.as_value();
    let (items, in_array): (Vec<Value<'_, '_>>, bool) = match root.as_array() {
        Some(array) => (array.iter().collect(), true),
        None if root.is_object() => (vec![root], false),
        None => {
            return Err(Invalid::bad(
                "body",
                "must be a JSON array of objects (or one object)",
            ));
        }
    };
    if items.is_empty() {
        return Err(Invalid::bad("body", "must contain at least one item"));
    }
    if items.len() > limits.max_items {
        return Err(Invalid::bad(
            "body",
            format!(
                "has {} items; at most {} per request",
                items.len(),
                limits.max_items
            ),
        ));
    }
    let mut out = Encoded {
        items: items.len(),
        ..Encoded::default()
    };
    let mut packer = record::Packer::new(kind, RECORD_TARGET_BYTES, items.len() * 512);
    for (i, item) in items.iter().enumerate() {
        let path = Path::item(i, in_array);
        let obj = item
            .as_object()
            .ok_or_else(|| Invalid::bad(path.whole(), "must be an object"))?;
        let buf = packer.buf();
        let start = buf.len();
        let it = Item {
            obj: &obj,
            value: item,
            index: i,
            path: &path,
            env,
            limits,
            ids,
        };
        let truncated = match kind {
            StreamKind::Events => event::encode(&it, buf)?,
            StreamKind::Signals => signal::encode(&it, buf)?,
            StreamKind::Users => user::encode(&it, buf)?,
            StreamKind::PartialEvents => partial::encode(&it, buf)?,
            StreamKind::Spans => return Err(Invalid::bad("body", "spans are sent as OTLP")),
        };
        debug_assert!(buf.len() > start);
        out.truncated += usize::from(truncated);
        packer.row_done();
    }
    out.records = packer.finish();
    Ok(out)
}

/// Bodies up to this size parse with the thread's reused buffers; larger ones
/// get fresh buffers, so no worker thread keeps a large body's worth of memory.
const REUSE_BUFFERS_UP_TO: usize = 1024 * 1024;

thread_local! {
    /// simd-json's scratch buffers (aligned input copy, structural indexes,
    /// strings), kept per thread: allocating them per request was visible in
    /// the edge's profile as page faults.
    static BUFFERS: std::cell::RefCell<simd_json::Buffers> = Default::default();
}

fn parse(body: &mut [u8]) -> simd_json::Result<simd_json::tape::Tape<'_>> {
    if body.len() > REUSE_BUFFERS_UP_TO {
        return simd_json::to_tape(body);
    }
    BUFFERS.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buffers) => simd_json::to_tape_with_buffers(body, &mut buffers),
        Err(_) => simd_json::to_tape(body),
    })
}

/// Refuses tapes nested deeper than [`MAX_DEPTH`], in one linear pass.
fn check_depth(nodes: &[simd_json::Node<'_>]) -> Result<(), Invalid> {
    // Each open container remembers the tape index where it ends.
    let mut ends: Vec<usize> = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        while ends.last().is_some_and(|&end| end <= i) {
            ends.pop();
        }
        if let simd_json::Node::Object { count, .. } | simd_json::Node::Array { count, .. } = node {
            if ends.len() >= MAX_DEPTH {
                return Err(Invalid::bad(
                    "body",
                    format!("is nested deeper than {MAX_DEPTH} levels"),
                ));
            }
            ends.push(i + count + 1);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
