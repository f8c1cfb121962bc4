//! Where the consumer writes: one server, or the shards of a ClickHouse
//! cluster (`clickhouse.cluster`, `clickhouse.shards`), each a list of
//! replicas.
//!
//! A project's rows always go to one shard, [`shard_of`] its record key
//! (`org/project`; a hot project's spread suffix is stripped before), so
//! `FINAL` on that shard sees every copy of a row and a partial event's
//! patches merge there, whatever Kafka partition carried them. A write
//! goes to the shard's replica that took the last one; a failure that is
//! not the data's (refused connection, timeout, a read-only replica) sends
//! it to the next replica at once, and only when every replica failed does
//! the flush see the error (and back off, `crate::sink::flush`). An INSERT
//! that reached a replica before failing and is sent again, to it or
//! another, is the same block: replicated tables drop it by its checksum
//! (insert deduplication), and `FINAL` would collapse it anyway.
//!
//! Invariant: [`shard_of`] never changes between releases (FNV-1a, 64 bit,
//! over the key's bytes, written here rather than taken from a crate whose
//! hasher could change): the shard a project's rows went to yesterday is
//! the one they go to today, as long as the number of shards is the same.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::config::ClickHouseConfig;
use crate::sink::classify::{Failure, classify};
use crate::sink::clickhouse::{ClientError, database};
use crate::telemetry::catalogue::Counter;

/// The shard of the project `project_key` names among `shards` (0 for one).
pub fn shard_of(project_key: &[u8], shards: usize) -> usize {
    if shards <= 1 {
        return 0;
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in project_key {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // The remainder is below `shards`, a usize.
    (hash % shards as u64) as usize
}

/// One shard's replicas and which of them took the last write.
pub struct Replicas {
    /// Index in `clickhouse.shards`, for metrics and logs.
    index: usize,
    clients: Vec<clickhouse::Client>,
    preferred: AtomicUsize,
}

impl Replicas {
    /// Runs `write` on the preferred replica, then on each next one while
    /// the failure is not the data's; the first success becomes preferred.
    /// Returns the last failure when every replica failed.
    pub async fn write<F, Fut>(&self, write: F) -> Result<(), clickhouse::error::Error>
    where
        F: Fn(clickhouse::Client) -> Fut,
        Fut: std::future::Future<Output = Result<(), clickhouse::error::Error>>,
    {
        let count = self.clients.len();
        let first = self.preferred.load(Ordering::Relaxed);
        let mut last = None;
        for step in 0..count {
            let at = (first + step) % count;
            match write(self.clients[at].clone()).await {
                Ok(()) => {
                    if at != first {
                        self.preferred.store(at, Ordering::Relaxed);
                    }
                    return Ok(());
                }
                Err(e) if classify(&e) == Failure::Data => return Err(e),
                Err(e) => {
                    if step + 1 < count {
                        Counter::clickhouse_replica_failovers(self.index.to_string()).increment(1);
                        tracing::warn!(shard = self.index, replica = at, error = %e,
                            "ClickHouse replica failed; writing to the next one");
                    }
                    last = Some(e);
                }
            }
        }
        // `count` is at least 1 (Targets::new), so `last` is set.
        Err(last.unwrap_or(clickhouse::error::Error::TimedOut))
    }
}

/// Every shard the consumer writes to.
pub struct Targets {
    shards: Vec<Replicas>,
}

impl Targets {
    /// The shards of `cfg.shards`, or one shard of the one server `cfg.url`.
    pub fn new(cfg: &ClickHouseConfig) -> Result<Targets, ClientError> {
        let mut urls = cfg.replica_urls();
        urls.retain(|replicas| !replicas.is_empty());
        if cfg.cluster.is_empty() || urls.is_empty() {
            urls = vec![vec![cfg.url.clone()]];
        }
        let shards = urls
            .into_iter()
            .enumerate()
            .map(|(index, replicas)| {
                let clients = replicas
                    .into_iter()
                    .map(|url| database(&ClickHouseConfig { url, ..cfg.clone() }))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Replicas {
                    index,
                    clients,
                    preferred: AtomicUsize::new(0),
                })
            })
            .collect::<Result<Vec<_>, ClientError>>()?;
        Ok(Targets { shards })
    }

    /// How many shards.
    pub fn len(&self) -> usize {
        self.shards.len()
    }

    /// Whether there is no shard (never: [`Targets::new`] makes one at least).
    pub fn is_empty(&self) -> bool {
        self.shards.is_empty()
    }

    /// Shard `index` (the first one when out of range).
    pub fn shard(&self, index: usize) -> &Replicas {
        self.shards.get(index).unwrap_or(&self.shards[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shard_of_a_key_is_pinned() {
        // FNV-1a 64 test vectors: these must never change (a changed
        // mapping splits a project's rows over two shards).
        assert_eq!(shard_of(b"", 1 << 40), 0xcbf2_9ce4_8422_2325 % (1 << 40));
        assert_eq!(
            shard_of(b"a", usize::MAX),
            (0xaf63_dc4c_8601_ec8c_u64 % usize::MAX as u64) as usize
        );
        assert_eq!(shard_of(b"acme/chat", 1), 0);
        assert_eq!(shard_of(b"acme/chat", 0), 0);
    }

    #[test]
    fn projects_spread_over_shards() {
        let mut per_shard = [0usize; 4];
        for p in 0..4_000 {
            per_shard[shard_of(format!("org_{}/project-{p}", p % 7).as_bytes(), 4)] += 1;
        }
        for count in per_shard {
            assert!((800..1_200).contains(&count), "{per_shard:?}");
        }
    }

    #[tokio::test]
    async fn a_failed_replica_sends_the_write_to_the_next_and_stays_behind() {
        let cfg = ClickHouseConfig {
            cluster: "c".into(),
            shards: vec!["http://127.0.0.1:1, http://127.0.0.1:2".into()],
            ..crate::config::Config::default().clickhouse
        };
        let targets = Targets::new(&cfg).expect("targets");
        assert_eq!(targets.len(), 1);
        let shard = targets.shard(0);
        let tried = AtomicUsize::new(0);
        let first_down = |_| {
            let down = tried.fetch_add(1, Ordering::Relaxed) == 0;
            async move {
                if down {
                    Err(clickhouse::error::Error::Network("refused".into()))
                } else {
                    Ok(())
                }
            }
        };
        shard
            .write(first_down)
            .await
            .expect("second replica takes it");
        assert_eq!(tried.load(Ordering::Relaxed), 2);
        assert_eq!(shard.preferred.load(Ordering::Relaxed), 1);
        // A data failure is the data's on every replica: not sent on.
        let data = |_| async {
            Err(clickhouse::error::Error::BadResponse(
                "Code: 33, e.displayText() = DB::Exception: Cannot read all data".into(),
            ))
        };
        let e = shard.write(data).await.expect_err("refused");
        assert_eq!(classify(&e), Failure::Data);
        assert_eq!(shard.preferred.load(Ordering::Relaxed), 1);
        // Every replica down: the last failure.
        let down = |_| async { Err(clickhouse::error::Error::TimedOut) };
        assert!(shard.write(down).await.is_err());
    }
}
