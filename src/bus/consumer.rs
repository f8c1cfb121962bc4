//! The sink's Kafka side: a group member per pipeline that hands out records
//! and commits offsets only when told (never automatically).

use std::collections::BTreeMap;

use rdkafka::consumer::{CommitMode, Consumer as _, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::BorrowedMessage;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use crate::config::KafkaConfig;

/// A consumer group member reading one topic.
pub struct Consumer {
    inner: StreamConsumer,
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
            .set("session.timeout.ms", "10000")
            .set("fetch.max.bytes", "52428800")
            .create()?;
        inner.subscribe(&[topic])?;
        Ok(Consumer {
            inner,
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
}
