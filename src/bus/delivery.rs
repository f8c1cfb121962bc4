//! One librdkafka producer whose delivery reports are served on the tokio
//! runtime, and the acks a request waits for (the edge's producer and the
//! consumer's dead-letter producer).
//!
//! Why not rust-rdkafka's `FutureProducer`: it serves delivery reports on a
//! thread of its own, so each ack crossed two threads (librdkafka's broker
//! thread wakes the polling thread, which wakes a tokio worker), and on
//! these VMs a thread switch costs more than a small request's own work
//! (docs/PERFORMANCE.md, "Small requests"); and its polling loop spins
//! through the last millisecond of each 100 ms wait (a timeout under 1 ms
//! is rounded to 0), about 9 ms of CPU per second of an idle process. Here
//! librdkafka calls [`reports_waiting`] from its broker thread when its reply queue turns
//! non-empty; that wakes one task on the runtime, which serves every waiting
//! report and wakes the requests they complete on its own worker.
//!
//! Invariants: the reply queue is drained to empty after each wake-up (the
//! callback fires only on an empty → non-empty transition, so a report left
//! behind would never be served); the callback's pointer stays valid while
//! librdkafka may call it (it is switched off before the queue reference and
//! the client are dropped, and the `Notify` it points to is held by the
//! client's context); a request's acks complete once, with the first
//! failure or after its last record.

use std::ffi::c_void;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use rdkafka::bindings as rdsys;
use rdkafka::error::KafkaError;
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer as _, ProducerContext};
use rdkafka::{ClientConfig, ClientContext};
use tokio::sync::{Notify, oneshot};

/// Reports served per wake-up before the task yields to others.
const REPORTS_PER_TURN: usize = 4096;

/// A librdkafka producer and the task serving its delivery reports.
pub struct Instance {
    /// librdkafka's reply queue (a reference of ours), for its length.
    queue: ReplyQueue,
    /// Shared only so that `drop` can hand the last reference to the
    /// blocking pool: destroying a client flushes and joins its threads.
    producer: Arc<BaseProducer<Acker>>,
}

/// A reference to the producer's reply queue.
struct ReplyQueue(*mut rdsys::rd_kafka_queue_t);

// SAFETY: librdkafka queue handles may be used from any thread; this one is
// only read for its length and released once, in `Instance::drop`.
unsafe impl Send for ReplyQueue {}
// SAFETY: as above; `rd_kafka_queue_length` takes the queue's own lock.
unsafe impl Sync for ReplyQueue {}

/// The producer's context: completes acks, and holds the `Notify` the
/// reply queue's callback points to.
pub struct Acker {
    reports: Arc<Notify>,
}

impl ClientContext for Acker {}

impl ProducerContext for Acker {
    type DeliveryOpaque = Arc<Acks>;

    fn delivery(&self, result: &DeliveryResult<'_>, acks: Arc<Acks>) {
        acks.report(match result {
            Ok(_) => Ok(()),
            Err((e, _)) => Err(e.clone()),
        });
    }
}

/// One request's outstanding records.
pub struct Acks {
    remaining: AtomicUsize,
    done: Mutex<Option<oneshot::Sender<Result<(), KafkaError>>>>,
}

impl Acks {
    /// Acks for `records` records, and what completes once they are in.
    pub fn new(records: usize) -> (Arc<Acks>, oneshot::Receiver<Result<(), KafkaError>>) {
        let (done, answer) = oneshot::channel();
        let acks = Acks {
            remaining: AtomicUsize::new(records),
            done: Mutex::new(Some(done)),
        };
        (Arc::new(acks), answer)
    }

    /// One record's delivery report: the first failure completes the acks,
    /// else the last success does.
    fn report(&self, outcome: Result<(), KafkaError>) {
        let complete = outcome.is_err() || self.remaining.fetch_sub(1, Ordering::AcqRel) == 1;
        if complete {
            let done = self
                .done
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(done) = done {
                // The request may have gone (cancelled): nobody to tell.
                let _ = done.send(outcome);
            }
        }
    }
}

