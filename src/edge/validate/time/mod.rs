//! Timestamps: ISO 8601 in, `DateTime` seconds plus epoch milliseconds out.
//!
//! Accepted: RFC 3339 (`2026-11-23T20:00:00.123Z`, any offset) and the naive
//! form Python's `isoformat()` gives (`2026-11-23T20:00:00.123456`, read as
//! UTC). The range is what ClickHouse's `DateTime` holds: 1970-01-01 to
//! 2106-02-07; outside it is a 400, not a silently wrapped date.

use chrono::{DateTime, NaiveDateTime};
use simd_json::prelude::*;
use simd_json::tape::Value;

mod fast;

use super::fields::{Invalid, present};

/// A resolved timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Seconds since the epoch (`DateTime`).
    pub secs: u32,
    /// Milliseconds since the epoch, full precision.
    pub ms: u64,
}

impl Stamp {
    /// The edge's receive time.
    pub fn from_micros(us: u64) -> Stamp {
        let ms = us / 1000;
        Stamp {
            secs: u32::try_from(ms / 1000).unwrap_or(u32::MAX),
            ms,
        }
    }
}

/// The item's `timestamp`, or the receive time when absent.
pub fn resolve(
    v: Option<Value<'_, '_>>,
    received_us: u64,
    param: impl Fn() -> String,
) -> Result<Stamp, Invalid> {
    let Some(v) = present(v) else {
        return Ok(Stamp::from_micros(received_us));
    };
    let s = v
        .into_string()
        .ok_or_else(|| Invalid::bad(param(), "must be an ISO 8601 string"))?;
    let ms = parse_ms(s).ok_or_else(|| Invalid::bad(param(), "must be an ISO 8601 timestamp"))?;
    let secs = ms.div_euclid(1000);
    match (u64::try_from(ms), u32::try_from(secs)) {
        (Ok(ms), Ok(secs)) => Ok(Stamp { secs, ms }),
        _ => Err(Invalid::bad(
            param(),
            "must be between 1970-01-01 and 2106-02-07",
        )),
    }
}

fn parse_ms(s: &str) -> Option<i64> {
    if let Some(ms) = fast::parse_ms(s.as_bytes()) {
        return Some(ms);
    }
    // Everything the fast path does not take (other separators, leap
    // seconds, odd offsets) goes through chrono, which also refuses garbage.
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sdk_forms() {
        assert_eq!(
            parse_ms("2026-11-23T20:00:00.123Z"),
            Some(1_795_464_000_123)
        );
        assert_eq!(
            parse_ms("2026-11-23T21:00:00.123+01:00"),
            Some(1_795_464_000_123)
        );
        assert_eq!(
            parse_ms("2026-11-23T20:00:00.123456"),
            Some(1_795_464_000_123)
        );
        assert_eq!(parse_ms("yesterday"), None);
    }
}
