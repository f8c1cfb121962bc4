//! Rate limits across edges (docs/CONTRACT.md §C16): every
//! `edge.rate_limit_sync_ms` each edge publishes the counts of this minute
//! that changed (one INSERT into `rate_limit_counts`, sql/0012) and reads
//! what the other edges admitted (one SELECT of this minute's rows), which
//! [`RateLimiter::check`] adds to its own count.
//!
//! Invariants: a count is marked published only after ClickHouse took it;
//! an edge with no limited project exchanges nothing; while ClickHouse is
//! unreachable the last figures stay, this minute's only, so the limit
//! degrades towards per-edge counting (at most N × the limit), never to
//! refusing. Once an hour an edge drops the days of counts before
//! yesterday (bound: two days of rows, one per project, edge and minute
//! with traffic).

use std::sync::Arc;
use std::time::Duration;

use super::rate_limit::RateLimiter;

/// Exchanges one edge's counts with the others.
pub struct RateSync {
    db: clickhouse::Client,
    edge_id: String,
    limiter: Arc<RateLimiter>,
}

impl RateSync {
    /// An exchange for `limiter`, under a fresh random edge id (a restarted
    /// edge is a new one; its predecessor's counts of this minute still
    /// count).
    pub fn new(db: clickhouse::Client, limiter: Arc<RateLimiter>) -> RateSync {
        RateSync {
            db,
            edge_id: crate::registry::keys::public_id(16),
            limiter,
        }
    }

    /// Exchanges every `every` until `shutdown`.
    pub async fn run(self, every: Duration, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(every.max(Duration::from_millis(50)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_cleanup = None::<u64>;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => return,
            }
            let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
            if let Err(e) = self.exchange(now).await {
                tracing::warn!(error = %e, "rate limit counts not exchanged; the last ones stay");
            }
            let hour = now / 3600;
            if last_cleanup != Some(hour) {
                last_cleanup = Some(hour);
                if let Err(e) = self.drop_old_days(now).await {
                    tracing::warn!(error = %e, "old rate limit counts not dropped");
                }
            }
        }
    }

    /// One exchange at `now` (Unix seconds).
    pub async fn exchange(&self, now: u64) -> Result<(), clickhouse::error::Error> {
        if self.limiter.is_idle() {
            return Ok(());
        }
        let minute = now / 60;
        let minute32 = u32::try_from(minute).unwrap_or(u32::MAX);
        let mine = self.limiter.unpublished(minute);
        if !mine.is_empty() {
            let values = vec!["(?, ?, ?, ?)"; mine.len()].join(", ");
            let mut insert = self.db.query(&format!(
                "INSERT INTO rate_limit_counts (key, minute, edge_id, count) VALUES {values}"
            ));
            for (key, count) in &mine {
                insert = insert
                    .bind(key)
                    .bind(minute32)
                    .bind(&self.edge_id)
                    .bind(count);
            }
            insert.execute().await?;
            self.limiter.published(minute, &mine);
        }
        let others: Vec<(String, u32)> = self
            .db
            .query(
                "SELECT key, toUInt32(sum(c)) FROM (SELECT key, edge_id, max(count) AS c \
                 FROM rate_limit_counts WHERE minute = ? AND edge_id != ? GROUP BY key, edge_id) \
                 GROUP BY key",
            )
            .bind(minute32)
            .bind(&self.edge_id)
            .fetch_all()
            .await?;
        self.limiter.set_others(minute, others);
        Ok(())
    }

    /// Drops the partitions (days) of counts before yesterday.
    async fn drop_old_days(&self, now: u64) -> Result<(), clickhouse::error::Error> {
        let today = now / 86_400;
        let old: Vec<String> = self
            .db
            .query(
                "SELECT DISTINCT partition FROM system.parts WHERE database = currentDatabase() \
                 AND table = 'rate_limit_counts' AND active AND toUInt64(partition) + 1 < ?",
            )
            .bind(today)
            .fetch_all()
            .await?;
        for day in old {
            // The partition expression is a number: bound as one.
            let Ok(day) = day.parse::<u64>() else {
                continue;
            };
            self.db
                .query("ALTER TABLE rate_limit_counts DROP PARTITION ?")
                .bind(day)
                .execute()
                .await?;
        }
        Ok(())
    }
}
