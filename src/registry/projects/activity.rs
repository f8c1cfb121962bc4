//! What the consumers recorded of each project's data: `project_activity`
//! (a row per flush and project, written after the INSERT) and its hourly
//! rollup `project_activity_hourly` (sql/0008). Read by the projects table,
//! the pending panel and the ingest chart.
//!
//! Invariants: counts are of rows written, at least once (a batch a crashed
//! consumer re-wrote counts twice here, never in the tables); times are
//! when they were written, bucketed in UTC by integer division (no server
//! time zone involved); every value is bound.

use super::{ProjectActivity, ProjectError, ProjectStore, now_secs};

/// The buckets of an ingest chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestInterval {
    /// Events per minute over the last hour (61 buckets: the current
    /// minute and the 60 before it).
    Minute,
    /// Events per day over the last 30 days (the current day and the 29
    /// before it).
    Day,
}

impl IngestInterval {
    /// Seconds per bucket.
    pub fn seconds(self) -> u32 {
        match self {
            IngestInterval::Minute => 60,
            IngestInterval::Day => 86_400,
        }
    }

    /// How many buckets a chart has.
    pub fn buckets(self) -> u32 {
        match self {
            IngestInterval::Minute => 61,
            IngestInterval::Day => 30,
        }
    }
}

impl ProjectStore {
    /// Per project of `org` that sent data: events in the current hour and
    /// the 23 before it, and in all; when its last event and last data of
    /// any stream were written; the streams that carried it. Read from the
    /// hourly rollup (one row per hour, stream and project).
    pub async fn activity(&self, org: &str) -> Result<Vec<ProjectActivity>, ProjectError> {
        #[derive(clickhouse::Row, serde::Deserialize)]
        struct Row {
            slug: String,
            events_24h: u64,
            events_total: u64,
            last_event: u32,
            last_seen: u32,
            streams: Vec<String>,
        }
        let rows: Vec<Row> = self
            .db
            .query(
                // Columns in `Row`'s order (RowBinary, matched by position).
                "SELECT project, \
                 sumMergeIf(row_count, stream = 'events' AND hour >= toStartOfHour(now()) - 82800), \
                 sumMergeIf(row_count, stream = 'events'), \
                 toUInt32(maxMergeIf(latest, stream = 'events')), toUInt32(maxMerge(latest)), \
                 arraySort(groupUniqArray(stream)) \
                 FROM project_activity_hourly WHERE org = ? GROUP BY project ORDER BY project",
            )
            .bind(org)
            .fetch_all()
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| ProjectActivity {
                slug: r.slug,
                events_24h: r.events_24h,
                events_total: r.events_total,
                last_event: r.last_event,
                last_seen: r.last_seen,
                streams: r.streams,
                endpoints: Vec::new(),
            })
            .collect())
    }

    /// Events of `project` written per bucket of `interval`, oldest first,
    /// every bucket present (empty ones 0): `(bucket start, events)`, the
    /// start in seconds since the epoch.
    pub async fn ingest(
        &self,
        org: &str,
        project: &str,
        interval: IngestInterval,
    ) -> Result<Vec<(u32, u64)>, ProjectError> {
        let step = interval.seconds();
        let last = now_secs() / step * step;
        let first = last - step * (interval.buckets() - 1);
        // The last hour from the per-flush rows (their sort key leads to
        // them); 30 days from the hourly rollup.
        let sql = match interval {
            IngestInterval::Minute => {
                "SELECT toUInt32(intDiv(toUInt32(last_seen), ?) * ?) AS bucket, sum(rows) \
                 FROM project_activity WHERE org = ? AND project = ? AND stream = 'events' \
                 AND last_seen >= toDateTime(?) GROUP BY bucket"
            }
            IngestInterval::Day => {
                "SELECT toUInt32(intDiv(toUInt32(hour), ?) * ?) AS bucket, sumMerge(row_count) \
                 FROM project_activity_hourly WHERE org = ? AND project = ? AND stream = 'events' \
                 AND hour >= toDateTime(?) GROUP BY bucket"
            }
        };
        let counts: Vec<(u32, u64)> = self
            .db
            .query(sql)
            .bind(step)
            .bind(step)
            .bind(org)
            .bind(project)
            .bind(first)
            .fetch_all()
            .await?;
        Ok((0..interval.buckets())
            .map(|i| {
                let at = first + i * step;
                let n = counts
                    .iter()
                    .filter(|(bucket, _)| *bucket == at)
                    .map(|(_, n)| n)
                    .sum();
                (at, n)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_covers_the_last_hour_by_minute_and_30_days_by_day() {
        assert_eq!(
            IngestInterval::Minute.seconds() * (IngestInterval::Minute.buckets() - 1),
            3600
        );
        assert_eq!(IngestInterval::Day.buckets(), 30);
        assert_eq!(IngestInterval::Day.seconds(), 86_400);
    }
}
