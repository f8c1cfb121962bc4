//! The built-in detectors of a redaction policy: what each finds, as one
//! regular expression, and the checksum that confirms a candidate where the
//! shape alone matches too much (payment cards: Luhn; IBANs: mod 97).
//!
//! Invariants: every pattern is ASCII-only with ASCII word boundaries
//! (`(?-u:\b)`), so it runs in the lazy DFA whatever the text; a pattern
//! never matches the `[REDACTED:<kind>]` text that replaces it; a
//! detector's [`Shape`] gate is implied by every match of its pattern (a
//! property test holds them together), so gating never misses a finding.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A built-in detector.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Detector {
    /// API keys and tokens of well-known shapes (`sk-…`, `ghp_…`, `AKIA…`,
    /// JWTs, `Bearer …`, downpour's own `dp_…` keys).
    Token,
    /// E-mail addresses.
    Email,
    /// IBANs that pass the mod-97 check.
    Iban,
    /// Payment card numbers: 13 to 19 digits, spaces or hyphens between,
    /// that pass the Luhn check.
    Card,
    /// IPv4 and IPv6 addresses.
    Ip,
    /// Phone numbers: international (`+` and 8 to 15 digits), North
    /// American (`(555) 123-4567`, `555-123-4567`) and European national
    /// (`06 12 34 56 78`) forms.
    Phone,
}

impl Detector {
    /// Every detector, in the order a policy applies them (an IBAN before
    /// the card detector could take digits out of it, a card number before
    /// the phone detector could).
    pub const ALL: [Detector; 6] = [
        Detector::Token,
        Detector::Email,
        Detector::Iban,
        Detector::Card,
        Detector::Ip,
        Detector::Phone,
    ];

