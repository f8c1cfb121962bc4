//! The filter language of the Raindrop Query API, as `@raindrop-ai/query`
//! 0.1.13 encodes it (OpenAPI `deepObject` style; its
//! `models/operations/*.ts` are the contract, issue 11):
//!
//! | shape | on the wire | meaning |
//! | --- | --- | --- |
//! | [`Shape::Plain`] | `limit=50` | one value |
//! | [`Shape::Text`] | `user_id=u1`, `user_id[startsWith]=u` | `eq`, `neq`, `startsWith`, `endsWith`, `contains` |
//! | [`Shape::Choice`] | `signal=thumbs_up`, `signal[neq]=x` | `eq`, `neq` |
//! | [`Shape::Range`] | `timestamp[gte]=2026-01-01T00:00:00.000Z` | `gte`, `gt`, `lte`, `lt`, each at most once |
//! | [`Shape::Values`] | `properties[plan]=paid`, `properties[n][gt]=3` | per key: `eq` (the default), `neq`, `gt`, `gte`, `lt`, `lte` |
//!
//! The SDK writes numbers and booleans as text (`42`, `true`), so a value is
//! kept as its text here; the SQL decides how it compares (`conditions`).
//!
//! Invariants: pure; a name outside the endpoint's list, an operator its
//! shape does not take, a repeated name, bad percent-encoding, a value over
//! [`MAX_VALUE_BYTES`] or more than [`MAX_CONDITIONS`] conditions is a 400
//! naming the parameter as it was sent.

use std::borrow::Cow;

use serde_json::{Value, json};

use crate::http::ApiError;

use super::params::{MAX_VALUE_BYTES, decode, parse_time, shorten};

/// Most conditions one request may carry (each becomes a bound predicate).
pub const MAX_CONDITIONS: usize = 32;

/// What a parameter of an endpoint looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `name=value`.
    Plain,
    /// A string field: `name=v` or `name[op]=v`, op one of [`TextOp`].
    Text,
    /// `name=v` or `name[eq|neq]=v`.
    Choice,
    /// A time range: `name[gte|gt|lte|lt]=time`.
    Range,
    /// JSON values by key: `name[key]=v` or `name[key][op]=v`, op one of [`ValueOp`].
    Values,
}

impl Shape {
    /// The JSON Schema of a parameter of this shape named `name` (the
    /// OpenAPI document's), and whether it is a deepObject.
    pub fn schema(self, name: &str) -> (Value, bool) {
        let string = json!({"type": "string"});
        let ops = |names: &[&str], value: &Value| {
            let properties: serde_json::Map<String, Value> = names
                .iter()
                .map(|n| (n.to_string(), value.clone()))
                .collect();
            json!({"type": "object", "properties": properties, "additionalProperties": false})
        };
        let text_ops: Vec<&str> = TextOp::ALL.iter().map(|(n, _)| *n).collect();
        let value_ops: Vec<&str> = ValueOp::ALL.iter().map(|(n, _)| *n).collect();
        match self {
            Shape::Plain if ["limit", "trunc_len"].contains(&name) => {
                (json!({"type": "integer", "minimum": 0}), false)
            }
            Shape::Plain => (string, false),
            Shape::Text => (json!({"oneOf": [string, ops(&text_ops, &string)]}), true),
            Shape::Choice => (
                json!({"oneOf": [string, ops(&["eq", "neq"], &string)]}),
                true,
            ),
            Shape::Range => (
                ops(
                    &["gte", "gt", "lte", "lt"],
                    &json!({"type": "string", "format": "date-time"}),
                ),
                true,
            ),
            Shape::Values => {
                let scalar = json!({"type": ["string", "number", "boolean"]});
                (
                    json!({"type": "object", "additionalProperties": {
                        "oneOf": [scalar, ops(&value_ops, &scalar)]}}),
                    true,
                )
            }
        }
    }
}

/// How a string field compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextOp {
    /// Equal.
    Eq,
    /// Not equal.
    Neq,
    /// Starts with.
    StartsWith,
    /// Ends with.
    EndsWith,
    /// Contains (case-sensitive).
    Contains,
}

impl TextOp {
    const ALL: [(&'static str, TextOp); 5] = [
        ("eq", TextOp::Eq),
        ("neq", TextOp::Neq),
        ("startsWith", TextOp::StartsWith),
        ("endsWith", TextOp::EndsWith),
        ("contains", TextOp::Contains),
    ];
}

/// How a JSON value (a property or a trait) compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueOp {
    /// Equal (string, number or boolean).
    Eq,
    /// Not equal.
    Neq,
    /// Greater than (numbers).
    Gt,
    /// Greater or equal (numbers).
    Gte,
    /// Less than (numbers).
    Lt,
    /// Less or equal (numbers).
    Lte,
}

