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
//! another, is stored again (insert deduplication is off, [`Targets::new`]
//! says why) and collapsed by readers' `FINAL`, as on one server.
//!
//! Invariant: [`shard_of`] never changes between releases (FNV-1a, 64 bit,
//! over the key's bytes, then MurmurHash3's finalizer; written here rather
//! than taken from a crate whose hasher could change): the shard a
//! project's rows went to yesterday is the one they go to today, as long
//! as the number of shards is the same.

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
    // FNV-1a alone is weak in its low bits (modulo 2 it is the parity of
    // the odd bytes, blind to their order): MurmurHash3's 64-bit finalizer
    // mixes every bit into every bit first.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in project_key {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^= hash >> 33;
    // The remainder is below `shards`, a usize.
    (hash % shards as u64) as usize
}

/// One shard's replicas and which of them took the last write.
pub struct Replicas {
    /// Its index in `clickhouse.shards` (`all` for every server), for
    /// metrics and logs.
    label: String,
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
                        Counter::clickhouse_replica_failovers(self.label.clone()).increment(1);
                        tracing::warn!(shard = %self.label, replica = at, error = %e,
                            "ClickHouse replica failed; writing to the next one");
                    }
                    last = Some(e);
                }
            }
        }
        // Set unless the shard lists no replica (a configuration `check` refuses).
        Err(last.unwrap_or_else(|| {
            clickhouse::error::Error::Custom(format!("shard {} lists no replica", self.label))
        }))
    }
}

/// Every shard the consumer writes to.
pub struct Targets {
    shards: Vec<Replicas>,
    /// Every server, for what is replicated on all of them (project activity).
    everywhere: Replicas,
}

impl Targets {
    /// The shards of `cfg.shards`, or one shard of the one server `cfg.url`.
    ///
    /// On a cluster the writes go without insert deduplication
    /// (`insert_deduplicate = 0`): where a retried block is dropped as a
    /// duplicate, ClickHouse before 24.7 (18.16 included) also skips its
    /// feeds (ClickHouse issue #76110), so a retry after
    /// `events` took a block but before its copies did would leave the
    /// copies short; and two flushes can send the same activity row. A
    /// retried block is stored again instead, as on one server, and
    /// readers' `FINAL` collapses it.
    pub fn new(cfg: &ClickHouseConfig) -> Result<Targets, ClientError> {
        let cluster = !cfg.cluster.is_empty();
        let urls = match cluster {
            true => cfg.replica_urls(),
            false => vec![vec![cfg.url.clone()]],
        };
        let client = |url: &String| -> Result<clickhouse::Client, ClientError> {
            let db = database(&ClickHouseConfig {
                url: url.clone(),
                ..cfg.clone()
            })?;
            Ok(match cluster {
                true => db.with_setting("insert_deduplicate", "0"),
                false => db,
            })
        };
        let replicas = |label: String, urls: &[String]| -> Result<Replicas, ClientError> {
            Ok(Replicas {
                label,
                clients: urls.iter().map(client).collect::<Result<Vec<_>, _>>()?,
                preferred: AtomicUsize::new(0),
            })
        };
        let shards = (urls.iter().enumerate())
            .map(|(index, urls)| replicas(index.to_string(), urls))
            .collect::<Result<Vec<_>, ClientError>>()?;
        let all: Vec<String> = urls.into_iter().flatten().collect();
        Ok(Targets {
            shards,
            everywhere: replicas("all".into(), &all)?,
        })
    }

    /// How many shards.
    pub fn len(&self) -> usize {
        self.shards.len()
    }

    /// Whether there is no shard (a configuration `check` refuses).
    pub fn is_empty(&self) -> bool {
        self.shards.is_empty()
    }

    /// Shard `index`, `None` past the last (a batch drained for another
    /// number of shards: a bug, never input).
    pub fn shard(&self, index: usize) -> Option<&Replicas> {
        self.shards.get(index)
    }

