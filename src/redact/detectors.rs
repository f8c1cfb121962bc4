//! The built-in detectors of a redaction policy: what each finds, as one
//! regular expression, and the checksum that confirms a candidate where the
//! shape alone matches too much (payment cards: Luhn; IBANs: mod 97).
//!
//! Invariants: every pattern is ASCII-only with ASCII word boundaries
//! (`(?-u:\b)`), so the set runs in the lazy DFA whatever the text; a
//! pattern never matches the `[REDACTED:<kind>]` text that replaces it.

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
    /// Payment card numbers: 13 to 19 digits, spaces or hyphens between,
    /// that pass the Luhn check.
    Card,
    /// IBANs that pass the mod-97 check.
    Iban,
    /// IPv4 and IPv6 addresses.
    Ip,
    /// Phone numbers: international (`+` and 8 to 15 digits), North
    /// American (`(555) 123-4567`, `555-123-4567`) and European national
    /// (`06 12 34 56 78`) forms.
    Phone,
}

impl Detector {
    /// Every detector, in the order a policy applies them (a card number is
    /// replaced before the phone detector could see digits in it).
    pub const ALL: [Detector; 6] = [
        Detector::Token,
        Detector::Email,
        Detector::Card,
        Detector::Iban,
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

    /// The pattern of its candidates.
    pub fn pattern(self) -> &'static str {
        match self {
            Detector::Token => concat!(
                r"(?-u:\b)(?:sk-(?:proj-|ant-)?[A-Za-z0-9_-]{16,}|(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}",
                r"|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}|xox[abprs]-[A-Za-z0-9-]{10,}",
                r"|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{35}|glpat-[A-Za-z0-9_-]{20,}",
                r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
                r"|dp_[a-z0-9]{16}_[A-Za-z0-9]{32}",
                r"|[Bb]earer [A-Za-z0-9._~+/-]{16,}=*)"
            ),
            Detector::Email => {
                r"[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}"
            }
            Detector::Card => r"(?-u:\b)[0-9](?:[ -]?[0-9]){12,18}(?-u:\b)",
            Detector::Iban => {
                r"(?-u:\b)[A-Z]{2}[0-9]{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?(?-u:\b)"
            }
            Detector::Ip => concat!(
                r"(?-u:\b)(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}",
                r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(?-u:\b)",
                r"|(?-u:\b)(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}(?-u:\b)",
                r"|(?-u:\b)(?:[0-9A-Fa-f]{1,4}:){1,6}:(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,5})?(?-u:\b)",
                r"|::(?:[fF]{4}:)?[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6}(?-u:\b)"
            ),
            Detector::Phone => concat!(
                r"\+[0-9]{1,3}[ .-]?(?:\([0-9]{1,4}\)[ .-]?)?[0-9]{2,4}(?:[ .-]?[0-9]{2,4}){1,4}(?-u:\b)",
                r"|(?:\([0-9]{3}\) ?|(?-u:\b)[0-9]{3}[.-])[0-9]{3}[.-][0-9]{4}(?-u:\b)",
                r"|(?-u:\b)0[1-9](?:[ .-][0-9]{2}){4}(?-u:\b)"
            ),
        }
    }

    /// Whether a candidate `text` of this detector is one (the checksum
    /// detectors check theirs; the others take every match).
    pub fn confirms(self, text: &str) -> bool {
        match self {
            Detector::Card => luhn(text),
            Detector::Iban => iban_checksum(text),
            _ => true,
        }
    }
}

/// The Luhn check of the digits in `text` (13 to 19 of them).
pub fn luhn(text: &str) -> bool {
    let digits: Vec<u32> = text.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
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

    #[test]
    fn every_detector_has_a_name_that_parses_back() {
        for d in Detector::ALL {
            assert_eq!(Detector::parse(d.as_str()), Some(d));
            assert!(regex::Regex::new(d.pattern()).is_ok(), "{d:?}");
        }
        assert_eq!(Detector::parse("ssn"), None);
    }
}
