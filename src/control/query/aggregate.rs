//! Events counted over time and by value (`@raindrop-ai/query` 0.1.13,
//! `events-timeseries.ts`, `events-facets.ts`):
//!
//! - `GET /v1/events/timeseries?interval=minute|hour|day|week|month` under
//!   the list's filters: `{data: {buckets: [{timestamp, count}], total},
//!   meta: {interval}}`. A bucket counts distinct events whose timestamp
//!   falls in it (UTC; weeks start on Monday, months on the 1st). Buckets
//!   ascend without gaps (empty ones count 0) from the bucket of the lower
//!   `timestamp` bound, else of the first event, to that of the upper bound,
//!   else of the last event; at most [`MAX_BUCKETS`].
//! - `GET /v1/events/facets?field=event_name|user_id|signal`: `{data:
//!   [{value, count}]}`, the most frequent values first (ties by value),
//!   at most `limit` (default 20); `count` is distinct `count_by` (as
//!   `/v1/events/count`) among the events with that value. Filters:
//!   `user_id`, `event_name`, `signal`, `signal_group`, and `timestamp.gte`
//!   / `timestamp.lt` (the SDK spells these two with a dot).
//!
//! Invariants: ClickHouse groups by whole minutes, hours or days of
//! `timestamp_ms` (integer division: no server time zone involved); weeks
//! and months are folded from days here. An event has one timestamp, so
//! distinct counts of days add up to distinct counts of their week.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Scope;
use super::conditions::{self, EVENT_FILTERS, scoped};
use super::events;
use super::filter::{Filters, Shape, TimeRange};
use super::params::{self, iso, parse_time};
use super::sql::{Arg, Select};
use crate::http::ApiError;

/// Most buckets one timeseries answers.
pub const MAX_BUCKETS: usize = 10_000;

/// Facets when `limit` is not given (the SDK's default).
pub const DEFAULT_FACETS: u32 = 20;

const MINUTE_MS: u64 = 60_000;
const HOUR_MS: u64 = 3_600_000;
const DAY_MS: u64 = 86_400_000;

/// A timeseries bucket's width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Interval {
    Minute,
    Hour,
    Day,
    Week,
    Month,
}

impl Interval {
    const ALL: [(&'static str, Interval); 5] = [
        ("minute", Interval::Minute),
        ("hour", Interval::Hour),
        ("day", Interval::Day),
        ("week", Interval::Week),
        ("month", Interval::Month),
    ];

    fn parse(raw: Option<&str>) -> Result<Interval, ApiError> {
        let raw = raw.unwrap_or("day");
        Interval::ALL
            .iter()
            .find(|(n, _)| *n == raw)
            .map(|(_, i)| *i)
            .ok_or_else(|| {
                let names: Vec<&str> = Interval::ALL.iter().map(|(n, _)| *n).collect();
                ApiError::bad_request("interval", "must be minute, hour, day, week or month")
                    .with_allowed(&names)
            })
    }

    fn name(self) -> &'static str {
        Interval::ALL
            .iter()
            .find(|(_, i)| *i == self)
            .map_or("day", |(n, _)| *n)
    }

    /// The unit ClickHouse groups by.
    fn unit_ms(self) -> u64 {
        match self {
            Interval::Minute => MINUTE_MS,
            Interval::Hour => HOUR_MS,
            Interval::Day | Interval::Week | Interval::Month => DAY_MS,
        }
    }

    /// The start of the bucket that holds `ms`.
    fn start(self, ms: u64) -> u64 {
        match self {
            Interval::Minute | Interval::Hour | Interval::Day => ms - ms % self.unit_ms(),
            Interval::Week => {
                let day = ms / DAY_MS;
                // 1970-01-01 was a Thursday: day 4 of a week from Monday (0).
                let from_monday = (day + 3) % 7;
                (day - from_monday.min(day)) * DAY_MS
            }
            Interval::Month => date_of(ms)
                .and_then(|d| NaiveDate::from_ymd_opt(d.year(), d.month(), 1))
                .map_or(ms - ms % DAY_MS, ms_of),
        }
    }

    /// The start of the bucket after the one starting at `start`.
    fn next(self, start: u64) -> u64 {
        match self {
            Interval::Minute | Interval::Hour | Interval::Day => start + self.unit_ms(),
            Interval::Week => start + 7 * DAY_MS,
            Interval::Month => date_of(start)
                .and_then(|d| d.checked_add_months(Months::new(1)))
                .map_or(u64::MAX, ms_of),
        }
    }
}

fn date_of(ms: u64) -> Option<NaiveDate> {
    DateTime::<Utc>::from_timestamp_millis(i64::try_from(ms).ok()?).map(|t| t.date_naive())
}

