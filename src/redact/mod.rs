//! Redaction at the edge (docs/CONTRACT.md §C23): a project's active policy
//! (built-in [`Detector`]s on or off, plus the org's own regex rules)
//! replaces what it finds with `[REDACTED:<kind>]` before the row is
//! encoded, so a secret never reaches Kafka or ClickHouse.
//!
//! A [`Redactor`] is one policy compiled once: a `Regex` per detector
//! pattern or rule. A text is first counted in one pass (its [`Shape`]:
//! digits, `@`, `:`, ...), which rules most detectors out; the others search
//! it, most of them for a literal first (an `@`, a prefix) at memory speed; the edge keeps them per policy id (`edge::redactors`), the
//! registry stores policies (`registry::policies`), the admin API checks
//! their rules here before storing them: this module sits below all three.
//!
//! Invariants: a text with no match is returned as it was, borrowed (the
//! common case costs no allocation); JSON
//! stays valid JSON with only string values changed (keys are names, not
//! content); nothing here panics on any input.

mod detectors;
mod messages;

use std::borrow::Cow;

use regex::{Regex, RegexBuilder};

pub use detectors::{Detector, Shape};

/// Texts shorter than this are not searched by the built-in detectors: none
/// finds anything shorter (`a@b.cd`). The org's rules search every text.
const SHORTEST_FINDING: usize = 6;

/// Most bytes a compiled rule may take (regex's size limit): a rule is the
/// org's input, compiled on every edge and run on every text of its data.
const RULE_SIZE_LIMIT: usize = 256 << 10;

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

/// Compiles `pattern` as a rule's pattern is compiled (size-limited); a
/// pattern that matches empty text is refused (it would put a label between
/// every two characters).
pub fn compile_rule(pattern: &str) -> Result<Regex, String> {
    let hir = regex_syntax::parse(pattern).map_err(|e| e.to_string())?;
    if hir.properties().minimum_len().is_none_or(|n| n == 0) {
        return Err("matches empty text".into());
    }
    RegexBuilder::new(pattern)
        .size_limit(RULE_SIZE_LIMIT)
        .dfa_size_limit(RULE_SIZE_LIMIT)
        .build()
        .map_err(|e| e.to_string())
}

struct Finder {
    regex: Regex,
    /// `[REDACTED:<kind>]`.
    label: String,
    /// The built-in detector it is (and which of its patterns), whose
    /// shape gate rules texts out and whose checksum confirms a match.
    detector: Option<(Detector, usize)>,
}

impl Finder {
    /// Whether it could find anything in a text of shape `s`.
    #[inline]
    fn could_match(&self, s: &Shape) -> bool {
        self.detector.is_none_or(|(d, i)| d.could_match(i, s))
    }
}

/// One policy, compiled.
pub struct Redactor {
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
        for d in Detector::ALL.into_iter().filter(|d| detectors.contains(d)) {
            for (i, pattern) in d.patterns().iter().enumerate() {
                let regex = Regex::new(pattern).map_err(|e| BadRule {
                    index: usize::MAX,
                    reason: e.to_string(),
                })?;
                finders.push(Finder {
                    regex,
                    label: format!("[REDACTED:{}]", d.as_str()),
                    detector: Some((d, i)),
                });
            }
        }
        for (index, rule) in rules.iter().enumerate() {
            let regex = compile_rule(&rule.pattern).map_err(|reason| BadRule { index, reason })?;
            finders.push(Finder {
                regex,
                label: format!("[REDACTED:{}]", rule.name),
                detector: None,
            });
        }
        Ok(Redactor { finders })
    }

    /// The policy that finds nothing.
    pub fn none() -> Redactor {
        Redactor {
            finders: Vec::new(),
        }
    }

    /// Whether it finds nothing, ever.
    pub fn is_empty(&self) -> bool {
        self.finders.is_empty()
    }

    /// `text` with every finding replaced; borrowed when there is none.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for finder in self.candidates(text) {
            // A search first: `replace_all` sets up capture slots even when
            // it finds nothing, and nothing is the common case.
            if !finder.regex.is_match(&out) {
                continue;
            }
            // A candidate its checksum refuses is put back as it was; when
            // every one was, the text stays as it is (borrowed if it was).
            let changed = std::cell::Cell::new(false);
            let hay: &str = &out;
            let replaced = finder.regex.replace_all(hay, |caps: &regex::Captures<'_>| {
                let Some(m) = caps.get(0) else {
                    return String::new();
                };
                let range = match finder.detector {
                    Some((d, i)) => d.confirm(i, hay, m.start(), m.end()),
                    None => Some((m.start(), m.end())),
                };
                match range {
                    Some((s, e)) => {
                        changed.set(true);
                        let head = hay.get(m.start()..s).unwrap_or_default();
                        let tail = hay.get(e..m.end()).unwrap_or_default();
                        format!("{head}{}{tail}", finder.label)
                    }
                    None => m.as_str().to_string(),
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

    /// The finders that could find anything in `text`: the org's rules
    /// always; the built-in detectors its [`Shape`] does not rule out (none
    /// in a text shorter than the shortest finding).
    fn candidates<'s>(&'s self, text: &str) -> impl Iterator<Item = &'s Finder> + 's {
        let shape =
            (!self.finders.is_empty() && text.len() >= SHORTEST_FINDING).then(|| Shape::of(text));
        self.finders.iter().filter(move |f| match f.detector {
            None => true,
            Some(_) => shape.as_ref().is_some_and(|s| f.could_match(s)),
        })
    }

    /// Whether `text` holds a candidate (one a checksum or its
    /// surroundings would refuse counts: this only decides whether to look
    /// closer).
    fn may_hold_anything(&self, text: &str) -> bool {
        self.candidates(text).any(|f| f.regex.is_match(text))
    }

    /// An AI `input`. A conversation (a JSON array of messages) is
    /// redacted as JSON, its strings decoded first (a `\n` before a key
    /// must not hide it, a finding must not eat an escape): every turn with
    /// `all_messages` (the project's `filter_all_messages`, default), the
    /// last otherwise. Any other text, all of it.
    pub fn redact_input<'a>(&self, text: &'a str, all_messages: bool) -> Cow<'a, str> {
        if self.finders.is_empty()
            || !text.trim_start().starts_with('[')
            || !messages::is_conversation(text)
        {
            return self.redact(text);
        }
        let redacted = if all_messages {
            self.redact_json(text)
        } else {
            messages::redact_last(text, self)
        };
        redacted.map_or(Cow::Borrowed(text), Cow::Owned)
    }

    /// A JSON text (properties, attachments, span attributes) with its
    /// string values redacted; `None` when nothing changed.
    pub fn redact_json(&self, json: &str) -> Option<String> {
        // Without an escape, the JSON text holds each string as it is, so
        // one search over all of it tells whether any could hold a finding;
        // with one (`\n`, `\u0040`), only the decoded strings tell, and an
        // org's rule may be anchored (`^[0-9]{4}$`): only the strings tell.
        let has_rules = self.finders.iter().any(|f| f.detector.is_none());
        if !has_rules && !json.contains('\\') && !self.may_hold_anything(json) {
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
