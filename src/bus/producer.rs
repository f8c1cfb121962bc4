//! The edge's producer: publish a request's records and wait for their acks.
//!
//! librdkafka batches records of concurrent requests into shared broker
//! requests (`linger.ms`), compresses them (lz4), and retries (a retried
//! record may be stored twice; rows carry ids, so readers see it once).
//! Its queue is bounded (`queue.buffering.max.kbytes`); a full queue is an
//! immediate error, which the edge answers with 503, so a stalled broker
//! bounds the edge's memory instead of growing it. Acks come back through
//! [`super::delivery`]: delivery reports are served on the runtime, and a
//! request's records share one ack state.
//!
//! Idempotence is off by default (`kafka.idempotence`): against tansu 0.6 an
//! idempotent producer that outlives a broker restart makes tansu's sqlite
//! storage panic (scripts/chaos.sh, broker fault). When it is on, a producer
//! can be left unusable: after a broker stall
//! (records timed out in flight), tansu answers every later record of the
//! producer with `ProducerFenced`, and librdkafka has fatal errors of its
//! own. Either way the producer is replaced, so ingest resumes by itself;
//! records of the dead instance were never acknowledged, and their requests
//! got 503.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::Producer as _;

use super::delivery::{Acks, Instance};

use crate::config::KafkaConfig;
use crate::telemetry::catalogue::Counter;

/// Largest record the producer sends (one request chunk, see `validate`).
pub const MAX_RECORD_BYTES: usize = 4 * 1024 * 1024;

/// One request's records: topic, key and values.
pub type Request<'a> = (&'a str, &'a [u8], &'a [Vec<u8>]);

/// Why records were not acknowledged.
#[derive(Debug, thiserror::Error)]
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
    inner: Arc<RwLock<Current>>,
    cfg: KafkaConfig,
}

/// The librdkafka producer in use, and how many were replaced before it.
struct Current {
    generation: u64,
    producer: Arc<Instance>,
}

impl Producer {
    /// A producer with acks=all and lz4.
    pub fn new(cfg: &KafkaConfig) -> Result<Producer, KafkaError> {
        Ok(Producer {
            inner: Arc::new(RwLock::new(Current {
                generation: 0,
                producer: create(cfg)?,
            })),
            cfg: cfg.clone(),
        })
    }

    /// Publishes `records` under `key` and returns once all are acknowledged.
    pub async fn publish(
        &self,
        topic: &str,
        key: &[u8],
        records: &[Vec<u8>],
    ) -> Result<(), PublishError> {
        self.publish_all(&[(topic, key, records)]).await
    }

    /// Publishes several requests' records at once (the spool's forwarder:
    /// librdkafka batches them) and returns once all are acknowledged.
    pub async fn publish_all(&self, requests: &[Request<'_>]) -> Result<(), PublishError> {
        let (generation, producer) = self.current();
        let result = send(&producer, requests, self.ack_timeout()).await;
        if let Err(e) = &result {
            self.replace_if_dead(generation, &producer, e);
        }
        result
    }

    /// Whether the broker answers a metadata request within `timeout`; a
    /// producer that died while idle is replaced (and counts as not ready).
    pub async fn reachable(&self, timeout: Duration) -> bool {
        let (generation, producer) = self.current();
        if self.replace_if_dead(generation, &producer, &PublishError::Closed) {
            return false;
        }
        tokio::task::spawn_blocking(move || {
            producer
                .producer()
                .client()
                .fetch_metadata(None, timeout)
                .is_ok()
        })
        .await
        .unwrap_or(false)
    }

    /// Waits up to `timeout` for queued records to be delivered.
    pub async fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        let (_, producer) = self.current();
        tokio::task::spawn_blocking(move || producer.producer().flush(timeout))
            .await
            .unwrap_or(Err(KafkaError::Canceled))
    }

    /// Longer than librdkafka takes to report on a record (it gives up at
    /// `message.timeout.ms`): only a report task that stopped runs into it.
    fn ack_timeout(&self) -> Duration {
        Duration::from_millis(self.cfg.publish_timeout_ms.into()).saturating_add(ACK_GRACE)
    }

    /// The producer in use and its generation.
    fn current(&self) -> (u64, Arc<Instance>) {
        let current = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        (current.generation, current.producer.clone())
    }

    /// Replaces producer `generation` if it is dead: librdkafka declared a
    /// fatal error, or the broker fenced it (`error`). True when it was dead
    /// (replaced by this call or a concurrent one).
    fn replace_if_dead(&self, generation: u64, producer: &Instance, error: &PublishError) -> bool {
        let (code, reason) = match (producer.producer().client().fatal_error(), error) {
            (Some(fatal), _) => fatal,
            (None, PublishError::NotAcknowledged(e)) if fenced(e) => {
                (RDKafkaErrorCode::ProducerFenced, e.to_string())
            }
            _ => return false,
        };
        let mut current = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if current.generation != generation {
            return true;
        }
        match create(&self.cfg) {
            Ok(fresh) => {
                tracing::warn!(?code, %reason, "producer hit a fatal error; replaced it");
                Counter::producer_replaced().increment(1);
                current.generation += 1;
                current.producer = fresh;
            }
            Err(e) => {
                tracing::error!(error = %e, "producer hit a fatal error and could not be replaced")
            }
        }
        true
    }
}

/// Errors after which the broker refuses this producer id's records for good.
fn fenced(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::ProducerFenced
                | RDKafkaErrorCode::InvalidProducerEpoch
                | RDKafkaErrorCode::UnknownProducerId
                | RDKafkaErrorCode::OutOfOrderSequenceNumber
        )
    )
}

/// A librdkafka producer with acks=all and lz4.
fn create(cfg: &KafkaConfig) -> Result<Arc<Instance>, KafkaError> {
    let mut config = crate::bus::client::config(cfg);
    config
        .set("enable.idempotence", cfg.idempotence.to_string())
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
        );
    Instance::create(&config)
}

/// What a request waits beyond `message.timeout.ms` for its acks.
const ACK_GRACE: Duration = Duration::from_secs(5);

/// Sends every request's records through `producer` and waits for every ack
/// (up to `timeout`: then [`PublishError::Closed`]).
async fn send(
    producer: &Instance,
    requests: &[Request<'_>],
    timeout: Duration,
) -> Result<(), PublishError> {
    let count = requests.iter().map(|r| r.2.len()).sum();
    if count == 0 {
        return Ok(());
    }
    let (acks, answer) = Acks::new(count);
    for &(topic, key, records) in requests {
        for value in records {
            match producer.send(topic, key, value, None, acks.clone()) {
                Ok(()) => {}
                Err(KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)) => {
                    Counter::producer_queue_full().increment(1);
                    return Err(PublishError::QueueFull);
                }
                Err(e) => return Err(PublishError::NotAcknowledged(e)),
            }
        }
    }
    drop(acks);
    match tokio::time::timeout(timeout, answer).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(e))) => Err(PublishError::NotAcknowledged(e)),
        Ok(Err(_)) | Err(_) => Err(PublishError::Closed),
    }
}