    /// Every server: one server, or each replica of each shard in turn.
    pub fn everywhere(&self) -> &Replicas {
        &self.everywhere
    }
}

/// Checks that each entry of `clickhouse.shards` lists replicas of one
/// shard, and no two entries the same one, by each server's `{shard}` macro
/// (`system.macros`): a replica listed under the wrong shard would split its
/// projects over two. `strict`: every server must answer (`migrate`);
/// otherwise one that does not is skipped (a consumer starting while a
/// replica is down). Returns what is wrong, in words.
pub async fn verify(cfg: &ClickHouseConfig, strict: bool) -> Result<(), String> {
    let mut seen: Vec<(usize, String)> = Vec::new();
    for (index, urls) in cfg.replica_urls().iter().enumerate() {
        let mut macro_of_entry: Option<String> = None;
        for url in urls {
            let server = crate::sink::clickhouse::server(&ClickHouseConfig {
                url: url.clone(),
                ..cfg.clone()
            })
            .map_err(|e| e.to_string())?;
            let read = server
                .query("SELECT substitution FROM system.macros WHERE macro = 'shard'")
                .fetch_optional::<String>();
            let shard = match tokio::time::timeout(std::time::Duration::from_secs(10), read).await {
                Ok(Ok(Some(shard))) => shard,
                Ok(Ok(None)) => return Err(format!("{url} has no {{shard}} macro")),
                Ok(Err(e)) if strict => return Err(format!("{url}: {e}")),
                Err(_) if strict => return Err(format!("{url}: no answer in 10 s")),
                Ok(Err(e)) => {
                    tracing::warn!(url, error = %e, "replica not readable; its shard is not checked");
                    continue;
                }
                Err(_) => {
                    tracing::warn!(url, "replica silent for 10 s; its shard is not checked");
                    continue;
                }
            };
            match &macro_of_entry {
                Some(first) if *first != shard => {
                    return Err(format!(
                        "clickhouse.shards[{index}] mixes shards {first} and {shard} ({url})"
                    ));
                }
                _ => macro_of_entry = Some(shard),
            }
        }
        if let Some(shard) = macro_of_entry {
            if let Some((other, _)) = seen.iter().find(|(_, s)| *s == shard) {
                return Err(format!(
                    "clickhouse.shards[{other}] and [{index}] are both shard {shard}"
                ));
            }
            seen.push((index, shard));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn the_shard_of_a_key_is_pinned() {
        // These must never change: a changed mapping splits a project's
        // rows over two shards.
        let pinned: Vec<usize> = ["acme/chat", "acme/hcat", "acme/app-2020", "acme/app-2021"]
            .iter()
            .map(|k| shard_of(k.as_bytes(), 1 << 20))
            .collect();
        assert_eq!(pinned, PINNED);
        assert_eq!(shard_of(b"acme/chat", 1), 0);
        assert_eq!(shard_of(b"acme/chat", 0), 0);
    }

    /// `shard_of` of the keys above among 2^20 shards (FNV-1a then fmix64,
    /// as computed by a separate implementation).
    const PINNED: [usize; 4] = [387_375, 462_535, 926_170, 399_636];

    #[test]
    fn anagrams_and_numbered_projects_do_not_pile_on_one_shard() {
        // Plain FNV-1a modulo 2 put all of these on one shard.
        for shards in [2, 4, 8] {
            let anagrams: HashSet<usize> = ["acme/chat", "acme/hcat", "acme/tach", "acme/atch"]
                .iter()
                .map(|k| shard_of(k.as_bytes(), shards))
                .collect();
            let numbered: HashSet<usize> = (2020..2029)
                .map(|n| shard_of(format!("acme/app-{n}").as_bytes(), shards))
                .collect();
            assert!(anagrams.len() > 1 && numbered.len() > 1, "{shards}");
        }
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
        assert!(targets.shard(1).is_none());
        let shard = targets.shard(0).expect("shard 0");
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
