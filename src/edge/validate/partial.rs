//! `POST /v1/events/track_partial`: one `partial_events` row per patch.
//!
//! PRODUCT.md: "partial AI events merged by `event_id` (always required);
//! `is_pending` true until the final patch". The Python SDK sends a single
//! object per patch, and later patches carry only what changed, so every
//! content field is optional here; `sql/` merges patches field by field and
//! shows the event once a patch says `is_pending: false`. A patch without
//! `is_pending` counts as pending.

use simd_json::tape::Object;

use super::Envelope;
use super::event::{self, Raw};
use super::fields::{self, Invalid, Path};
use super::time::Stamp;
use crate::pipeline::Limits;

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
        w.string(env.org.as_bytes());
        w.string(env.project.as_bytes());
        w.string(event_id.as_bytes());
        w.string(patch_id.as_bytes());
        w.string(b.user_id.unwrap_or("").as_bytes());
        w.string(b.event.unwrap_or("").as_bytes());
        w.datetime(stamp.secs);
        w.u64(stamp.ms);
        w.datetime(received.secs);
        w.string(b.model.as_bytes());
        w.string(b.input.as_bytes());
        w.string(b.output.as_bytes());
        w.string(b.convo_id.as_bytes());
        props.write(w);
        event::write_attachments(w, b.attachments.as_ref(), "");
        w.u8(u8::from(props.is_truncated()));
        w.u8(u8::from(is_pending));
        w.u64(env.received_us + index);
    })
}
