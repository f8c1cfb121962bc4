//! `POST /v1/users/identify`: one `users` row per item.
//!
//! docs/CONTRACT.md §C10: `{user_id, traits}`; the Python SDK sends an array
//! of them. The latest identify of a user wins (version = receive time).

use super::event::{self, Props};
use super::fields::{self, Invalid};
use super::time::{self, Stamp};
use super::{Item, Redacted};
use crate::pipeline::rows::UserRow;

/// Encodes one identify call into `buf`.
pub(super) fn encode(it: &Item<'_, '_, '_>, buf: &mut Vec<u8>) -> Result<bool, Invalid> {
    let (obj, path, env) = (it.obj, it.path, it.env);
    let user_id = fields::required_id(obj.get("user_id"), || path.field("user_id"))?;
    let traits = fields::optional_object(obj.get("traits"), || path.field("traits"))?;
    let stamp = time::resolve(obj.get("timestamp"), env.received_us, || {
        path.field("timestamp")
    })?;
    let received = Stamp::from_micros(env.received_us);
    event::write_bounded(
        buf,
        it.limits,
        path,
        traits.as_ref(),
        "{}",
        |w, traits: Props<'_, '_, '_>| {
            UserRow {
                org: env.org,
                project: env.project,
                user_id,
                traits: &Redacted(traits, env.redactor()),
                timestamp: stamp.secs,
                timestamp_ms: stamp.ms,
                received_at: received.secs,
                version: env.received_us,
                expires_at: env.expires_at(),
            }
            .write(w);
        },
    )
}