    /// Its name in policies and in `[REDACTED:<name>]`.
    pub fn as_str(self) -> &'static str {
        match self {
            Detector::Token => "token",
            Detector::Email => "email",
            Detector::Card => "card",
            Detector::Iban => "iban",
            Detector::Ip => "ip",
            Detector::Phone => "phone",
        }
    }

    /// The detector of that name.
    pub fn parse(name: &str) -> Option<Detector> {
        Detector::ALL.into_iter().find(|d| d.as_str() == name)
    }

    /// The patterns of its candidates. Each is written so the regex
    /// engine finds a literal to search for before it runs a DFA (a
    /// prefix, or an inner `@`, `.` or `:`): most texts hold none, and
    /// memchr-like searches skip them at memory speed
    /// (docs/PERFORMANCE.md, "Redaction").
    pub fn patterns(self) -> &'static [&'static str] {
        match self {
            Detector::Token => &[concat!(
                r"(?-u:\b)(?:sk-(?:proj-|ant-)?[A-Za-z0-9_-]{16,}|(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}",
                r"|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}|xox[abprs]-[A-Za-z0-9-]{10,}",
                r"|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{35}|glpat-[A-Za-z0-9_-]{20,}",
                r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
                r"|dp_[a-z0-9]{16}_[A-Za-z0-9]{32}",
                r"|[Bb]earer [A-Za-z0-9._~+/-]{16,}=*)"
            )],
            Detector::Email => &[
                r"[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}",
            ],
            Detector::Card => &[r"(?-u:\b)[0-9](?:[ -]?[0-9]){12,18}(?-u:\b)"],
            // The countries of the IBAN registry (ISO 13616), as literals
            // the engine can search for.
            Detector::Iban => &[concat!(
                r"(?-u:\b)(?:AD|AE|AL|AT|AZ|BA|BE|BG|BH|BI|BR|BY|CH|CR|CY|CZ|DE|DJ|DK|DO|EE|EG|ES|FI|FK|FO|FR",
                r"|GB|GE|GI|GL|GR|GT|HR|HU|IE|IL|IQ|IS|IT|JO|KW|KZ|LB|LC|LI|LT|LU|LV|LY|MC|MD|ME|MK|MN|MR",
                r"|MT|MU|NI|NL|NO|OM|PK|PL|PS|PT|QA|RO|RS|RU|SA|SC|SD|SE|SI|SK|SM|SO|ST|SV|TL|TN|TR|UA|VA",
                r"|VG|XK|YE)[0-9]{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?(?-u:\b)"
            )],
            Detector::Ip => &[
                concat!(
                    r"(?-u:\b)(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])",
                    r"\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(?-u:\b)"
                ),
                // IPv6 in full: eight groups.
                r"(?-u:\b)(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}(?-u:\b)",
                // IPv6 compressed: `::` written out, so it is searched for.
                concat!(
                    r"(?-u:\b)(?:[0-9A-Fa-f]{1,4}:){0,5}[0-9A-Fa-f]{1,4}::",
                    r"(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,5})?(?-u:\b)",
                    r"|::(?:[fF]{4}:)?[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6}(?-u:\b)"
                ),
            ],
            Detector::Phone => &[concat!(
                r"\+[0-9]{1,3}[ .-]?(?:\([0-9]{1,4}\)[ .-]?)?[0-9]{2,4}(?:[ .-]?[0-9]{2,4}){1,4}(?-u:\b)",
                r"|(?:\([0-9]{3}\) ?|(?-u:\b)[0-9]{3}[.-])[0-9]{3}[.-][0-9]{4}(?-u:\b)",
                r"|(?-u:\b)0[1-9](?:[ .-][0-9]{2}){4}(?-u:\b)"
            )],
        }
    }

    /// Whether the `i`th of [`Self::patterns`] could match a text of this
    /// [`Shape`]: a necessary condition (a pattern's fewest digits, its
    /// required `@`, `.`, `:` or `+`), so a text that fails it is not searched.
    pub fn could_match(self, i: usize, s: &Shape) -> bool {
        match (self, i) {
            (Detector::Token, _) => true,
            (Detector::Email, _) => s.at > 0,
            (Detector::Card, _) => s.run_digits >= 13,
            (Detector::Iban, _) => s.upper_digit > 0,
            (Detector::Ip, 0) => s.run_digits >= 4 && s.dots >= 3,
            (Detector::Ip, 1) => s.hex_colons >= 7,
            (Detector::Ip, _) => s.double_colon,
            (Detector::Phone, _) => (s.plus > 0 && s.run_digits >= 5) || s.run_digits >= 10,
        }
    }

    /// What to redact of a candidate that pattern `i` found at
    /// `start..end` of `hay`: the range (a candidate may hold more than the
    /// finding: a card number and its CVV, an IBAN and the word after it),
    /// or `None` when it is not one (a checksum refuses every window, or
    /// its surroundings say it is something else: `Chrome/120.0.0.0`,
    /// `logo@2x.png`, `crate::db`).
    pub fn confirm(self, i: usize, hay: &str, start: usize, end: usize) -> Option<(usize, usize)> {
        let found = hay.get(start..end)?;
        let before = start
            .checked_sub(1)
            .and_then(|p| hay.as_bytes().get(p))
            .copied();
        let after = hay.as_bytes().get(end..end + 2).unwrap_or_default();
        let whole = Some((start, end));
        match (self, i) {
            (Detector::Card, _) => groups_window(found, start, b" -", |digits| {
                (13..=19).contains(&digits.len())
                    && matches!(digits.first(), Some(b'2'..=b'6'))
                    && luhn_digits(digits)
            }),
            (Detector::Iban, _) => groups_window(found, start, b" ", |chars| {
                chars.len() >= 15 && iban_checksum(std::str::from_utf8(chars).unwrap_or(""))
            })
            .filter(|(s, _)| *s == start),
            (Detector::Ip, 0) => {
                let dotted_on =
                    after.first() == Some(&b'.') && after.get(1).is_some_and(u8::is_ascii_digit);
                let part_of_more = matches!(before, Some(b'/' | b'.' | b'v' | b'V'));
                (!dotted_on && !part_of_more).then_some((start, end))
            }
            (Detector::Ip, 2) => {
                let groups = found.split(':').filter(|g| !g.is_empty()).count();
                (groups >= 2 && found.bytes().any(|b| b.is_ascii_digit())).then_some((start, end))
            }
            (Detector::Email, _) => {
                let lower = found.to_ascii_lowercase();
                let image = [".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp"]
                    .iter()
                    .any(|ext| lower.ends_with(ext));
                (!image).then_some((start, end))
            }
            (Detector::Phone, 0) => {
                let decimal = matches!(after.first(), Some(b'.' | b','))
                    && after.get(1).is_some_and(u8::is_ascii_digit);
                let glued = before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'.');
                // The shortest numbers in use have 8 digits, country code
                // included; fewer is a signed amount (`+100.00`).
                let digits = found.bytes().filter(u8::is_ascii_digit).count();
                (!decimal && !glued && digits >= 8).then_some((start, end))
            }
            _ => whole,
        }
    }
}