fn ms_of(d: NaiveDate) -> u64 {
    d.and_hms_opt(0, 0, 0)
        .and_then(|t| u64::try_from(t.and_utc().timestamp_millis()).ok())
        .unwrap_or(0)
}

/// The parameters of `GET /v1/events/timeseries`.
pub fn timeseries_params() -> Vec<(&'static str, Shape)> {
    let mut p = vec![("interval", Shape::Plain)];
    p.extend_from_slice(EVENT_FILTERS);
    p
}

/// `GET /v1/events/timeseries`'s answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Timeseries {
    /// The buckets and their total.
    pub data: Buckets,
    /// The interval used.
    pub meta: TimeseriesMeta,
}

/// Buckets, ascending, and their sum.
#[derive(Debug, Serialize, ToSchema)]
pub struct Buckets {
    /// One per interval, empty ones included.
    pub buckets: Vec<Bucket>,
    /// The sum of the buckets' counts.
    pub total: u64,
}

/// One bucket.
#[derive(Debug, Serialize, ToSchema)]
pub struct Bucket {
    /// Where the bucket starts, ISO 8601 (UTC).
    #[schema(format = DateTime)]
    pub timestamp: String,
    /// Distinct events in it.
    pub count: u64,
}

/// The interval a timeseries used.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimeseriesMeta {
    /// `minute`, `hour`, `day`, `week` or `month`.
    pub interval: &'static str,
}

/// `GET /v1/events/facets`'s answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Facets {
    /// The most frequent values first.
    pub data: Vec<Facet>,
}

