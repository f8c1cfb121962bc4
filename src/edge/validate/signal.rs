//! `POST /v1/signals/track`: one `signals` row per item.
//!
//! docs/CONTRACT.md §C9: `event_id` and `signal_name` required; `timestamp`,
//! `properties`, `attachment_id`, `signal_type` and `sentiment`
//! ("POSITIVE", "NEGATIVE") optional. `signal_type` is stored as sent: the
//! documented four ("default", "feedback", "edit", "standard") and the ones
//! real clients send besides (`@raindrop-ai/ai-sdk`'s "agent" and
//! "agent_internal"), which that SDK would otherwise lose silently.
//! Signals carry no id of their own; the edge gives each one, so a
//! redelivered record collapses.

use super::event::{self, Props};
use super::fields::{self, Invalid};
use super::time::{self, Stamp};
use super::{Item, Redacted};
use crate::pipeline::rows::SignalRow;

/// Longest `signal_type` kept (the documented ones are a word).
const MAX_SIGNAL_TYPE_BYTES: usize = 64;
const SENTIMENTS: [&str; 2] = ["POSITIVE", "NEGATIVE"];

raw_fields! {
    /// Raw field values of one signal.
    struct Raw {
        event_id,
        signal_name,
        timestamp,
        properties,
        attachment_id,
        signal_type,
        sentiment,
    }
}

/// Encodes one signal into `buf`.
pub(super) fn encode(it: &Item<'_, '_, '_>, buf: &mut Vec<u8>) -> Result<bool, Invalid> {
    let (obj, path, env) = (it.obj, it.path, it.env);
    let raw = Raw::of(obj);
    let event_id = fields::required_id(raw.event_id, || path.field("event_id"))?;
    let name = fields::required_str(raw.signal_name, || path.field("signal_name"))?;
    let stamp = time::resolve(raw.timestamp, env.received_us, || path.field("timestamp"))?;
    let properties = fields::optional_object(raw.properties, || path.field("properties"))?;
    let attachment_id =
        fields::optional_str(raw.attachment_id, || path.field("attachment_id"))?.unwrap_or("");
    let signal_type = match fields::optional_str(raw.signal_type, || path.field("signal_type"))? {
        None | Some("") => "default",
        Some(t) if t.len() > MAX_SIGNAL_TYPE_BYTES => {
            return Err(Invalid::bad(
                path.field("signal_type"),
                format!("must be at most {MAX_SIGNAL_TYPE_BYTES} bytes"),
            ));
        }
        Some(t) => t,
    };
    let sentiment = fields::optional_enum(raw.sentiment, &SENTIMENTS, || path.field("sentiment"))?
        .unwrap_or("");
    let received = Stamp::from_micros(env.received_us);
    let signal_id = match fields::present(raw.timestamp) {
        Some(_) => fields::derived_id(env, it.index, it.value),
        None => fields::new_id(),
    };
    event::write_bounded(
        buf,
        it.limits,
        path,
        properties.as_ref(),
        "{}",
        |w, props: Props<'_, '_, '_>| {
            SignalRow {
                org: env.org,
                project: env.project,
                signal_id: &signal_id,
                event_id,
                signal_name: name,
                signal_type,
                sentiment,
                attachment_id,
                timestamp: stamp.secs,
                timestamp_ms: stamp.ms,
                received_at: received.secs,
                properties: &Redacted(props, env.redactor()),
                expires_at: env.expires_at(),
            }
            .write(w);
        },
    )
}
