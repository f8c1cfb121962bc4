//! `POST /v1/signals/track`: one `signals` row per item.
//!
//! raindrop-http-api.md: `event_id` and `signal_name` required; `timestamp`,
//! `properties`, `attachment_id`, `signal_type` ("default", "feedback",
//! "edit", "standard") and `sentiment` ("POSITIVE", "NEGATIVE") optional.
//! Signals carry no id of their own; the edge gives each one, so a
//! redelivered record collapses.

use simd_json::tape::{Object, Value};

use super::Envelope;
use super::event::{self, Props};
use super::fields::{self, Invalid, Path};
use super::time::{self, Stamp};
use crate::pipeline::Limits;

const SIGNAL_TYPES: [&str; 4] = ["default", "feedback", "edit", "standard"];
const SENTIMENTS: [&str; 2] = ["POSITIVE", "NEGATIVE"];

#[derive(Default)]
struct Raw<'t, 'i> {
    event_id: Option<Value<'t, 'i>>,
    signal_name: Option<Value<'t, 'i>>,
    timestamp: Option<Value<'t, 'i>>,
    properties: Option<Value<'t, 'i>>,
    attachment_id: Option<Value<'t, 'i>>,
    signal_type: Option<Value<'t, 'i>>,
    sentiment: Option<Value<'t, 'i>>,
}

/// Encodes one signal into `buf`.
pub(super) fn encode(
    obj: &Object<'_, '_>,
    item: (usize, &Value<'_, '_>),
    path: &Path,
    env: &Envelope<'_>,
    limits: &Limits,
    buf: &mut Vec<u8>,
) -> Result<bool, Invalid> {
    let mut raw = Raw::default();
    for (key, value) in obj.iter() {
        let slot = match key {
            "event_id" => &mut raw.event_id,
            "signal_name" => &mut raw.signal_name,
            "timestamp" => &mut raw.timestamp,
            "properties" => &mut raw.properties,
            "attachment_id" => &mut raw.attachment_id,
            "signal_type" => &mut raw.signal_type,
            "sentiment" => &mut raw.sentiment,
            _ => continue,
        };
        *slot = Some(value);
    }
    let event_id = fields::required_id(raw.event_id, || path.field("event_id"))?;
    let name = fields::required_str(raw.signal_name, || path.field("signal_name"))?;
    let stamp = time::resolve(raw.timestamp, env.received_us, || path.field("timestamp"))?;
    let properties = fields::optional_object(raw.properties, || path.field("properties"))?;
    let attachment_id =
        fields::optional_str(raw.attachment_id, || path.field("attachment_id"))?.unwrap_or("");
    let signal_type =
        fields::optional_enum(raw.signal_type, &SIGNAL_TYPES, || path.field("signal_type"))?
            .unwrap_or("default");
    let sentiment = fields::optional_enum(raw.sentiment, &SENTIMENTS, || path.field("sentiment"))?
        .unwrap_or("");
    let received = Stamp::from_micros(env.received_us);
    let signal_id = match fields::present(raw.timestamp) {
        Some(_) => fields::derived_id(env, item.0, item.1),
        None => fields::new_id(),
    };
    event::write_bounded(
        buf,
        limits,
        path,
        properties.as_ref(),
        "{}",
        |w, props: Props<'_, '_, '_>| {
            w.string(env.org.as_bytes());
            w.string(env.project.as_bytes());
            w.string(signal_id.as_bytes());
            w.string(event_id.as_bytes());
            w.string(name.as_bytes());
            w.string(signal_type.as_bytes());
            w.string(sentiment.as_bytes());
            w.string(attachment_id.as_bytes());
            w.datetime(stamp.secs);
            w.u64(stamp.ms);
            w.datetime(received.secs);
            props.write(w);
        },
    )
}