/// One value and how often it occurs.
#[derive(Debug, Serialize, ToSchema)]
pub struct Facet {
    /// The value.
    pub value: String,
    /// Distinct `count_by` among the events with it.
    pub count: u64,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct UnitRow {
    unit: u64,
    n: u64,
}

/// Events per bucket of `interval`.
pub async fn timeseries(
    db: &clickhouse::Client,
    scope: &Scope,
    f: &Filters,
) -> Result<Timeseries, ApiError> {
    let interval = Interval::parse(f.plain("interval"))?;
    let range = f.range("timestamp")?;
    let mut q = events::filtered(scope, &range);
    conditions::events(&mut q, scope, f)?;
    let unit = format!("toUInt64(intDiv(timestamp_ms, {}))", interval.unit_ms());
    let (hours, args) = events::per_hour(q, Some((&unit, "unit"))).into_source();
    let rows: Vec<UnitRow> = Select::over("unit, sum(n) AS n", &hours, args)
        .tail(" GROUP BY unit ORDER BY unit", [])
        .fetch(db)
        .await?;
    let mut counts: BTreeMap<u64, u64> = BTreeMap::new();
    for b in rows {
        *counts
            .entry(interval.start(b.unit.saturating_mul(interval.unit_ms())))
            .or_default() += b.n;
    }
    let low = range
        .gte
        .or(range.gt.map(|t| t.saturating_add(1)))
        .map(|t| interval.start(t));
    let high = range
        .lte
        .or(range.lt.map(|t| t.saturating_sub(1)))
        .map(|t| interval.start(t));
    let first = low.or(counts.keys().next().copied());
    let last = high.or(counts.keys().next_back().copied());
    let mut buckets = Vec::new();
    let mut total = 0u64;
    if let (Some(mut at), Some(last)) = (first, last) {
        while at <= last {
            if buckets.len() == MAX_BUCKETS {
                return Err(ApiError::bad_request(
                    "interval",
                    &format!(
                        "gives more than {MAX_BUCKETS} buckets over this time range; narrow timestamp or widen the interval"
                    ),
                ));
            }
            let n = counts.get(&at).copied().unwrap_or(0);
            total += n;
            buckets.push(Bucket {
                timestamp: iso(at),
                count: n,
            });
            at = interval.next(at);
        }
    }
    Ok(Timeseries {
        data: Buckets { buckets, total },
        meta: TimeseriesMeta {
            interval: interval.name(),
        },
    })
}

/// The parameters of `GET /v1/events/facets`.
pub fn facets_params() -> Vec<(&'static str, Shape)> {
    vec![
        ("field", Shape::Plain),
        ("count_by", Shape::Plain),
        ("limit", Shape::Plain),
        ("user_id", Shape::Text),
        ("event_name", Shape::Text),
        ("signal", Shape::Choice),
        ("signal_group", Shape::Plain),
        ("timestamp.gte", Shape::Plain),
        ("timestamp.lt", Shape::Plain),
    ]
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct FacetRow {
    value: String,
    n: u64,
}

/// The most frequent values of `field`.
pub async fn facets(
    db: &clickhouse::Client,
    scope: &Scope,
    f: &Filters,
) -> Result<Facets, ApiError> {
    let field = f.plain("field").unwrap_or("event_name");
    let count = events::count_by(f)?;
    let limit = params::limit(f.plain("limit"), DEFAULT_FACETS)?;
    let mut range = TimeRange::default();
    for (name, bound) in [
        ("timestamp.gte", &mut range.gte),
        ("timestamp.lt", &mut range.lt),
    ] {
        if let Some(raw) = f.plain(name) {
            *bound = Some(parse_time(raw).ok_or_else(|| {
                ApiError::bad_request(
                    name,
                    "must be an ISO 8601 time with a zone (or epoch milliseconds)",
                )
            })?);
        }
    }
    let mut q = events::filtered(scope, &range);
    conditions::events(&mut q, scope, f)?;
    let order = " GROUP BY value ORDER BY n DESC, value ASC LIMIT ?";
    let by = |mut q: Select, column: &str| {
        if column == "user_id" {
            q.and("user_id != ''", []);
        }
        let limit = [Arg::Number(u64::from(limit))];
        if count == events::DISTINCT_EVENTS {
            let (hours, args) = events::per_hour(q, Some((column, "value"))).into_source();
            Select::over("value, sum(n) AS n", &hours, args).tail(order, limit)
        } else {
            q.outer(&format!("{column} AS value, {count} AS n"))
                .tail(order, limit)
        }
    };
    let q = match field {
        "event_name" => by(q, "event"),
        "user_id" => by(q, "user_id"),
        "signal" => {
            let (events, mut args) = q.outer("event_id, user_id, convo_id").into_source();
            let join = format!(
                "SELECT signal_name AS value, {count} AS n FROM ({events}) ALL INNER JOIN \
                 (SELECT DISTINCT event_id, signal_name FROM signals WHERE org = ? AND project = ?) \
                 USING event_id{order}"
            );
            args.extend(scoped(scope, [Arg::Number(u64::from(limit))]));
            Select::over("value, n", &join, args)
        }
        _ => {
            return Err(
                ApiError::bad_request("field", "must be event_name, user_id or signal")
                    .with_allowed(&["event_name", "user_id", "signal"]),
            );
        }
    };
    let rows: Vec<FacetRow> = q.fetch(db).await?;
    Ok(Facets {
        data: rows
            .into_iter()
            .map(|r| Facet {
                value: r.value,
                count: r.n,
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> u64 {
        parse_time(s).expect("time")
    }

    #[test]
    fn buckets_start_where_the_calendar_says() {
        let t = at("2026-12-09T13:47:12.345Z"); // a Wednesday
        assert_eq!(Interval::Minute.start(t), at("2026-12-09T13:47:00Z"));
        assert_eq!(Interval::Hour.start(t), at("2026-12-09T13:00:00Z"));
        assert_eq!(Interval::Day.start(t), at("2026-12-09T00:00:00Z"));
        assert_eq!(Interval::Week.start(t), at("2026-12-07T00:00:00Z"));
        assert_eq!(
            Interval::Week.start(at("2026-12-07T00:00:00Z")),
            at("2026-12-07T00:00:00Z")
        );
        assert_eq!(
            Interval::Week.start(at("2026-12-13T23:59:59Z")),
            at("2026-12-07T00:00:00Z")
        );
        assert_eq!(Interval::Month.start(t), at("2026-12-01T00:00:00Z"));
        assert_eq!(
            Interval::Month.next(at("2026-12-01T00:00:00Z")),
            at("2027-01-01T00:00:00Z")
        );
        assert_eq!(
            Interval::Month.next(at("2027-01-01T00:00:00Z")),
            at("2027-02-01T00:00:00Z")
        );
        assert_eq!(
            Interval::Week.next(at("2026-12-07T00:00:00Z")),
            at("2026-12-14T00:00:00Z")
        );
        // The epoch's week began on Monday 1969-12-29: clamped to the epoch.
        assert_eq!(Interval::Week.start(0), 0);
    }

    #[test]
    fn intervals_parse_by_name() {
        for (name, i) in Interval::ALL {
            assert_eq!(Interval::parse(Some(name)).expect(name), i);
            assert_eq!(i.name(), name);
        }
        assert_eq!(Interval::parse(None).expect("default"), Interval::Day);
        let e = Interval::parse(Some("year")).expect_err("refused");
        assert_eq!(e.param.as_deref(), Some("interval"));
    }
}
