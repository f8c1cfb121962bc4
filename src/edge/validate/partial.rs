//! `POST /v1/events/track_partial`: one `partial_events` row per patch.
//!
//! docs/CONTRACT.md §C11: patches of a partial AI event merge by `event_id`
//! (always required); `is_pending` is true until the final patch. The Python SDK sends a single
//! object per patch, and later patches carry only what changed, so every
//! content field is optional here; `sql/` merges patches field by field and
//! shows the event once a patch says `is_pending: false`. A patch without
//! `is_pending` counts as pending. `feature_flags` and the unknown fields
//! (`extra`) merge like the other fields: the latest patch that has them wins.

use super::Item;
use super::event::{self, Extra, JsonOr, Raw};
use super::fields::{self, Invalid};
use super::time::Stamp;
use crate::pipeline::rows::PartialEventRow;

/// Encodes one patch. `index` orders patches of one request after each other.
pub(super) fn encode(it: &Item<'_, '_, '_>, buf: &mut Vec<u8>) -> Result<bool, Invalid> {
    let (obj, path, env) = (it.obj, it.path, it.env);
    let raw = Raw::of(obj);
    let event_id = fields::required_id(raw.event_id, || path.field("event_id"))?;
    it.event_id(event_id);
    let is_pending =
        fields::optional_bool(raw.is_pending, || path.field("is_pending"))?.unwrap_or(true);
    let b = event::body(&raw, path, env, false)?;
    let patch_id = fields::new_id();
    event::write_bounded(
        buf,
        it.limits,
        path,
        b.properties.as_ref(),
        "",
        |w, props| {
            event::event_shaped!(PartialEventRow {
            event_id,
            patch_id: &patch_id,
            is_pending: u8::from(is_pending),
            seq: env.received_us + it.index as u64,
        } from b, obj, env, props, "", "")
            .write(w);
        },
    )
}
