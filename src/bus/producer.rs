//! The edge's producer: publish a request's records and wait for their acks.
//!
//! librdkafka batches records of concurrent requests into shared broker
//! requests (`linger.ms`), compresses them (lz4), and retries idempotently.
//! Its queue is bounded (`queue.buffering.max.kbytes`); a full queue is an
//! immediate error, which the edge answers with 503, so a stalled broker
//! bounds the edge's memory instead of growing it.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};

use crate::config::KafkaConfig;

/// Largest record the producer sends (one request chunk, see `validate`).
pub const MAX_RECORD_BYTES: usize = 4 * 1024 * 1024;

/// Why records were not acknowledged.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PublishError {
    /// The local queue is full: the broker is slow or down.
    #[error("producer queue full")]
    QueueFull,
    /// The broker did not acknowledge in time, or refused.
    #[error("not acknowledged: {0}")]
    NotAcknowledged(KafkaError),
    /// The producer is shutting down.
    #[error("producer closed")]
    Closed,
}

/// Publishes records and waits for acks.
#[derive(Clone)]
pub struct Producer {
    inner: FutureProducer,
}

impl Producer {
    /// A producer with acks=all, idempotence and lz4.
    pub fn new(cfg: &KafkaConfig) -> Result<Producer, KafkaError> {
        let inner: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", &cfg.brokers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("compression.type", "lz4")
            .set("linger.ms", cfg.linger_ms.to_string())
            .set("message.timeout.ms", cfg.publish_timeout_ms.to_string())
            .set(
                "queue.buffering.max.kbytes",
                cfg.queue_max_kbytes.to_string(),
            )
            .set(
                "message.max.bytes",
                (MAX_RECORD_BYTES + 64 * 1024).to_string(),
            )
            .create()?;
        Ok(Producer { inner })
    }

    /// Publishes `records` under `key` and returns once all are acknowledged.
    pub async fn publish(
        &self,
        topic: &str,
        key: &[u8],
        records: &[Vec<u8>],
    ) -> Result<(), PublishError> {
        let mut acks = Vec::with_capacity(records.len());
        for value in records {
            let record = FutureRecord::to(topic).key(key).payload(value.as_slice());
            match self.inner.send_result(record) {
                Ok(ack) => acks.push(ack),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    metrics::counter!("downpour_producer_queue_full_total").increment(1);
                    return Err(PublishError::QueueFull);
                }
                Err((e, _)) => return Err(PublishError::NotAcknowledged(e)),
            }
        }
        for ack in acks {
            match ack.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => return Err(PublishError::NotAcknowledged(e)),
                Err(_) => return Err(PublishError::Closed),
            }
        }
        Ok(())
    }

    /// Whether the broker answers a metadata request within `timeout`.
    pub async fn reachable(&self, timeout: Duration) -> bool {
        let producer = self.inner.clone();
        tokio::task::spawn_blocking(move || producer.client().fetch_metadata(None, timeout).is_ok())
            .await
            .unwrap_or(false)
    }

    /// Waits up to `timeout` for queued records to be delivered.
    pub async fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        let producer = self.inner.clone();
        tokio::task::spawn_blocking(move || producer.flush(timeout))
            .await
            .unwrap_or(Err(KafkaError::Canceled))
    }
}