/// The first window of whole groups of `found` (split at `separators`;
/// the earliest start, then the longest) whose characters, separators
/// left out, `accept` takes; as a range of the haystack `found` starts at
/// `offset` in.
fn groups_window(
    found: &str,
    offset: usize,
    separators: &[u8],
    accept: impl Fn(&[u8]) -> bool,
) -> Option<(usize, usize)> {
    let bytes = found.as_bytes();
    let mut groups: Vec<(usize, usize)> = Vec::new();
    let mut at = 0;
    for (i, b) in bytes.iter().enumerate() {
        if separators.contains(b) {
            if at < i {
                groups.push((at, i));
            }
            at = i + 1;
        }
    }
    if at < bytes.len() {
        groups.push((at, bytes.len()));
    }
    for first in 0..groups.len() {
        for last in (first..groups.len()).rev() {
            let chars: Vec<u8> = groups[first..=last]
                .iter()
                .flat_map(|&(s, e)| bytes.get(s..e).unwrap_or_default().iter().copied())
                .collect();
            if accept(&chars) {
                return Some((offset + groups[first].0, offset + groups[last].1));
            }
        }
    }
    None
}

/// What a text is made of, counted in one pass over its bytes (a loop the
/// compiler vectorizes): enough to rule detectors out before any of their
/// patterns runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shape {
    /// ASCII digits.
    pub digits: u32,
    /// `@`.
    pub at: u32,
    /// `:`.
    pub colons: u32,
    /// `.`.
    pub dots: u32,
    /// ASCII uppercase letters.
    pub upper: u32,
    /// `+`.
    pub plus: u32,
    /// `:` right after a hex digit, counted only when there are 7 `:` or
    /// more (what a full IPv6 address needs; a JSON object's `":` is not).
    pub hex_colons: u32,
    /// An uppercase letter right before a digit (an IBAN's country code and
    /// check digits), looked for only when both occur.
    pub upper_digit: u32,
    /// Whether `::` occurs, looked for only when there are 2 `:` or more.
    pub double_colon: bool,
    /// The most digits in one run of `[0-9 +().-]` (a card, phone or IPv4
    /// address is written within one), counted only when there are 4
    /// digits or more: a JSON object's scattered numbers (`"ms":812,`) are
    /// not one run.
    pub run_digits: u32,
}

impl Shape {
    /// The shape of `text`.
    pub fn of(text: &str) -> Shape {
        let mut s = Shape::default();
        // Byte counters per chunk of 255 (they cannot overflow), which the
        // compiler turns into SIMD compares and adds; on this hot path
        // (every text field of every event) that is 5x the u32 loop.
        for chunk in text.as_bytes().chunks(255) {
            let (mut digits, mut upper, mut at, mut colons, mut dots, mut plus) =
                (0u8, 0u8, 0u8, 0u8, 0u8, 0u8);
            for &b in chunk {
                digits += u8::from(b.wrapping_sub(b'0') < 10);
                upper += u8::from(b.wrapping_sub(b'A') < 26);
                at += u8::from(b == b'@');
                colons += u8::from(b == b':');
                dots += u8::from(b == b'.');
                plus += u8::from(b == b'+');
            }
            s.digits += u32::from(digits);
            s.upper += u32::from(upper);
            s.at += u32::from(at);
            s.colons += u32::from(colons);
            s.dots += u32::from(dots);
            s.plus += u32::from(plus);
        }
        // What needs two adjacent bytes, only where it could be there;
        // counted without branches, which the compiler vectorizes.
        let bytes = text.as_bytes();
        let pairs = || bytes.iter().zip(bytes.iter().skip(1));
        if s.colons >= 7 {
            let is_hex = |b: u8| (b.wrapping_sub(b'0') < 10) | ((b | 0x20).wrapping_sub(b'a') < 6);
            s.hex_colons = pairs()
                .map(|(a, b)| u32::from(is_hex(*a) & (*b == b':')))
                .sum();
        }
        if s.upper >= 2 && s.digits >= 2 {
            s.upper_digit = pairs()
                .map(|(a, b)| u32::from((a.wrapping_sub(b'A') < 26) & (b.wrapping_sub(b'0') < 10)))
                .sum();
        }
        if s.digits >= 4 {
            let (mut run, mut best) = (0u32, 0u32);
            for &b in bytes {
                if b.is_ascii_digit() {
                    run += 1;
                    best = best.max(run);
                } else if !matches!(b, b' ' | b'+' | b'(' | b')' | b'.' | b'-') {
                    run = 0;
                }
            }
            s.run_digits = best;
        }
        s.double_colon = s.colons >= 2 && text.contains("::");
        s
    }
}