impl Instance {
    /// A producer from `config`, its reports served by a task spawned on the
    /// current runtime (which must exist).
    pub fn create(config: &ClientConfig) -> Result<Arc<Instance>, KafkaError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(KafkaError::ClientCreation(
                "the producer needs a tokio runtime to serve its acks".into(),
            ));
        }
        let reports = Arc::new(Notify::new());
        let producer: BaseProducer<Acker> = config.create_with_context(Acker {
            reports: reports.clone(),
        })?;
        // SAFETY: the client is alive; the reference is released in `drop`.
        let queue =
            ReplyQueue(unsafe { rdsys::rd_kafka_queue_get_main(producer.client().native_ptr()) });
        let instance = Arc::new(Instance {
            queue,
            producer: Arc::new(producer),
        });
        // SAFETY: the opaque points into the `Notify` that the client's
        // context holds (it outlives the client's threads, which are the
        // callback's callers) and the callback is switched off in `drop`.
        unsafe {
            rdsys::rd_kafka_queue_cb_event_enable(
                instance.queue.0,
                Some(reports_waiting),
                Arc::as_ptr(&reports) as *mut c_void,
            );
        }
        // What reached the queue before the callback was on (a connection
        // error, say) fired nothing: the task's first turn serves it.
        reports.notify_one();
        tokio::spawn(serve_reports(Arc::downgrade(&instance), reports));
        Ok(instance)
    }

    /// The librdkafka producer.
    pub fn producer(&self) -> &BaseProducer<Acker> {
        &self.producer
    }

    /// Hands one record (with `headers`, if any) to librdkafka; its report
    /// goes to `acks`.
    #[allow(clippy::result_large_err)]
    pub fn send(
        &self,
        topic: &str,
        key: &[u8],
        value: &[u8],
        headers: Option<OwnedHeaders>,
        acks: Arc<Acks>,
    ) -> Result<(), KafkaError> {
        let mut record = BaseRecord::with_opaque_to(topic, acks)
            .key(key)
            .payload(value);
        if let Some(headers) = headers {
            record = record.headers(headers);
        }
        self.producer.send(record).map_err(|(e, _)| e)
    }

    /// Sends one record with `headers` and waits for its report.
    pub async fn send_one(
        &self,
        topic: &str,
        key: &[u8],
        value: &[u8],
        headers: OwnedHeaders,
    ) -> Result<(), KafkaError> {
        let (acks, answer) = Acks::new(1);
        self.send(topic, key, value, Some(headers), acks)?;
        answer.await.unwrap_or(Err(KafkaError::Canceled))
    }

    /// Serves waiting delivery reports until the reply queue is empty or
    /// the turn's share is used; true when reports may remain.
    fn serve(&self) -> bool {
        for _ in 0..REPORTS_PER_TURN {
            // SAFETY: the queue reference lives as long as `self`.
            if unsafe { rdsys::rd_kafka_queue_length(self.queue.0) } == 0 {
                return false;
            }
            self.producer.poll(Duration::ZERO);
        }
        true
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        // SAFETY: the queue reference is ours and released once, here,
        // after its callback is switched off; the client (a field dropped
        // after this) is still alive.
        unsafe {
            rdsys::rd_kafka_queue_cb_event_enable(self.queue.0, None, std::ptr::null_mut());
            rdsys::rd_kafka_queue_destroy(self.queue.0);
        }
        // Tells the reports task that its instance is gone.
        self.producer.context().reports.notify_one();
        // rd_kafka_destroy may wait (a flush, its threads joined): not on a
        // worker of the runtime, whose other requests would wait with it.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let producer = self.producer.clone();
            runtime.spawn_blocking(move || drop(producer));
        }
    }
}

/// Called by librdkafka (a thread of its own) when the reply queue turns
/// non-empty: wakes [`serve_reports`].
unsafe extern "C" fn reports_waiting(_client: *mut rdsys::rd_kafka_t, opaque: *mut c_void) {
    // SAFETY: `opaque` is the `Notify` of `Instance::create`, alive while
    // the callback is on (see there).
    let reports = unsafe { &*(opaque as *const Notify) };
    reports.notify_one();
}

/// Serves `instance`'s delivery reports as they arrive; ends with it.
async fn serve_reports(instance: Weak<Instance>, reports: Arc<Notify>) {
    loop {
        reports.notified().await;
        let Some(live) = instance.upgrade() else {
            return;
        };
        if live.serve() {
            reports.notify_one();
        }
        drop(live);
        tokio::task::yield_now().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_complete_after_the_last_record_or_the_first_failure() {
        let (acks, mut answer) = Acks::new(2);
        acks.report(Ok(()));
        assert!(answer.try_recv().is_err(), "one of two records is not all");
        acks.report(Ok(()));
        assert!(matches!(answer.try_recv(), Ok(Ok(()))));

        let (acks, mut answer) = Acks::new(3);
        acks.report(Ok(()));
        acks.report(Err(KafkaError::Canceled));
        assert!(matches!(answer.try_recv(), Ok(Err(KafkaError::Canceled))));
        acks.report(Ok(()));
    }

    #[test]
    fn a_producer_needs_a_runtime() {
        let config = ClientConfig::new();
        assert!(Instance::create(&config).is_err());
    }

    #[tokio::test]
    async fn a_record_nobody_acknowledges_completes_its_acks_with_the_timeout() {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", "127.0.0.1:1")
            .set("message.timeout.ms", "200");
        let instance = Instance::create(&config).expect("producer");
        let (acks, answer) = Acks::new(1);
        instance.send("t", b"k", b"v", None, acks).expect("queued");
        let outcome = tokio::time::timeout(Duration::from_secs(10), answer)
            .await
            .expect("the report is served on the runtime");
        assert!(matches!(outcome, Ok(Err(_))));
        let weak = Arc::downgrade(&instance);
        drop(instance);
        assert!(weak.upgrade().is_none());
    }
}
