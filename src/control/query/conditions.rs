//! The Query API's filters ([`super::filter`]) as SQL conditions on events:
//! constant SQL text (column names are constants here), every value bound.
//!
//! - strings (`user_id`, `convo_id`, `event_name`): `=`, `!=`, `startsWith`,
//!   `endsWith`, `position(..) > 0` (all on ClickHouse 18.16);
//! - `timestamp`: bounds on `timestamp_ms`;
//! - `signal`: the event has (or, for `neq`, has no) signal of that name;
//!   `signal_group`: the event has a signal of that `signal_type` (a signal
//!   group is a signal type, `signals.rs`);
//! - `properties[k]`: the event's property, read with
//!   `visitParamExtractRaw` (ClickHouse 18.16 has no JSON functions beyond
//!   `visitParam*`: it finds the first `"k":` in the object, nested objects
//!   included). `eq` matches the JSON string of the value, the boolean of
//!   `true`/`false`, or a number equal to it; `gt`..`lte` compare numbers;
//! - `traits[k]`: the same on the user's latest identify.

use super::Scope;
use super::filter::Shape;
use super::filter::{Filters, TextOp, ValueFilter, ValueOp};
use super::sql::{Arg, Select};
use crate::http::ApiError;
use crate::pipeline::row::json_string;

/// The filters every events endpoint takes (list, count, timeseries).
pub const EVENT_FILTERS: &[(&str, Shape)] = &[
    ("timestamp", Shape::Range),
    ("user_id", Shape::Text),
    ("convo_id", Shape::Text),
    ("event_name", Shape::Text),
    ("signal", Shape::Choice),
    ("signal_group", Shape::Plain),
    ("properties", Shape::Values),
    ("traits", Shape::Values),
];

/// Adds the event filters of `f` to `q`.
pub fn events(q: &mut Select, scope: &Scope, f: &Filters) -> Result<(), ApiError> {
    for (name, column) in [
        ("user_id", "user_id"),
        ("convo_id", "convo_id"),
        ("event_name", "event"),
    ] {
        text(q, f, name, column);
    }
    range(q, f, "timestamp", "timestamp_ms")?;
    let signals = "event_id IN (SELECT event_id FROM signals WHERE org = ? AND project = ? AND signal_name = ?)";
    for s in f.text("signal") {
        let sql = match s.op {
            TextOp::Neq => format!("NOT {signals}"),
            _ => signals.to_string(),
        };
        q.and_sql(sql, scoped(scope, [Arg::Text(s.value)]));
    }
    if let Some(group) = f.plain("signal_group") {
        q.and_sql(
            "event_id IN (SELECT event_id FROM signals WHERE org = ? AND project = ? AND signal_type = ?)"
                .to_string(),
            scoped(scope, [Arg::Text(group.to_string())]),
        );
    }
    values(q, f, "properties", "properties")?;
    let traits = f.values("traits")?;
    if !traits.is_empty() {
        let mut sql = String::from(
            "user_id IN (SELECT user_id FROM (SELECT user_id, argMax(traits, version) AS traits \
             FROM users WHERE org = ? AND project = ? GROUP BY user_id) WHERE ",
        );
        let mut args = scoped(scope, []);
        for (i, t) in traits.iter().enumerate() {
            let (cond, more) = value("traits", t);
            if i > 0 {
                sql.push_str(" AND ");
            }
            sql.push_str(&cond);
            args.extend(more);
        }
        sql.push(')');
        q.and_sql(sql, args);
    }
    Ok(())
}

/// The [`Shape::Text`] conditions of parameter `name` on the
/// string `column`.
pub fn text(q: &mut Select, f: &Filters, name: &str, column: &'static str) {
    for t in f.text(name) {
        let sql = match t.op {
            TextOp::Eq => format!("{column} = ?"),
            TextOp::Neq => format!("{column} != ?"),
            TextOp::StartsWith => format!("startsWith({column}, ?)"),
            TextOp::EndsWith => format!("endsWith({column}, ?)"),
            TextOp::Contains => format!("position({column}, ?) > 0"),
        };
        q.and_sql(sql, vec![Arg::Text(t.value)]);
    }
}