impl ValueOp {
    const ALL: [(&'static str, ValueOp); 6] = [
        ("eq", ValueOp::Eq),
        ("neq", ValueOp::Neq),
        ("gt", ValueOp::Gt),
        ("gte", ValueOp::Gte),
        ("lt", ValueOp::Lt),
        ("lte", ValueOp::Lte),
    ];

    /// Whether the operator compares numbers only.
    pub fn numeric(self) -> bool {
        !matches!(self, ValueOp::Eq | ValueOp::Neq)
    }
}

/// One condition on a string field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextFilter {
    /// The comparison.
    pub op: TextOp,
    /// The value, decoded.
    pub value: String,
}

/// One condition on a JSON value.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueFilter {
    /// The property or trait name.
    pub key: String,
    /// The comparison.
    pub op: ValueOp,
    /// The value as the SDK wrote it (`paid`, `42`, `true`).
    pub value: String,
    /// The value as a number, when it is one; numeric operators require it.
    pub number: Option<f64>,
}

/// A time range, epoch milliseconds, each bound optional.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    /// At or after.
    pub gte: Option<u64>,
    /// After.
    pub gt: Option<u64>,
    /// At or before.
    pub lte: Option<u64>,
    /// Before.
    pub lt: Option<u64>,
}

/// One decoded parameter: its root name, the bracketed parts, the value.
#[derive(Debug)]
struct Pair {
    sent: String,
    root: String,
    parts: Vec<String>,
    value: String,
}

/// The decoded parameters of one request, checked against its endpoint.
#[derive(Debug, Default)]
pub struct Filters {
    pairs: Vec<Pair>,
}

impl Filters {
    /// Decodes and checks `raw` against `allowed` (name, shape).
    pub fn parse(raw: Option<&str>, allowed: &[(&str, Shape)]) -> Result<Filters, ApiError> {
        let mut pairs: Vec<Pair> = Vec::new();
        for piece in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
            let sent = decode(name).map_err(|why| ApiError::bad_request("query", why))?;
            let (root, parts) = match split_name(&sent) {
                Some((root, parts)) => (
                    root.to_string(),
                    parts.into_iter().map(Cow::into_owned).collect::<Vec<_>>(),
                ),
                None => {
                    return Err(ApiError::bad_request(
                        &shorten(&sent),
                        "is not name or name[part]...",
                    ));
                }
            };
            let Some(&(_, shape)) = allowed.iter().find(|(n, _)| *n == root.as_str()) else {
                let names: Vec<&str> = allowed.iter().map(|(n, _)| *n).collect();
                return Err(ApiError::bad_request(
                    &shorten(&sent),
                    &format!(
                        "unknown parameter (this endpoint takes {})",
                        names.join(", ")
                    ),
                )
                .with_allowed(&names));
            };
            check_shape(&sent, shape, &parts)?;
            if pairs.iter().any(|p| p.sent == sent) {
                return Err(ApiError::bad_request(
                    &shorten(&sent),
                    "given more than once",
                ));
            }
            let value = decode(value).map_err(|why| ApiError::bad_request(&shorten(&sent), why))?;
            if value.len() > MAX_VALUE_BYTES {
                return Err(ApiError::bad_request(
                    &shorten(&sent),
                    &format!("longer than {MAX_VALUE_BYTES} bytes"),
                ));
            }
            pairs.push(Pair {
                sent,
                root,
                parts,
                value,
            });
        }
        if pairs.len() > MAX_CONDITIONS {
            return Err(ApiError::bad_request(
                "query",
                &format!("has {} parameters; at most {MAX_CONDITIONS}", pairs.len()),
            ));
        }
        Ok(Filters { pairs })
    }

    fn of(&self, root: &str) -> Vec<&Pair> {
        self.pairs.iter().filter(|p| p.root == root).collect()
    }

    /// A [`Shape::Plain`] parameter's value.
    pub fn plain(&self, name: &str) -> Option<&str> {
        self.of(name).first().map(|p| p.value.as_str())
    }

    /// A [`Shape::Text`] or [`Shape::Choice`] field's conditions (a bare
    /// `name=v` is `eq`).
    pub fn text(&self, name: &str) -> Vec<TextFilter> {
        self.of(name)
            .into_iter()
            .map(|p| TextFilter {
                op: p.parts.first().map_or(TextOp::Eq, |op| text_op(op)),
                value: p.value.clone(),
            })
            .collect()
    }

    /// A [`Shape::Range`] parameter's bounds; a value that is not a time is
    /// a 400 naming it.
    pub fn range(&self, name: &str) -> Result<TimeRange, ApiError> {
        let mut range = TimeRange::default();
        for p in self.of(name) {
            let ms = parse_time(&p.value).ok_or_else(|| {
                ApiError::bad_request(
                    &shorten(&p.sent),
                    "must be an ISO 8601 time with a zone (or epoch milliseconds), at or after 1970",
                )
            })?;
            let slot = match p.parts.first().map(String::as_str) {
                Some("gte") => &mut range.gte,
                Some("gt") => &mut range.gt,
                Some("lte") => &mut range.lte,
                _ => &mut range.lt,
            };
            *slot = Some(ms);
        }
        Ok(range)
    }

    /// A [`Shape::Values`] parameter's conditions; a numeric operator with
    /// a value that is not a number is a 400 naming it.
    pub fn values(&self, name: &str) -> Result<Vec<ValueFilter>, ApiError> {
        self.of(name)
            .into_iter()
            .map(|p| {
                let key = p.parts.first().cloned().unwrap_or_default();
                let op = p.parts.get(1).map_or(ValueOp::Eq, |op| value_op(op));
                let number = p
                    .value
                    .parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite() && !p.value.is_empty());
                if op.numeric() && number.is_none() {
                    return Err(ApiError::bad_request(
                        &shorten(&p.sent),
                        "must be a number for gt, gte, lt and lte",
                    ));
                }
                Ok(ValueFilter {
                    key,
                    op,
                    value: p.value.clone(),
                    number,
                })
            })
            .collect()
    }
}

