//! The Query API's values: percent-decoding, `limit`, times and `cursor`. Pure functions; every refusal is a 400 naming the parameter.

use chrono::{DateTime, SecondsFormat, Utc};

use crate::http::ApiError;

/// Largest `limit`.
pub const MAX_LIMIT: u32 = 1000;

/// Longest filter value, in bytes. Escaped, three of them stay well inside
/// ClickHouse's 256 KiB `max_query_size`, so a long value is a 400 here,
/// never a 5xx there.
pub const MAX_VALUE_BYTES: usize = 16 * 1024;

/// Longest id the edge stores (`MAX_ID_BYTES` of `edge::validate::fields`):
/// a longer event or user id cannot exist.
pub const MAX_ID_BYTES: usize = 1024;

/// A `limit` parameter: 1 to [`MAX_LIMIT`], `default` when absent.
pub(super) fn limit(raw: Option<&str>, default: u32) -> Result<u32, ApiError> {
    let Some(raw) = raw else {
        return Ok(default);
    };
    raw.parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or_else(|| {
            ApiError::bad_request(
                "limit",
                &format!("must be an integer from 1 to {MAX_LIMIT}"),
            )
        })
}

/// Cuts `rows`, fetched with one row beyond `limit` (`Select::page`), to
/// `limit`; returns the cursor after the last row kept when there were more.
pub(super) fn cut_page<R>(
    rows: &mut Vec<R>,
    limit: u32,
    key: impl Fn(&R) -> (u64, &String),
) -> Option<String> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let more = rows.len() > limit;
    rows.truncate(limit);
    let last = rows.last().filter(|_| more)?;
    let (ms, id) = key(last);
    Some(Cursor { ms, id: id.clone() }.encode())
}

/// An empty column means "not sent": `null`.
pub(super) fn optional(s: String) -> Option<String> {
    if s.is_empty() { None } else { Some(s) }
}

/// Epoch milliseconds from digits or RFC 3339.
pub(super) fn parse_time(raw: &str) -> Option<u64> {
    if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
        return raw.parse().ok();
    }
    let t = DateTime::parse_from_rfc3339(raw).ok()?;
    u64::try_from(t.timestamp_millis()).ok()
}

/// `timestamp_ms` as ISO 8601 with milliseconds (`2026-01-02T03:04:05.678Z`).
pub fn iso(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(DateTime::<Utc>::from_timestamp_millis)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Where the next page starts: the (timestamp_ms, id) of the last row
/// returned. Rows are ordered by (timestamp_ms DESC, id DESC), so the next
/// page holds the rows strictly below it.
///
/// Encoded `<timestamp_ms>.<id as lowercase hex>`: opaque to clients, free of
/// characters that need escaping in a URL, and checked whole when it comes back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// Timestamp of the last row, epoch milliseconds.
    pub ms: u64,
    /// Id of the last row (event_id or signal_id).
    pub id: String,
}

impl Cursor {
    /// The cursor's text.
    pub fn encode(&self) -> String {
        let mut out = format!("{}.", self.ms);
        for b in self.id.bytes() {
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        out
    }

    /// Parses a cursor this API returned; anything else is a 400 naming `cursor`.
    pub fn decode(raw: &str) -> Result<Cursor, ApiError> {
        Cursor::try_decode(raw)
            .ok_or_else(|| ApiError::bad_request("cursor", "is not a cursor this API returned"))
    }

    fn try_decode(raw: &str) -> Option<Cursor> {
        if raw.len() > 21 + 2 * MAX_ID_BYTES {
            return None;
        }
        let (ms, hex) = raw.split_once('.')?;
        if ms.is_empty() || !ms.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let ms = ms.parse().ok()?;
        if hex.is_empty() || hex.len() % 2 != 0 {
            return None;
        }
        let bytes = hex
            .as_bytes()
            .chunks(2)
            .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
            .collect::<Option<Vec<u8>>>()?;
        let id = String::from_utf8(bytes).ok()?;
        Some(Cursor { ms, id })
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn nibble(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// `application/x-www-form-urlencoded` decoding of one name or value.
pub(super) fn decode(raw: &str) -> Result<String, &'static str> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = |j: usize| bytes.get(j).copied().and_then(hex_digit);
                match (hex(i + 1), hex(i + 2)) {
                    (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                    _ => return Err("malformed percent-encoding"),
                }
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| "must be UTF-8")
}

fn hex_digit(b: u8) -> Option<u8> {
    nibble(b.to_ascii_lowercase())
}

/// A user-supplied name cut to 64 bytes for an error message.
pub(super) fn shorten(name: &str) -> String {
    let mut end = name.len().min(64);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_form_encoding_and_refuses_bad_escapes() {
        assert_eq!(decode("a+b%27%20c").as_deref(), Ok("a b' c"));
        assert_eq!(decode("%E2%9C%93").as_deref(), Ok("✓"));
        for bad in ["%zz", "%ff", "%4"] {
            assert!(decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn limit_is_one_to_a_thousand() {
        assert_eq!(limit(None, 50).ok(), Some(50));
        for (raw, n) in [("1", 1), ("1000", 1000)] {
            assert_eq!(limit(Some(raw), 50).ok(), Some(n));
        }
        for bad in ["0", "1001", "-1", "abc", "", "1.5"] {
            let e = limit(Some(bad), 50).expect_err(bad);
            assert_eq!(e.param.as_deref(), Some("limit"), "{bad}");
        }
    }

    #[test]
    fn times_are_epoch_ms_or_rfc3339() {
        let t = |raw: &str| parse_time(raw);
        assert_eq!(t("1767323045678"), Some(1_767_323_045_678));
        assert_eq!(t("2026-01-02T03:04:05.678Z"), Some(1_767_323_045_678));
        assert_eq!(t("2026-01-02T04:04:05.678+01:00"), Some(1_767_323_045_678));
        for bad in ["", "yesterday", "1969-12-31T23:59:59Z", "2026-01-02", "-5"] {
            assert_eq!(t(bad), None, "{bad}");
        }
        assert_eq!(iso(1_767_323_045_678), "2026-01-02T03:04:05.678Z");
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        for id in ["e1", "a.b", "' OR 1=1 --", "✓"] {
            let c = Cursor {
                ms: 1_767_323_045_678,
                id: id.into(),
            };
            assert_eq!(Cursor::decode(&c.encode()).ok(), Some(c));
        }
        for bad in [
            "", ".", "1.", ".6531", "x.6531", "1.653", "1.zz", "1.ff", "1.6531.", "1e3.65",
        ] {
            assert!(Cursor::decode(bad).is_err(), "{bad}");
        }
        assert!(Cursor::decode(&"1.".repeat(5000)).is_err());
    }
}