/// The Luhn check of the digits in `text` (13 to 19 of them).
#[cfg(test)]
fn luhn(text: &str) -> bool {
    let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_digit).collect();
    (13..=19).contains(&digits.len()) && luhn_digits(&digits)
}

/// The Luhn check of ASCII `digits`.
fn luhn_digits(digits: &[u8]) -> bool {
    let digits: Vec<u32> = digits
        .iter()
        .map(|d| u32::from(d.wrapping_sub(b'0')))
        .collect();
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let d = d * 2;
                if d > 9 { d - 9 } else { d }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The IBAN check (ISO 13616): the country and check digits moved to the
/// end, letters as 10..35, the number mod 97 is 1.
pub fn iban_checksum(text: &str) -> bool {
    let compact: Vec<u8> = text.bytes().filter(|b| *b != b' ').collect();
    if !(15..=34).contains(&compact.len()) {
        return false;
    }
    let (head, tail) = compact.split_at(4);
    let mut remainder: u32 = 0;
    for &b in tail.iter().chain(head) {
        let value = match b {
            b'0'..=b'9' => u32::from(b - b'0'),
            b'A'..=b'Z' => u32::from(b - b'A') + 10,
            _ => return false,
        };
        remainder = if value >= 10 {
            (remainder * 100 + value) % 97
        } else {
            (remainder * 10 + value) % 97
        };
    }
    remainder == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_numbers_pass_luhn_and_others_do_not() {
        assert!(luhn("4111 1111 1111 1111"));
        assert!(luhn("5500-0000-0000-0004"));
        assert!(luhn("378282246310005"));
        assert!(!luhn("4111 1111 1111 1112"));
        assert!(!luhn("1234567890123"));
        assert!(!luhn("123456789012"), "too short");
    }

    #[test]
    fn ibans_pass_mod_97_and_others_do_not() {
        assert!(iban_checksum("GB82 WEST 1234 5698 7654 32"));
        assert!(iban_checksum("DE89370400440532013000"));
        assert!(iban_checksum("FR1420041010050500013M02606"));
        assert!(!iban_checksum("GB82 WEST 1234 5698 7654 33"));
        assert!(!iban_checksum("DE00370400440532013000"));
    }

    /// Every text a pattern matches passes its shape gate: generated from
    /// the pattern itself (word boundaries dropped: they match no byte).
    #[test]
    fn every_match_passes_its_shape_gate() {
        use proptest::test_runner::{Config, TestRunner};
        for d in Detector::ALL {
            for (i, pattern) in d.patterns().iter().enumerate() {
                let generator = pattern.replace(r"(?-u:\b)", "");
                let strategy = proptest::string::string_regex(&generator).expect("generable");
                let mut runner = TestRunner::new(Config::with_cases(300));
                runner
                    .run(&strategy, |text| {
                        assert!(d.could_match(i, &Shape::of(&text)), "{d:?} {i}: {text:?}");
                        Ok(())
                    })
                    .expect("every match passes");
            }
        }
    }

    #[test]
    fn a_shape_counts_what_the_gates_read() {
        let s = Shape::of("Mail A.B@x.io: +1 (415) 555-2671");
        assert_eq!((s.at, s.colons, s.dots, s.plus), (1, 1, 2, 1));
        assert_eq!((s.digits, s.upper), (11, 3));
        assert_eq!(s.run_digits, 11, "+1 (415) 555-2671 is one run");
        let json = Shape::of(r#"{"ms":1234,"v":"0.0.75","n":987654}"#);
        assert_eq!(json.run_digits, 6, "scattered numbers are not one run");
    }

    #[test]
    fn every_detector_has_a_name_that_parses_back() {
        for d in Detector::ALL {
            assert_eq!(Detector::parse(d.as_str()), Some(d));
            for p in d.patterns() {
                assert!(regex::Regex::new(p).is_ok(), "{d:?}");
            }
        }
        assert_eq!(Detector::parse("ssn"), None);
    }
}