/// `root[a][b]` → (`root`, [`a`, `b`]); `None` for unbalanced brackets or
/// an empty part.
fn split_name(name: &str) -> Option<(&str, Vec<Cow<'_, str>>)> {
    let (root, mut rest) = match name.find('[') {
        Some(at) => name.split_at(at),
        None => (name, ""),
    };
    if root.is_empty() || root.contains(']') {
        return None;
    }
    let mut parts = Vec::new();
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[')?;
        let end = inner.find(']')?;
        let part = &inner[..end];
        if part.is_empty() || part.contains('[') {
            return None;
        }
        parts.push(Cow::Borrowed(part));
        rest = &inner[end + 1..];
    }
    Some((root, parts))
}

fn check_shape(sent: &str, shape: Shape, parts: &[String]) -> Result<(), ApiError> {
    let ops = |names: &[&str]| names.join(", ");
    let text_ops: Vec<&str> = TextOp::ALL.iter().map(|(n, _)| *n).collect();
    let value_ops: Vec<&str> = ValueOp::ALL.iter().map(|(n, _)| *n).collect();
    let refuse = |why: String| Err(ApiError::bad_request(&shorten(sent), &why));
    match (shape, parts) {
        (Shape::Plain, []) => Ok(()),
        (Shape::Plain, _) => refuse("takes one value, not [parts]".into()),
        (Shape::Text, []) | (Shape::Choice, []) => Ok(()),
        (Shape::Text, [op]) if text_ops.contains(&op.as_str()) => Ok(()),
        (Shape::Text, _) => refuse(format!("operator must be one of {}", ops(&text_ops))),
        (Shape::Choice, [op]) if op == "eq" || op == "neq" => Ok(()),
        (Shape::Choice, _) => refuse("operator must be one of eq, neq".into()),
        (Shape::Range, [op]) if ["gte", "gt", "lte", "lt"].contains(&op.as_str()) => Ok(()),
        (Shape::Range, _) => refuse("must be name[gte|gt|lte|lt]".into()),
        (Shape::Values, [_key]) => Ok(()),
        (Shape::Values, [_key, op]) if value_ops.contains(&op.as_str()) => Ok(()),
        (Shape::Values, _) => refuse(format!(
            "must be name[key] or name[key][op], op one of {}",
            ops(&value_ops)
        )),
    }
}

fn text_op(name: &str) -> TextOp {
    TextOp::ALL
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(TextOp::Eq, |(_, op)| *op)
}

