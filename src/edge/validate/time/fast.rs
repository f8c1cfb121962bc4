//! The timestamp forms SDKs send, parsed without chrono's format machinery.
//!
//! Why by hand: chrono's `parse_from_str` interprets its format string on
//! every call, which was 13 % of the edge's per-event cost in
//! `cargo bench --bench edge`. This parser takes exactly
//! `YYYY-MM-DDTHH:MM:SS[.f{1,9}][Z|±HH:MM]` (a missing offset is UTC, as
//! Python's naive `isoformat()`), and answers `None` for anything else,
//! which then goes to chrono: it never accepts a string chrono refuses, and
//! gives the same value for every string it takes (tested against chrono).

/// Epoch milliseconds of `s`, or `None` when `s` is not in the fast form.
pub fn parse_ms(s: &[u8]) -> Option<i64> {
    if s.len() < 19 || s[4] != b'-' || s[7] != b'-' || s[10] != b'T' {
        return None;
    }
    if s[13] != b':' || s[16] != b':' {
        return None;
    }
    let year = digits(&s[0..4])?;
    let month = digits(&s[5..7])?;
    let day = digits(&s[8..10])?;
    let hour = digits(&s[11..13])?;
    let minute = digits(&s[14..16])?;
    let second = digits(&s[17..19])?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut rest = &s[19..];
    let mut ms = 0i64;
    if let Some((&b'.', fraction)) = rest.split_first() {
        let n = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return None;
        }
        // Milliseconds: the first three digits, right-padded; the rest truncated.
        for i in 0..3 {
            ms = ms * 10
                + fraction
                    .get(i)
                    .filter(|_| i < n)
                    .map_or(0, |d| i64::from(d - b'0'));
        }
        rest = &fraction[n..];
    }
    let offset_s = match rest {
        [] | [b'Z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let h = digits(&[*h1, *h2])?;
            let m = digits(&[*m1, *m2])?;
            if h > 23 || m > 59 {
                return None;
            }
            let secs = i64::from(h * 3600 + m * 60);
            if *sign == b'+' { secs } else { -secs }
        }
        _ => return None,
    };
    let days = days_from_civil(i64::from(year), month, day);
    let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset_s;
    Some(secs * 1000 + ms)
}

fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, &d| {
        d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
    })
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, NaiveDateTime};

    use super::parse_ms;

    fn chrono_ms(s: &str) -> Option<i64> {
        if let Ok(t) = DateTime::parse_from_rfc3339(s) {
            return Some(t.timestamp_millis());
        }
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
            .ok()
            .map(|t| t.and_utc().timestamp_millis())
    }

    #[test]
    fn agrees_with_chrono_wherever_it_answers() {
        let cases = [
            "2026-11-23T20:00:00.123Z",
            "2026-11-23T21:00:00.123+01:00",
            "2026-11-23T20:00:00.123456",
            "2024-02-29T23:59:59.999999999-11:30",
            "2023-02-29T00:00:00Z",
            "1970-01-01T00:00:00Z",
            "1969-12-31T23:59:59.999Z",
            "2200-01-01T00:00:00",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59.9Z",
            "2026-11-23T20:00:00.Z",
            "2026-11-23T20:00:00.1234567890Z",
            "2026-11-23T24:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-23T20:00:00+24:00",
            "2026-11-23T20:00:00+0100",
            "2026-11-23 20:00:00",
            "2026-11-23t20:00:00z",
            "2026-11-23T20:00:60Z",
            "+2026-11-23T20:00:00Z",
            "2026-1-23T20:00:00Z",
            "yesterday",
            "",
        ];
        for s in cases {
            let fast = parse_ms(s.as_bytes());
            if let Some(ms) = fast {
                assert_eq!(Some(ms), chrono_ms(s), "{s}");
            }
        }
        assert_eq!(
            parse_ms(b"2026-11-23T20:00:00.123Z"),
            Some(1_795_464_000_123)
        );
        assert_eq!(
            parse_ms(b"2026-11-23T20:00:00.123456"),
            Some(1_795_464_000_123)
        );
        assert_eq!(parse_ms(b"2023-02-29T00:00:00Z"), None);
    }

    #[test]
    fn agrees_with_chrono_over_a_sweep() {
        // Every 7,919 minutes from 1900 to 2300, in the three SDK forms.
        let mut t = -2_208_988_800i64;
        while t < 10_413_792_000 {
            let dt = DateTime::from_timestamp(t, 456_789_000).expect("in range");
            for s in [
                dt.format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
                dt.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
                dt.format("%Y-%m-%dT%H:%M:%S%.3f-07:45").to_string(),
            ] {
                assert_eq!(parse_ms(s.as_bytes()), chrono_ms(&s), "{s}");
            }
            t += 7_919 * 60;
        }
    }
}
