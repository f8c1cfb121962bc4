//! Redaction at the edge (docs/CONTRACT.md §C23): a project's active policy
//! (built-in [`Detector`]s on or off, plus the org's own regex rules)
//! replaces what it finds with `[REDACTED:<kind>]` before the row is
//! encoded, so a secret never reaches Kafka or ClickHouse.
//!
//! A [`Redactor`] is one policy compiled once (a `RegexSet` to tell whether
//! a text holds anything at all, then one `Regex` per detector or rule to
//! replace it); the edge keeps them per policy id (`edge::redactors`), the
//! registry stores policies (`registry::policies`), the admin API checks
//! their rules here before storing them: this module sits below all three.
//!
//! Invariants: a text with no match is returned as it was, borrowed, after
//! one pass of the set's DFA (the common case costs no allocation); JSON
//! stays valid JSON with only string values changed (keys are names, not
//! content); nothing here panics on any input.

mod detectors;
mod messages;

use std::borrow::Cow;

use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};

pub use detectors::Detector;

/// Most bytes a compiled rule may take (regex's size limit): a rule is the
/// org's input, compiled on every edge.
const RULE_SIZE_LIMIT: usize = 1 << 20;

/// One of the org's own rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Its name, shown as `[REDACTED:<name>]` (1 to 32 of `[a-z0-9_-]`).
    pub name: String,
    /// A regular expression (RE2-like syntax of the `regex` crate).
    pub pattern: String,
}

/// Why a policy does not compile: which rule (by index), and why.
#[derive(Debug, thiserror::Error)]
#[error("rules[{index}].pattern: {reason}")]
pub struct BadRule {
    /// The rule's index.
    pub index: usize,
    /// What the regex compiler said.
    pub reason: String,
}

/// Compiles `pattern` as a rule's pattern is compiled (size-limited).
pub fn compile_rule(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern)
        .size_limit(RULE_SIZE_LIMIT)
        .dfa_size_limit(RULE_SIZE_LIMIT)
        .build()
}

struct Finder {
    regex: Regex,
    /// `[REDACTED:<kind>]`.
    label: String,
    /// The built-in detector it is, whose checksum confirms a match.
    detector: Option<Detector>,
}

/// One policy, compiled.
pub struct Redactor {
    /// Every finder's pattern, to tell in one pass whether any matches.
    set: RegexSet,
    /// In the order they are applied: the detectors in [`Detector::ALL`]'s
    /// order, then the rules.
    finders: Vec<Finder>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kinds: Vec<&str> = self.finders.iter().map(|f| f.label.as_str()).collect();
        f.debug_struct("Redactor").field("finds", &kinds).finish()
    }
}

impl Redactor {
    /// The policy of `detectors` (any order) and `rules`.
    pub fn new(detectors: &[Detector], rules: &[Rule]) -> Result<Redactor, BadRule> {
        let mut finders = Vec::new();
        for d in Detector::ALL {
            if detectors.contains(&d) {
                let regex = Regex::new(d.pattern()).map_err(|e| BadRule {
                    index: usize::MAX,
                    reason: e.to_string(),
                })?;
                finders.push(Finder {
                    regex,
                    label: format!("[REDACTED:{}]", d.as_str()),
                    detector: Some(d),
                });
            }
        }
        for (index, rule) in rules.iter().enumerate() {
            let regex = compile_rule(&rule.pattern).map_err(|e| BadRule {
                index,
                reason: e.to_string(),
            })?;
            finders.push(Finder {
                regex,
                label: format!("[REDACTED:{}]", rule.name),
                detector: None,
            });
        }
        let set = RegexSetBuilder::new(finders.iter().map(|f| f.regex.as_str()))
            .size_limit(RULE_SIZE_LIMIT * (rules.len() + 8))
            .dfa_size_limit(RULE_SIZE_LIMIT * 2)
            .build()
            .map_err(|e| BadRule {
                index: rules.len().saturating_sub(1),
                reason: e.to_string(),
            })?;
        Ok(Redactor { set, finders })
    }

