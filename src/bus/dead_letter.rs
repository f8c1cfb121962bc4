//! The dead-letter topic: where the consumer puts a record it will never
//! insert (undecodable, or refused by ClickHouse), so it can move on
//! without losing it.
//!
//! One topic per deployment, `<topic_prefix>dead-letter`, created by
//! `migrate` with the others. Each dead letter is the original record: the
//! same key and value bytes, plus headers naming why and where it came from:
//!
//! | header | value |
//! | --- | --- |
//! | `downpour-reason` | `<code>: <message>`, code `undecodable` or `rejected` |
//! | `downpour-origin-topic` | the topic the record was read from |
//! | `downpour-origin-partition` | its partition (decimal) |
//! | `downpour-origin-offset` | its offset (decimal) |
//! | `downpour-value-truncated` | only if the value was cut: its full length |
//!
//! A record too large for the dead-letter topic (a foreign producer's) is
//! published with its value cut to [`TRUNCATED_VALUE_BYTES`], so it can
//! never block the consumer; the original stays in its origin topic.
//!
//! Invariant: [`DeadLetters::publish`] returns Ok only after the broker
//! acknowledged the dead letter (acks=all), and the consumer
//! commits the poison record's offset only after that.

use std::sync::Arc;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};

use crate::bus::delivery::Instance;
use crate::bus::producer::MAX_RECORD_BYTES;
use crate::config::KafkaConfig;

/// Header naming why the record was dead-lettered.
pub const REASON: &str = "downpour-reason";
/// Header naming the topic the record was read from.
pub const ORIGIN_TOPIC: &str = "downpour-origin-topic";
/// Header naming the partition the record was read from.
pub const ORIGIN_PARTITION: &str = "downpour-origin-partition";
/// Header naming the record's offset.
pub const ORIGIN_OFFSET: &str = "downpour-origin-offset";

/// Header carrying the full length of a value that was cut.
pub const VALUE_TRUNCATED: &str = "downpour-value-truncated";
/// Value bytes kept when a record is too large to dead-letter whole (fits
/// a broker's default 1 MB message limit).
pub const TRUNCATED_VALUE_BYTES: usize = 900 * 1024;

/// The dead-letter topic's name.
pub fn topic(cfg: &KafkaConfig) -> String {
    format!("{}dead-letter", cfg.topic_prefix)
}

/// Why a record is dead-lettered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// Short code: `undecodable` (the consumer cannot read it) or
    /// `rejected` (ClickHouse refused its rows); the metric's label.
    pub code: &'static str,
    /// What was wrong, for a person.
    pub message: String,
}

impl Reason {
    /// The consumer could not read the record.
    pub fn undecodable(message: impl ToString) -> Reason {
        Reason {
            code: "undecodable",
            message: message.to_string(),
        }
    }

    /// ClickHouse refused the record's rows.
    pub fn rejected(message: impl ToString) -> Reason {
        Reason {
            code: "rejected",
            message: message.to_string(),
        }
    }

    /// The `downpour-reason` header value (ClickHouse's text cut to 1 KiB).
    pub fn header(&self) -> String {
        let mut text = format!("{}: {}", self.code, self.message.trim());
        if text.len() > 1024 {
            let mut cut = 1024;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
        }
        text
    }
}

/// A record on its way to the dead-letter topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadRecord {
    /// Partition it was read from.
    pub partition: i32,
    /// Its offset there.
    pub offset: i64,
    /// Its key, as read.
    pub key: Vec<u8>,
    /// Its value, as read.
    pub value: Vec<u8>,
    /// Why it is dead-lettered.
    pub reason: Reason,
}

/// Why a dead letter was not acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    /// The broker refused or did not answer in time.
    #[error("dead letter not acknowledged: {0}")]
    NotAcknowledged(KafkaError),
    /// The producer is shutting down.
    #[error("dead-letter producer closed")]
    Closed,
}

/// Publishes dead letters for the records of one origin topic.
#[derive(Clone)]
pub struct DeadLetters {
    producer: Arc<Instance>,
    topic: String,
    origin_topic: String,
}

impl DeadLetters {
    /// A producer with acks=all (idempotent when `kafka.idempotence`), for
    /// records read from `origin_topic`.
    pub fn new(cfg: &KafkaConfig) -> Result<DeadLetters, KafkaError> {
        let mut config = crate::bus::client::config(cfg);
        config
            .set("enable.idempotence", cfg.idempotence.to_string())
            .set("acks", "all")
            .set("linger.ms", "0")
            .set("message.timeout.ms", cfg.publish_timeout_ms.to_string())
            .set(
                "message.max.bytes",
                (MAX_RECORD_BYTES + 128 * 1024).to_string(),
            );
        let producer = Instance::create(&config)?;
        Ok(DeadLetters {
            producer,
            topic: topic(cfg),
            origin_topic: String::new(),
        })
    }

    /// The same producer, for records read from `origin_topic`.
    pub fn for_origin(&self, origin_topic: &str) -> DeadLetters {
        DeadLetters {
            origin_topic: origin_topic.to_string(),
            ..self.clone()
        }
    }

    /// Publishes `dead` and waits for the broker's acknowledgement.
    pub async fn publish(&self, dead: &DeadRecord) -> Result<(), DeadLetterError> {
        match self.send(dead, None).await {
            Err(DeadLetterError::NotAcknowledged(KafkaError::MessageProduction(
                RDKafkaErrorCode::MessageSizeTooLarge,
            ))) if dead.value.len() > TRUNCATED_VALUE_BYTES => {
                tracing::warn!(
                    partition = dead.partition,
                    offset = dead.offset,
                    bytes = dead.value.len(),
                    "dead letter too large; publishing its head"
                );
                self.send(dead, Some(TRUNCATED_VALUE_BYTES)).await
            }
            other => other,
        }
    }

    async fn send(&self, dead: &DeadRecord, cut: Option<usize>) -> Result<(), DeadLetterError> {
        let reason = dead.reason.header();
        let partition = dead.partition.to_string();
        let offset = dead.offset.to_string();
        let length = dead.value.len().to_string();
        let mut headers = OwnedHeaders::new();
        for (key, value) in [
            (REASON, reason.as_str()),
            (ORIGIN_TOPIC, self.origin_topic.as_str()),
            (ORIGIN_PARTITION, partition.as_str()),
            (ORIGIN_OFFSET, offset.as_str()),
        ] {
            headers = headers.insert(Header {
                key,
                value: Some(value),
            });
        }
        let mut value = dead.value.as_slice();
        if let Some(cut) = cut {
            value = &value[..cut.min(value.len())];
            headers = headers.insert(Header {
                key: VALUE_TRUNCATED,
                value: Some(length.as_str()),
            });
        }
        match self
            .producer
            .send_one(&self.topic, dead.key.as_slice(), value, headers)
            .await
        {
            Ok(()) => Ok(()),
            Err(KafkaError::Canceled) => Err(DeadLetterError::Closed),
            Err(e) => Err(DeadLetterError::NotAcknowledged(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_header_is_code_then_message_and_bounded() {
        assert_eq!(
            Reason::undecodable("not a downpour record").header(),
            "undecodable: not a downpour record"
        );
        let long = Reason::rejected("é".repeat(2000)).header();
        assert!(long.starts_with("rejected: é"));
        assert!(long.len() <= 1024);
    }
}
