//! Coalescing: concurrent small requests for one Kafka key share one record.
//!
//! Why: librdkafka's cost is per message (enqueue, a broker-thread wake-up,
//! a delivery report, a cross-thread wake of the waiting request), about
//! 20 µs of CPU on these machines; with one event per request that was
//! half of the edge's cost (docs/PERFORMANCE.md). Requests are merged only
//! when they are already waiting at the same time, so nothing is delayed
//! on purpose: the first request for a key opens a slot and spawns its
//! flush, which runs after one scheduler pass (`yield_now`) and publishes
//! whatever joined by then.
//!
//! Invariants:
//! - A request is answered `Ok` only when the record holding its rows was
//!   acknowledged; every request of a failed record gets the error (503).
//! - A record never exceeds [`MAX_MERGED_BYTES`]; a request that does not
//!   fit, or spans several records, is published on its own.
//! - The flush runs in its own task: a client hanging up does not strand
//!   the requests that joined its slot.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::producer::{Producer, PublishError};
use super::record;

/// Largest merged record (the size one request chunk may reach).
pub const MAX_MERGED_BYTES: usize = 512 * 1024;

type Outcome = Option<Result<(), PublishError>>;

/// A slot collecting the rows of concurrent requests for one key.
struct Open {
    record: Vec<u8>,
    rows: u32,
    requests: u32,
    done: watch::Sender<Outcome>,
}

/// What a request does after looking at its key's slot.
enum Joined {
    /// Its rows are in a slot; wait for that record's outcome.
    Waiting(watch::Receiver<Outcome>),
    /// Publish it on its own.
    Alone(Vec<u8>),
}

/// Merges concurrent single-record publishes to one topic by key.
pub struct Coalescer {
    enabled: bool,
    producer: Producer,
    topic: Arc<str>,
    slots: Arc<Mutex<HashMap<Vec<u8>, Open>>>,
}

impl Coalescer {
    /// A coalescer publishing to `topic`; when not `enabled`, every request
    /// is published on its own.
    pub fn new(producer: Producer, topic: &str, enabled: bool) -> Coalescer {
        Coalescer {
            enabled,
            producer,
            topic: topic.into(),
            slots: Arc::default(),
        }
    }

    /// Publishes `records` under `key`; returns once they are acknowledged.
    pub async fn publish(&self, key: &[u8], records: Vec<Vec<u8>>) -> Result<(), PublishError> {
        let single = match <[Vec<u8>; 1]>::try_from(records) {
            Ok([one]) if self.enabled => one,
            Ok([one]) => return self.direct(key, one).await,
            Err(records) => return self.producer.publish(&self.topic, key, &records).await,
        };
        let Some((rows, body_len)) = header(&single) else {
            return self.direct(key, single).await;
        };
        let joined = {
            let mut slots = lock(&self.slots);
            match slots.get_mut(key) {
                Some(open) if open.record.len() + body_len <= MAX_MERGED_BYTES => {
                    open.record.extend_from_slice(&single[record::HEADER_LEN..]);
                    open.rows += rows;
                    open.requests += 1;
                    Joined::Waiting(open.done.subscribe())
                }
                // The open slot is full: this request goes alone.
                Some(_) => Joined::Alone(single),
                None => {
                    let (tx, rx) = watch::channel(None);
                    slots.insert(
                        key.to_vec(),
                        Open {
                            record: single,
                            rows,
                            requests: 1,
                            done: tx,
                        },
                    );
                    tokio::spawn(flush(
                        self.producer.clone(),
                        self.topic.clone(),
                        self.slots.clone(),
                        key.to_vec(),
                    ));
                    Joined::Waiting(rx)
                }
            }
        };
        let mut done = match joined {
            Joined::Waiting(rx) => rx,
            Joined::Alone(record) => return self.direct(key, record).await,
        };
        match done.wait_for(Option::is_some).await {
            Ok(outcome) => outcome.clone().unwrap_or(Err(PublishError::Closed)),
            Err(_) => Err(PublishError::Closed),
        }
    }

    async fn direct(&self, key: &[u8], record: Vec<u8>) -> Result<(), PublishError> {
        self.producer.publish(&self.topic, key, &[record]).await
    }
}

/// The slots, even if a panic elsewhere poisoned the lock: every critical
/// section leaves the map consistent (an insert, an append, a remove).
fn lock(
    slots: &Mutex<HashMap<Vec<u8>, Open>>,
) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, Open>> {
    slots
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Rows and body length of a record made by `validate`.
fn header(value: &[u8]) -> Option<(u32, usize)> {
    let count = value.get(3..record::HEADER_LEN)?;
    let rows = u32::from_le_bytes(count.try_into().ok()?);
    Some((rows, value.len() - record::HEADER_LEN))
}

/// Publishes what joined `key`'s slot after one scheduler pass.
async fn flush(
    producer: Producer,
    topic: Arc<str>,
    slots: Arc<Mutex<HashMap<Vec<u8>, Open>>>,
    key: Vec<u8>,
) {
    tokio::task::yield_now().await;
    let Some(mut open) = lock(&slots).remove(&key) else {
        return;
    };
    record::finish(&mut open.record, open.rows);
    metrics::histogram!("downpour_producer_requests_per_record").record(f64::from(open.requests));
    let outcome = producer.publish(&topic, &key, &[open.record]).await;
    // Nobody listening (every client hung up) is fine: the record was sent.
    let _ = open.done.send(Some(outcome));
}