/// The bounds of the [`Shape::Range`] parameter `name` on the
/// epoch-milliseconds `column`.
pub fn range(
    q: &mut Select,
    f: &Filters,
    name: &str,
    column: &'static str,
) -> Result<(), ApiError> {
    let range = f.range(name)?;
    for (bound, op) in [
        (range.gte, ">="),
        (range.gt, ">"),
        (range.lte, "<="),
        (range.lt, "<"),
    ] {
        if let Some(ms) = bound {
            q.and_sql(format!("{column} {op} ?"), vec![Arg::Number(ms)]);
        }
    }
    Ok(())
}

/// The [`Shape::Values`] conditions of parameter `name` on the
/// JSON object `column`.
pub fn values(
    q: &mut Select,
    f: &Filters,
    name: &str,
    column: &'static str,
) -> Result<(), ApiError> {
    for p in f.values(name)? {
        let (sql, args) = value(column, &p);
        q.and_sql(sql, args);
    }
    Ok(())
}

/// The scope's org and project, then `more`.
pub fn scoped(scope: &Scope, more: impl IntoIterator<Item = Arg>) -> Vec<Arg> {
    let mut args = vec![
        Arg::Text(scope.org.to_string()),
        Arg::Text(scope.project.as_str().to_string()),
    ];
    args.extend(more);
    args
}

/// One condition on a JSON object column (`properties`, `traits`).
fn value(column: &'static str, f: &ValueFilter) -> (String, Vec<Arg>) {
    let raw = format!("visitParamExtractRaw({column}, ?)");
    let key = || Arg::Text(f.key.clone());
    // A number: present, not a JSON string, compared as a float.
    let numeric = |op: &str| {
        (
            format!(
                "({raw} != '' AND {raw} NOT LIKE '\"%' AND visitParamExtractFloat({column}, ?) {op} ?)"
            ),
            vec![key(), key(), key(), Arg::Float(f.number.unwrap_or(0.0))],
        )
    };
    let equal = || {
        let mut text = Vec::new();
        json_string(&mut text, &f.value);
        let text = String::from_utf8_lossy(&text).into_owned();
        let literal = if matches!(f.value.as_str(), "true" | "false" | "null") {
            f.value.clone()
        } else {
            text.clone()
        };
        let (mut sql, mut args) = (
            format!("{raw} IN (?, ?)"),
            vec![key(), Arg::Text(text), Arg::Text(literal)],
        );
        if f.number.is_some() {
            let (n_sql, n_args) = numeric("=");
            sql = format!("({sql} OR {n_sql})");
            args.extend(n_args);
        }
        (sql, args)
    };
    match f.op {
        ValueOp::Eq => equal(),
        ValueOp::Neq => {
            let (sql, args) = equal();
            (format!("NOT ({sql})"), args)
        }
        ValueOp::Gt => numeric(">"),
        ValueOp::Gte => numeric(">="),
        ValueOp::Lt => numeric("<"),
        ValueOp::Lte => numeric("<="),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::slug::Slug;

    #[test]
    fn every_filter_is_bound_never_spliced() {
        let hostile = "x%27%20OR%201%3D1%20--%20%3F";
        let raw = format!(
            "user_id[contains]={hostile}&event_name={hostile}&signal[neq]={hostile}\
             &signal_group={hostile}&properties[{hostile}]={hostile}&properties[n][gte]=3\
             &traits[{hostile}][neq]=true&timestamp[gte]=1767323045678"
        );
        let f = Filters::parse(Some(&raw), EVENT_FILTERS).expect("parses");
        let scope = Scope::for_test("acme", Slug::default_project());
        let mut q = Select::new("event_id", &["events FINAL"], &scope, &[]);
        events(&mut q, &scope, &f).expect("conditions");
        let (sql, args) = q.parts();
        assert!(!sql.contains("OR 1=1"), "{sql}");
        assert_eq!(sql.matches('?').count(), args, "{sql}");
    }
}
