//! The sink's Kafka side: a group member per pipeline that hands out records
//! and commits offsets only when told (never automatically), and the lag
//! gauge of its group.
//!
//! Invariant: `downpour_consumer_lag{topic, partition}` is the broker's high
//! watermark minus the group's committed offset, read from the broker for
//! every partition of the topic (not only this member's), so it keeps
//! growing while ClickHouse is down and nothing is committed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{CommitMode, Consumer as _, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::BorrowedMessage;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use tokio::sync::watch;

use crate::config::KafkaConfig;
use crate::telemetry::catalogue::Gauge;

/// How long one broker request of the lag probe may take.
const LAG_TIMEOUT: Duration = Duration::from_secs(5);

/// A consumer group member reading one topic.
pub struct Consumer {
    inner: Arc<StreamConsumer>,
    topic: String,
    /// Next offset to commit, per partition, for records already handed out.
    pending: BTreeMap<i32, i64>,
}

impl Consumer {
    /// Joins `group` and subscribes to `topic`. Offsets start at the earliest
    /// record for a new group, so nothing published before the first start is missed.
    pub fn new(cfg: &KafkaConfig, group: &str, topic: &str) -> Result<Consumer, KafkaError> {
        let inner: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", &cfg.brokers)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            // A broker stall shorter than this keeps the assignment. With
            // 10 s, a 10-s stall (tansu SIGSTOPped) revoked it and the rejoin
            // never completed against tansu 0.6: the consumer sat idle with
            // lag until restarted (`scripts/load.sh --stall-broker 10`).
            .set("session.timeout.ms", "30000")
            .set("fetch.max.bytes", "52428800")
            // How long a fetch may wait for new records. With librdkafka's
            // 500 ms default, the 204 → visible p50 was 965 ms at 3.7k events/s
            // against tansu; with 50 ms it is 543 ms (`scripts/load.sh --rate`).
            .set("fetch.wait.max.ms", "50")
            // The prefetch queue, per partition (librdkafka's default: 64 MiB).
            .set("queued.max.messages.kbytes", "16384")
            .create()?;
        inner.subscribe(&[topic])?;
        Ok(Consumer {
            inner: Arc::new(inner),
            topic: topic.to_string(),
            pending: BTreeMap::new(),
        })
    }

    /// The next record. Its offset becomes committable with [`Consumer::commit`].
    pub async fn next(&mut self) -> Result<BorrowedMessage<'_>, KafkaError> {
        let message = self.inner.recv().await?;
        self.pending
            .insert(message.partition(), message.offset() + 1);
        Ok(message)
    }

    /// Commits every offset handed out so far (call after the rows are in ClickHouse).
    pub fn commit(&mut self) -> Result<(), KafkaError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut list = TopicPartitionList::new();
        for (&partition, &offset) in &self.pending {
            list.add_partition_offset(&self.topic, partition, Offset::Offset(offset))?;
        }
        self.inner.commit(&list, CommitMode::Sync)?;
        self.pending.clear();
        Ok(())
    }

    /// Forgets uncommitted offsets (their records will be delivered again).
    pub fn forget_pending(&mut self) {
        self.pending.clear();
    }

    /// The topic read.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Refreshes the lag gauge every `every` until `shutdown` turns true.
    pub fn watch_lag(
        &self,
        every: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let (inner, topic) = (self.inner.clone(), self.topic.clone());
        tokio::spawn(async move {
            loop {
                let (probe, name) = (inner.clone(), topic.clone());
                let lag =
                    tokio::task::spawn_blocking(move || lag(&probe, &name, LAG_TIMEOUT)).await;
                match lag {
                    Ok(Ok(partitions)) => {
                        for (partition, lag) in partitions {
                            Gauge::consumer_lag(topic.clone(), partition.to_string())
                                .set(lag as f64);
                        }
                    }
                    Ok(Err(e)) => tracing::warn!(%topic, error = %e, "consumer lag"),
                    Err(e) => tracing::warn!(%topic, error = %e, "consumer lag task"),
                }
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = shutdown.wait_for(|s| *s) => return,
                }
            }
        })
    }
}

/// High watermark − committed offset, per partition of `topic` (blocking).
fn lag(
    consumer: &StreamConsumer,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<(i32, i64)>, KafkaError> {
    let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
    let mut list = TopicPartitionList::new();
    for t in metadata.topics().iter().filter(|t| t.name() == topic) {
        for p in t.partitions() {
            list.add_partition(topic, p.id());
        }
    }
    let committed = consumer.committed_offsets(list.clone(), timeout)?;
    let mut out = Vec::new();
    for element in list.elements() {
        let partition = element.partition();
        let (low, high) = consumer.fetch_watermarks(topic, partition, timeout)?;
        let done = committed
            .find_partition(topic, partition)
            .and_then(|e| match e.offset() {
                Offset::Offset(o) => Some(o),
                _ => None,
            })
            .unwrap_or(low);
        out.push((partition, (high - done).max(0)));
    }
    Ok(out)
}
