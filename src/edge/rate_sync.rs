//! Rate limits across edges (docs/CONTRACT.md §C16): every
//! `edge.rate_limit_sync_ms` each edge publishes the counts of this minute
//! that changed (one INSERT into `rate_limit_counts`, sql/0012) and reads
//! what the other edges admitted (one SELECT of this minute's rows), which
//! [`RateLimiter::check`] adds to its own count.
//!
//! Invariants: a count is marked published only after ClickHouse took it;
//! an edge reads the others' counts every interval, with or without
//! traffic of its own, so its first request of a limited project already
//! sees them; an exchange that takes longer than its timeout is abandoned
//! and retried at the next tick; while ClickHouse is unreachable the last
//! figures stay, this minute's only, so the limit degrades towards per-edge
//! counting (at most N × the limit), never to refusing. Another edge's
//! request is seen here at most two intervals and a round trip after it
//! was admitted (its edge publishes at its tick, this one reads at its own).
//! Every interval an edge writes one row per limited project whose count
//! changed; once an hour it drops the hours of rows before the previous one.

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
        // A hung ClickHouse must not stop the exchange for good.
        let limit = (every * 5).min(Duration::from_secs(10));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => return,
            }
            let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
            match tokio::time::timeout(limit, self.exchange(now)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "rate limit counts not exchanged; the last ones stay")
                }
                Err(_) => tracing::warn!("rate limit exchange timed out; the last counts stay"),
            }
            let hour = now / 3600;
            if last_cleanup != Some(hour) {
                last_cleanup = Some(hour);
                match tokio::time::timeout(limit, self.drop_old_hours(now)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::warn!(error = %e, "old rate limit counts not dropped"),
                    Err(_) => tracing::warn!("dropping old rate limit counts timed out"),
                }
            }
        }
    }

    /// One exchange at `now` (Unix seconds).
    pub async fn exchange(&self, now: u64) -> Result<(), clickhouse::error::Error> {
        let minute = now / 60;
        self.limiter.forget_before(minute);
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

    /// Drops the partitions (hours) of counts before the previous hour.
    async fn drop_old_hours(&self, now: u64) -> Result<(), clickhouse::error::Error> {
        let hour = now / 3600;
        let old: Vec<String> = self
            .db
            .query(
                "SELECT DISTINCT partition FROM system.parts WHERE database = currentDatabase() \
                 AND table = 'rate_limit_counts' AND active AND toUInt64(partition) + 1 < ?",
            )
            .bind(hour)
            .fetch_all()
            .await?;
        for partition in old {
            // The partition expression is a number: bound as one.
            let Ok(partition) = partition.parse::<u64>() else {
                continue;
            };
            self.db
                .query("ALTER TABLE rate_limit_counts DROP PARTITION ?")
                .bind(partition)
                .execute()
                .await?;
        }
        Ok(())
    }
}
