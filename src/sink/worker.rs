//! One pipeline's consumer loop: read records, batch, insert, then commit.
//!
//! ```text
//! loop: record → Batch::push ──(full or old)──▶ insert every chunk (retry with backoff)
//!                                                └─ all succeeded ─▶ commit offsets
//! ```
//! A record that is not a downpour record of this stream is counted and
//! skipped (it can never become a row); the dead-letter topic is future work.

use std::time::Duration;

use rdkafka::Message;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::bus::consumer::Consumer;
use crate::bus::record;
use crate::pipeline::Pipeline;
use crate::sink::batch::Batch;
use crate::sink::clickhouse;

/// Longest wait between INSERT retries.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Runs until `shutdown` turns true; flushes and commits what it holds first.
pub async fn run(
    pipeline: Pipeline,
    mut consumer: Consumer,
    db: ::clickhouse::Client,
    mut shutdown: watch::Receiver<bool>,
) {
    let stream = pipeline.kind.name();
    let mut batch = Batch::default();
    loop {
        // A shutdown seen inside a retry's backoff marks the change as read,
        // so `changed()` below would never fire for it: check the value too.
        if *shutdown.borrow() {
            break;
        }
        let deadline = batch.deadline(&pipeline.batch).map(Instant::from_std);
        tokio::select! {
            _ = shutdown.changed() => break,
            _ = sleep_until(deadline) => {
                if !flush(&pipeline, &mut batch, &mut consumer, &db, &mut shutdown).await { return; }
            }
            message = consumer.next() => {
                match message {
                    Ok(message) => {
                        let payload = message.payload().unwrap_or_default();
                        match record::parse(payload, pipeline.kind) {
                            Ok(view) => batch.push(message.key().unwrap_or_default(), view.body, view.rows),
                            Err(e) => {
                                metrics::counter!("downpour_consumer_skipped_records_total", "stream" => stream).increment(1);
                                tracing::warn!(stream, partition = message.partition(), offset = message.offset(), error = %e, "skipping record");
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(stream, error = %e, "kafka receive");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
                if batch.is_full(&pipeline.batch) && !flush(&pipeline, &mut batch, &mut consumer, &db, &mut shutdown).await {
                    return;
                }
            }
        }
    }
    flush(&pipeline, &mut batch, &mut consumer, &db, &mut shutdown).await;
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Inserts the batch and commits. Returns false if it gave up because of
/// shutdown (nothing committed then; the records will be delivered again).
async fn flush(
    pipeline: &Pipeline,
    batch: &mut Batch,
    consumer: &mut Consumer,
    db: &::clickhouse::Client,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    let stream = pipeline.kind.name();
    let rows = batch.rows();
    let (chunks, activity) = batch.drain(&pipeline.batch);
    for chunk in &chunks {
        let write = || clickhouse::insert(db, &pipeline.table, pipeline.kind, chunk);
        if !retry(stream, "insert", write, consumer, shutdown).await {
            return false;
        }
    }
    let write = || clickhouse::record_activity(db, stream, &activity);
    if !retry(stream, "activity", write, consumer, shutdown).await {
        return false;
    }
    metrics::counter!("downpour_consumer_rows_total", "stream" => stream).increment(rows as u64);
    if let Err(e) = consumer.commit() {
        // The rows are in; a redelivery after this collapses in the views.
        tracing::warn!(stream, error = %e, "offset commit failed");
        consumer.forget_pending();
    }
    true
}

/// Runs `write` until it succeeds (backoff doubling to [`MAX_BACKOFF`]).
/// Returns false if shutdown came first; pending offsets are then forgotten.
async fn retry<F, Fut>(
    stream: &'static str,
    what: &'static str,
    write: F,
    consumer: &mut Consumer,
    shutdown: &mut watch::Receiver<bool>,
) -> bool
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), ::clickhouse::error::Error>>,
{
    let mut backoff = Duration::from_millis(100);
    loop {
        let started = std::time::Instant::now();
        match write().await {
            Ok(()) => {
                metrics::histogram!("downpour_consumer_write_seconds", "stream" => stream, "what" => what)
                    .record(started.elapsed().as_secs_f64());
                return true;
            }
            Err(e) => {
                metrics::counter!("downpour_consumer_write_errors_total", "stream" => stream, "what" => what).increment(1);
                tracing::warn!(stream, what, error = %e, retry_in = ?backoff, "ClickHouse write failed");
                if *shutdown.borrow() {
                    consumer.forget_pending();
                    return false;
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.changed() => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}
