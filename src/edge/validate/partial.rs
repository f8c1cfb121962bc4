//! `POST /v1/events/track_partial`: one `partial_events` row per patch.
//!
//! docs/CONTRACT.md §C11: patches of a partial AI event merge by `event_id`
//! (always required); `is_pending` is true until the final patch. The Python SDK sends a single
//! object per patch, and later patches carry only what changed, so every
//! content field is optional here; `sql/` merges patches field by field and
//! shows the event once a patch says `is_pending: false`. A patch without
//! `is_pending` counts as pending.

use simd_json::tape::Object;

use super::Envelope;
use super::event::{self, JsonOr, Raw};
use super::fields::{self, Invalid, Path};
use super::time::Stamp;
use crate::pipeline::Limits;
use crate::pipeline::rows::PartialEventRow;

/// Encodes one patch. `index` orders patches of one request after each other.
pub(super) fn encode(
    obj: &Object<'_, '_>,
    path: &Path,
    env: &Envelope<'_>,
    index: u64,
    limits: &Limits,
    buf: &mut Vec<u8>,
) -> Result<bool, Invalid> {
    let raw = Raw::of(obj);
    let event_id = fields::required_id(raw.event_id, || path.field("event_id"))?;
    let is_pending =
        fields::optional_bool(raw.is_pending, || path.field("is_pending"))?.unwrap_or(true);
    let b = event::body(&raw, path, env, false)?;
    let stamp = b.stamp.unwrap_or(Stamp::from_micros(env.received_us));
    let received = Stamp::from_micros(env.received_us);
    let patch_id = fields::new_id();
    event::write_bounded(buf, limits, path, b.properties.as_ref(), "", |w, props| {
        PartialEventRow {
            org: env.org,
            project: env.project,
            event_id,
            patch_id: &patch_id,
            user_id: b.user_id.unwrap_or(""),
            event: b.event.unwrap_or(""),
            timestamp: stamp.secs,
            timestamp_ms: stamp.ms,
            received_at: received.secs,
            ai_model: b.model,
            ai_input: b.input,
            ai_output: b.output,
            convo_id: b.convo_id,
            properties: &props,
            attachments: &JsonOr(b.attachments.as_ref(), ""),
            properties_truncated: u8::from(props.is_truncated()),
            is_pending: u8::from(is_pending),
            seq: env.received_us + index,
        }
        .write(w);
    })
}
