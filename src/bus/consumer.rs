//! The sink's Kafka side: a group member per pipeline that hands out records
//! and commits offsets only when told (never automatically), and the lag
//! gauge of its group.
//!
//! Invariants: `downpour_consumer_lag{topic, partition}` is the broker's high
//! watermark minus the group's committed offset, read from the broker for
//! every partition of the topic (not only this member's), so it keeps
//! growing while ClickHouse is down and nothing is committed. Each probe is
//! also published to the worker ([`Consumer::lag_view`]) for its stall
//! watchdog. With a group instance id (static membership) a member that
//! restarts takes its predecessor's place in the group at once instead of
//! waiting for the predecessor's session to expire; [`Consumer::renew`]
//! makes a fresh member with the same settings (the watchdog's remedy).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{CommitMode, Consumer as _, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::BorrowedMessage;
use rdkafka::{Message, Offset, TopicPartitionList};

use tokio::sync::watch;

use crate::config::KafkaConfig;
use crate::telemetry::catalogue::Gauge;

/// How long one broker request of the lag probe may take.
const LAG_TIMEOUT: Duration = Duration::from_secs(5);

/// A consumer group member reading one topic.
pub struct Consumer {
    inner: Arc<StreamConsumer>,
    spec: Spec,
    /// Next offset to commit, per partition, for records already handed out.
    pending: BTreeMap<i32, i64>,
    lag: watch::Sender<Option<(std::time::Instant, Vec<PartitionLag>)>>,
}

/// What a member is made from (kept to make a fresh one).
#[derive(Debug, Clone)]
struct Spec {
    kafka: KafkaConfig,
    group: String,
    topic: String,
    instance: Option<String>,
}

/// One partition in a lag probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionLag {
    /// The partition.
    pub partition: i32,
    /// High watermark − the group's committed offset.
    pub lag: i64,
    /// The group's committed offset (the low watermark when none).
    pub committed: i64,
}

impl Consumer {
    /// Joins `group` and subscribes to `topic`. Offsets start at the earliest
    /// record for a new group, so nothing published before the first start
    /// is missed. `instance` is the member's `group.instance.id` (static
    /// membership), unique per member of the group; `None`: dynamic.
    pub fn new(
        cfg: &KafkaConfig,
        group: &str,
        topic: &str,
        instance: Option<&str>,
    ) -> Result<Consumer, KafkaError> {
        Consumer::from_spec(Spec {
            kafka: cfg.clone(),
            group: group.to_string(),
            topic: topic.to_string(),
            instance: instance.map(str::to_string),
        })
    }

    /// Closes this member (it leaves the group; its uncommitted offsets are
    /// forgotten) and makes a fresh one with the same settings. The close
    /// goes first and completes before the new member joins: against tansu
    /// 0.6, a leader that leaves while a new member is joining stays the
    /// group's leader forever (its LeaveGroup in a forming group does not
    /// clear it), and the group never forms again. The close waits for the
    /// lag probe to release the client, then runs on a blocking thread;
    /// after `close_timeout` the replacement is made anyway.
    pub async fn renew(self, close_timeout: Duration) -> Result<Consumer, KafkaError> {
        let spec = self.close(close_timeout).await;
        Consumer::from_spec(spec)
    }

    /// Closes this member as [`Consumer::renew`] does and joins `group`
    /// instead (same topic and instance id).
    pub async fn regroup(
        self,
        group: String,
        close_timeout: Duration,
    ) -> Result<Consumer, KafkaError> {
        let mut spec = self.close(close_timeout).await;
        spec.group = group;
        Consumer::from_spec(spec)
    }

    /// The group this member is in.
    pub fn group(&self) -> &str {
        &self.spec.group
    }

    /// Closes the member (waiting at most `close_timeout`) and returns what
    /// it was made from.
    async fn close(self, close_timeout: Duration) -> Spec {
        let Consumer { inner, spec, .. } = self;
        let deadline = tokio::time::Instant::now() + close_timeout;
        let mut shared = inner;
        let owned = loop {
            match Arc::try_unwrap(shared) {
                Ok(owned) => break Some(owned),
                Err(still) if tokio::time::Instant::now() < deadline => {
                    shared = still;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(_) => break None,
            }
        };
        let closed = match owned {
            Some(owned) => {
                let close = tokio::task::spawn_blocking(move || drop(owned));
                tokio::time::timeout_at(deadline, close).await.is_ok()
            }
            None => false,
        };
        if !closed {
            tracing::warn!(topic = %spec.topic, "the old consumer did not close within {close_timeout:?}; renewing anyway");
        }
        spec
    }

    fn from_spec(spec: Spec) -> Result<Consumer, KafkaError> {
        let cfg = &spec.kafka;
        let mut client = crate::bus::client::config(cfg);
        if let Some(instance) = &spec.instance {
            client.set("group.instance.id", instance);
        }
        let inner: StreamConsumer = client
            .set("group.id", &spec.group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            // A broker stall shorter than this keeps the assignment. With
            // 10 s, a 10-s stall (tansu SIGSTOPped) revoked it and the rejoin
            // never completed against tansu 0.6: the consumer sat idle with
            // lag until restarted (`scripts/load.sh --stall-broker 10`).
            .set("session.timeout.ms", "30000")
            .set("fetch.max.bytes", "52428800")
            // How long a fetch may wait for new records (`kafka.fetch_wait_max_ms`:
            // with tansu, a delay on every record and the idle fetch rate).
            .set("fetch.wait.max.ms", cfg.fetch_wait_max_ms.to_string())
            // The prefetch queue, per partition (librdkafka's default: 64 MiB).
            .set("queued.max.messages.kbytes", "16384")
            .create()?;
        inner.subscribe(&[spec.topic.as_str()])?;
        Ok(Consumer {
            inner: Arc::new(inner),
            spec,
            pending: BTreeMap::new(),
            lag: watch::channel(None).0,
        })
    }

    /// The partitions this member holds now (librdkafka's local view, no
    /// broker request); empty while it has no assignment.
    pub fn assigned(&self) -> Vec<i32> {
        match self.inner.assignment() {
            Ok(list) => list.elements().iter().map(|e| e.partition()).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The latest lag probe of this member and when it answered (`None`
    /// until one answered).
    pub fn lag_view(&self) -> Option<(std::time::Instant, Vec<PartitionLag>)> {
        self.lag.borrow().clone()
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
            list.add_partition_offset(&self.spec.topic, partition, Offset::Offset(offset))?;
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
        &self.spec.topic
    }

    /// Refreshes the lag gauge every `every` until `shutdown` turns true.
    pub fn watch_lag(
        &self,
        every: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let (inner, topic) = (self.inner.clone(), self.spec.topic.clone());
        let view = self.lag.clone();
        tokio::spawn(async move {
            loop {
                let (probe, name) = (inner.clone(), topic.clone());
                let lag =
                    tokio::task::spawn_blocking(move || lag(&probe, &name, LAG_TIMEOUT)).await;
                match lag {
                    Ok(Ok(partitions)) => {
                        for p in &partitions {
                            Gauge::consumer_lag(topic.clone(), p.partition.to_string())
                                .set(p.lag as f64);
                        }
                        view.send_replace(Some((std::time::Instant::now(), partitions)));
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
) -> Result<Vec<PartitionLag>, KafkaError> {
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
        out.push(PartitionLag {
            partition,
            lag: (high - done).max(0),
            committed: done,
        });
    }
    Ok(out)
}