fn value_op(name: &str) -> ValueOp {
    ValueOp::ALL
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(ValueOp::Eq, |(_, op)| *op)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENTS: &[(&str, Shape)] = &[
        ("limit", Shape::Plain),
        ("user_id", Shape::Text),
        ("signal", Shape::Choice),
        ("timestamp", Shape::Range),
        ("properties", Shape::Values),
    ];

    fn parse(raw: &str) -> Result<Filters, ApiError> {
        Filters::parse(Some(raw), EVENTS)
    }

    fn refused(raw: &str) -> Option<String> {
        parse(raw).err().and_then(|e| e.param)
    }

    #[test]
    fn reads_what_the_sdk_sends() {
        // As @raindrop-ai/query 0.1.13's encodeDeepObjectQuery writes it.
        let f = parse(
            "user_id[startsWith]=u%5B1&user_id[neq]=u9&signal=thumbs_up&limit=50\
             &timestamp[gte]=2026-01-02T03:04:05.678Z&timestamp[lt]=1767323045679\
             &properties[plan]=paid&properties[n][gt]=3&properties[vip][neq]=true",
        )
        .expect("parses");
        assert_eq!(f.plain("limit"), Some("50"));
        assert_eq!(
            f.text("user_id"),
            vec![
                TextFilter {
                    op: TextOp::StartsWith,
                    value: "u[1".into()
                },
                TextFilter {
                    op: TextOp::Neq,
                    value: "u9".into()
                },
            ]
        );
        assert_eq!(f.text("signal")[0].op, TextOp::Eq);
        let r = f.range("timestamp").expect("times");
        assert_eq!(
            (r.gte, r.lt),
            (Some(1_767_323_045_678), Some(1_767_323_045_679))
        );
        let v = f.values("properties").expect("values");
        assert_eq!(v.len(), 3);
        assert_eq!(
            (v[0].key.as_str(), v[0].op, v[0].number),
            ("plan", ValueOp::Eq, None)
        );
        assert_eq!(
            (v[1].key.as_str(), v[1].op, v[1].number),
            ("n", ValueOp::Gt, Some(3.0))
        );
        assert_eq!((v[2].op, v[2].value.as_str()), (ValueOp::Neq, "true"));
    }

    #[test]
    fn refuses_what_an_endpoint_does_not_take_naming_it() {
        assert_eq!(refused("nope=1"), Some("nope".into()));
        assert_eq!(refused("limit[x]=1"), Some("limit[x]".into()));
        assert_eq!(refused("user_id[like]=a"), Some("user_id[like]".into()));
        assert_eq!(
            refused("signal[contains]=a"),
            Some("signal[contains]".into())
        );
        assert_eq!(
            refused("timestamp=2026-01-01T00:00:00Z"),
            Some("timestamp".into())
        );
        assert_eq!(refused("properties=1"), Some("properties".into()));
        assert_eq!(
            refused("properties[a][between]=1"),
            Some("properties[a][between]".into())
        );
        assert_eq!(refused("user_id=a&user_id=b"), Some("user_id".into()));
        assert_eq!(refused("user_id[=a"), Some("user_id[".into()));
        assert_eq!(refused("user_id[]=a"), Some("user_id[]".into()));
        assert_eq!(refused("user_id=%zz"), Some("user_id".into()));
        let many: Vec<String> = (0..=MAX_CONDITIONS)
            .map(|i| format!("properties[k{i}]=1"))
            .collect();
        assert_eq!(refused(&many.join("&")), Some("query".into()));
        let long = format!("user_id={}", "x".repeat(MAX_VALUE_BYTES + 1));
        assert_eq!(refused(&long), Some("user_id".into()));
    }

    #[test]
    fn values_are_checked_where_they_must_be_numbers_or_times() {
        let f = parse("properties[n][gte]=many&timestamp[gt]=yesterday").expect("parses");
        assert_eq!(
            f.values("properties").err().and_then(|e| e.param),
            Some("properties[n][gte]".into())
        );
        assert_eq!(
            f.range("timestamp").err().and_then(|e| e.param),
            Some("timestamp[gt]".into())
        );
        let f = parse("properties[n][eq]=&properties[m]=NaN").expect("parses");
        let v = f.values("properties").expect("eq takes any text");
        assert_eq!((v[0].number, v[1].number), (None, None));
    }

    #[test]
    fn brackets_split_and_bad_ones_are_refused() {
        assert_eq!(split_name("a").map(|(r, p)| (r, p.len())), Some(("a", 0)));
        let (root, parts) = split_name("properties[a.b][gt]").expect("splits");
        assert_eq!(
            (root, parts),
            ("properties", vec![Cow::from("a.b"), Cow::from("gt")])
        );
        for bad in ["", "[a]", "a]", "a[b", "a[b]c", "a[[b]]", "a[]"] {
            assert!(split_name(bad).is_none(), "{bad}");
        }
    }
}