    /// The policy that finds nothing.
    pub fn none() -> Redactor {
        Redactor {
            set: RegexSet::empty(),
            finders: Vec::new(),
        }
    }

    /// Whether it finds nothing, ever.
    pub fn is_empty(&self) -> bool {
        self.finders.is_empty()
    }

    /// `text` with every finding replaced; borrowed when there is none.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if self.finders.is_empty() {
            return Cow::Borrowed(text);
        }
        let hits = self.set.matches(text);
        if !hits.matched_any() {
            return Cow::Borrowed(text);
        }
        let mut out = Cow::Borrowed(text);
        for i in hits.iter() {
            let Some(finder) = self.finders.get(i) else {
                continue;
            };
            // A candidate its checksum refuses is put back as it was; when
            // every one was, the text stays as it is (borrowed if it was).
            let changed = std::cell::Cell::new(false);
            let replaced = finder
                .regex
                .replace_all(&out, |caps: &regex::Captures<'_>| {
                    let found = caps.get(0).map_or("", |m| m.as_str());
                    if finder.detector.is_none_or(|d| d.confirms(found)) {
                        changed.set(true);
                        finder.label.clone()
                    } else {
                        found.to_string()
                    }
                });
            let next = match replaced {
                Cow::Owned(s) if changed.get() => Some(s),
                _ => None,
            };
            if let Some(s) = next {
                out = Cow::Owned(s);
            }
        }
        out
    }

    /// An AI `input`: with `all_messages` (the project's
    /// `filter_all_messages`, default) all of it; without, when it is a
    /// conversation (a JSON array of messages), its last message only.
    pub fn redact_input<'a>(&self, text: &'a str, all_messages: bool) -> Cow<'a, str> {
        if all_messages || self.finders.is_empty() || !self.set.is_match(text) {
            return self.redact(text);
        }
        match messages::redact_last(text, self) {
            Some(out) => Cow::Owned(out),
            None if messages::is_conversation(text) => Cow::Borrowed(text),
            None => self.redact(text),
        }
    }

    /// A JSON text (properties, attachments, span attributes) with its
    /// string values redacted; `None` when nothing changed.
    pub fn redact_json(&self, json: &str) -> Option<String> {
        if self.finders.is_empty() || !self.set.is_match(json) {
            return None;
        }
        let bytes = json.as_bytes();
        let mut out = String::with_capacity(json.len());
        let (mut copied, mut i) = (0, 0);
        let mut changed = false;
        while i < bytes.len() {
            if bytes[i] != b'"' {
                i += 1;
                continue;
            }
            let open = i;
            let mut escaped = false;
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' {
                if bytes[i] == b'\\' {
                    escaped = true;
                    i += 1;
                }
                i += 1;
            }
            let close = i.min(bytes.len());
            i = close + 1;
            let mut k = i;
            while k < bytes.len() && bytes[k].is_ascii_whitespace() {
                k += 1;
            }
            if bytes.get(k) == Some(&b':') {
                continue; // a key
            }
            let Some(token) = json.get(open..=close) else {
                break;
            };
            let redacted = if escaped {
                let Ok(text) = serde_json::from_str::<String>(token) else {
                    continue;
                };
                match self.redact(&text) {
                    Cow::Owned(r) => serde_json::to_string(&r).ok(),
                    Cow::Borrowed(_) => None,
                }
            } else {
                let inner = json.get(open + 1..close).unwrap_or_default();
                match self.redact(inner) {
                    Cow::Owned(r) => serde_json::to_string(&r).ok(),
                    Cow::Borrowed(_) => None,
                }
            };
            if let Some(text) = redacted {
                out.push_str(json.get(copied..open).unwrap_or_default());
                out.push_str(&text);
                copied = close + 1;
                changed = true;
            }
        }
        if !changed {
            return None;
        }
        out.push_str(json.get(copied..).unwrap_or_default());
        Some(out)
    }
}

#[cfg(test)]
mod tests;
