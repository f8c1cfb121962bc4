//! Project slugs, exactly as docs/CONTRACT.md §C4 defines them: up to 63
//! characters of lowercase letters, digits and hyphens, starting and ending
//! with a letter or digit. An omitted, empty or `default` slug means the
//! `default` ("Production") project (§C3, §C5).

use std::fmt;

/// The reserved project every org has.
pub const DEFAULT_SLUG: &str = "default";

/// Longest slug.
pub const MAX_SLUG_LEN: usize = 63;

/// A validated project slug.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slug(String);

/// Why a slug was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlugError {
    /// More than 63 bytes.
    #[error("is longer than 63 characters")]
    TooLong,
    /// A byte outside `[a-z0-9-]`.
    #[error("may contain only lowercase letters, digits and hyphens")]
    BadCharacter,
    /// Starts or ends with a hyphen.
    #[error("must start and end with a letter or digit")]
    BadEdge,
}

impl Slug {
    /// Validates a non-empty slug.
    pub fn parse(raw: &str) -> Result<Slug, SlugError> {
        let bytes = raw.as_bytes();
        if bytes.len() > MAX_SLUG_LEN {
            return Err(SlugError::TooLong);
        }
        if !bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        {
            return Err(SlugError::BadCharacter);
        }
        match (bytes.first(), bytes.last()) {
            (Some(b'-'), _) | (_, Some(b'-')) | (None, _) => Err(SlugError::BadEdge),
            _ => Ok(Slug(raw.to_string())),
        }
    }

    /// Resolves the `X-Raindrop-Project-Id` header value: unset, empty or
    /// `default` all mean the default project.
    pub fn from_header(value: Option<&str>) -> Result<Slug, SlugError> {
        match value {
            None | Some("") => Ok(Slug::default_project()),
            Some(raw) => Slug::parse(raw),
        }
    }

    /// The `default` project.
    pub fn default_project() -> Slug {
        Slug(DEFAULT_SLUG.to_string())
    }

    /// The slug text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is the reserved `default` project.
    pub fn is_default(&self) -> bool {
        self.0 == DEFAULT_SLUG
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_empty_and_default_resolve_to_default() {
        for v in [None, Some(""), Some("default")] {
            assert_eq!(
                Slug::from_header(v).map(|s| s.is_default()),
                Ok(true),
                "{v:?}"
            );
        }
    }

    #[test]
    fn accepts_the_documented_shape() {
        for ok in ["support-prod", "a", "0", "a-b-c", &"x".repeat(63)] {
            assert!(Slug::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_malformed() {
        assert_eq!(Slug::parse(&"x".repeat(64)), Err(SlugError::TooLong));
        for bad in ["Upper", "a_b", "a b", "../x", "a\0b", "é", "a%00"] {
            assert_eq!(Slug::parse(bad), Err(SlugError::BadCharacter), "{bad}");
        }
        for bad in ["-a", "a-", "-"] {
            assert_eq!(Slug::parse(bad), Err(SlugError::BadEdge), "{bad}");
        }
    }
}
