//! One pipeline's consumer loop: read records, batch, flush, then commit.
//!
//! ```text
//! loop: record ─▶ header + layout check ─ok─▶ Batch::push
//!                                       └─no─▶ Batch::push_dead (reason `undecodable`)
//!       batch due (Pace: age, INSERT budget, slow-down) or full ─▶ Flush::run
//!                                       └─ Ok ─▶ commit offsets
//! ```
//!
//! Every second the stall watchdog (`src/sink/watchdog.rs`) looks at the
//! member's assignment and lag: it keeps the worker's readiness check
//! current, and a member without progress for longer than
//! `consumer.stall_timeout_ms` is replaced by a fresh one (its uncommitted
//! batch dropped: those records come again and collapse by id).
//!
//! Invariants: offsets are committed only after every record handed out is
//! in ClickHouse or acknowledged on the dead-letter topic; a full batch is
//! never read past (memory stays bounded by the batch's byte bound); a
//! shutdown during a retry commits nothing; a recreated member commits
//! nothing of its predecessor's.

use std::time::Duration;

use rdkafka::Message;
use rdkafka::message::BorrowedMessage;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::bus::consumer::Consumer;
use crate::bus::dead_letter::{DeadLetters, DeadRecord, Reason};
use crate::bus::record;
use crate::config::ConsumerConfig;
use crate::control::ops::Check;
use crate::pipeline::{Pipeline, StreamKind};
use crate::sink::backoff::Backoff;
use crate::sink::batch::Batch;
use crate::sink::clickhouse::RowInserter;
use crate::sink::flush::Flush;
use crate::sink::layout;
use crate::sink::pace::Pace;
use crate::sink::watchdog::{LagView, Observation, Verdict, Watchdog};
use crate::telemetry::catalogue::{Counter, Gauge};

/// How often the watchdog looks.
const WATCH_EVERY: Duration = Duration::from_secs(1);
/// How long dropping a stalled member (closing its client) may take before
/// its replacement is created anyway.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// A pipeline's consumer and where it writes.
pub struct Worker {
    /// The stream.
    pub pipeline: Pipeline,
    /// Its group member.
    pub consumer: Consumer,
    /// ClickHouse (downpour's database).
    pub db: ::clickhouse::Client,
    /// The dead-letter producer.
    pub dead_letters: DeadLetters,
    /// Pacing and retry settings.
    pub cfg: ConsumerConfig,
    /// Its readiness check (`consumer <pipeline>`): held true while the
    /// member is assigned and progressing.
    pub ready: Check,
}

/// Runs until `shutdown` turns true; flushes and commits what it holds first.
pub async fn run(worker: Worker, mut shutdown: watch::Receiver<bool>) {
    let Worker {
        pipeline,
        mut consumer,
        db,
        dead_letters,
        cfg,
        ready,
    } = worker;
    let stream = pipeline.kind.name();
    let mut state = State {
        writer: RowInserter::new(db, &pipeline.table, pipeline.kind),
        dead_letters: dead_letters.for_origin(consumer.topic()),
        pace: Pace::new(&cfg),
        backoff: Backoff::new(
            Duration::from_millis(cfg.retry_initial_ms.max(1)),
            Duration::from_millis(cfg.retry_max_ms.max(1)),
        ),
    };
    let lag_every = Duration::from_millis(cfg.lag_interval_ms.max(100));
    let stall = Duration::from_millis(cfg.stall_timeout_ms.max(1_000));
    let mut lag = consumer.watch_lag(lag_every, shutdown.clone());
    let mut dog = Watchdog::new(stall, std::time::Instant::now());
    let mut look = tokio::time::interval(WATCH_EVERY);
    look.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut batch = Batch::default();
    loop {
        // A shutdown seen inside a retry's backoff marks the change as read,
        // so `changed()` below would never fire for it: check the value too.
        if *shutdown.borrow() {
            break;
        }
        let full = state.pace.is_full(&batch, &pipeline.batch);
        let deadline = state
            .pace
            .deadline(&batch, &pipeline.batch)
            .map(Instant::from_std);
        tokio::select! {
            _ = shutdown.changed() => break,
            _ = sleep_until(deadline) => {
                if !state.flush(&pipeline, &mut batch, &mut consumer, &mut shutdown).await {
                    lag.abort();
                    return;
                }
                dog.progress(std::time::Instant::now());
            }
            _ = look.tick() => {
                let now = std::time::Instant::now();
                let seen = observe(&consumer, full);
                let verdict = dog.tick(now, seen);
                let since = dog.since_progress(now);
                Gauge::consumer_seconds_since_progress(stream, consumer.topic().to_owned()).set(since.as_secs_f64());
                if ready.set(verdict == Verdict::Ready) != (verdict == Verdict::Ready) {
                    tracing::info!(stream, ready = verdict == Verdict::Ready, assigned = seen.assigned,
                        lag = ?seen.lag, since_progress_s = since.as_secs(), "consumer readiness changed");
                }
                if verdict == Verdict::Recreate {
                    tracing::warn!(stream, assigned = seen.assigned, lag = ?seen.lag,
                        since_progress_s = since.as_secs(),
                        "consumer stalled: recreating its group member, dropping its uncommitted batch");
                    lag.abort();
                    // Never committed: these records come again.
                    batch = Batch::default();
                    consumer = match consumer.renew(CLOSE_TIMEOUT).await {
                        Ok(fresh) => fresh,
                        Err(e) => {
                            tracing::error!(stream, error = %e, "consumer cannot be recreated; this pipeline stops");
                            ready.set(false);
                            return;
                        }
                    };
                    Counter::consumer_recreated(stream, consumer.topic().to_owned()).increment(1);
                    tracing::warn!(stream, "consumer recreated");
                    lag = consumer.watch_lag(lag_every, shutdown.clone());
                    dog = Watchdog::new(stall, std::time::Instant::now());
                }
            }
            message = consumer.next(), if !full => match message {
                Ok(message) => {
                    dog.progress(std::time::Instant::now());
                    // Under pressure the stretched age must hold: no credit.
                    let credit = if state.pace.slowdown() > 1 {
                        Duration::ZERO
                    } else {
                        pipeline.batch.max_age()
                    };
                    read(pipeline.kind, &mut batch, &message, credit)
                }
                Err(e) => {
                    tracing::warn!(stream = pipeline.kind.name(), error = %e, "kafka receive");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            },
        }
    }
    state
        .flush(&pipeline, &mut batch, &mut consumer, &mut shutdown)
        .await;
    lag.abort();
}

/// What the watchdog needs from the member: its assignment and its lag.
fn observe(consumer: &Consumer, holding: bool) -> Observation {
    let assigned = consumer.assigned();
    let lag = consumer.lag_view().map(|partitions| {
        let mut view = LagView::default();
        for p in &partitions {
            view.topic += p.lag;
            view.committed += p.committed;
            if assigned.contains(&p.partition) {
                view.own += p.lag;
            }
        }
        view
    });
    Observation {
        assigned: !assigned.is_empty(),
        lag,
        holding,
    }
}

/// Adds a record to the batch, or holds it for the dead-letter topic.
fn read(kind: StreamKind, batch: &mut Batch, message: &BorrowedMessage<'_>, credit: Duration) {
    let value = message.payload().unwrap_or_default();
    let key = message.key().unwrap_or_default();
    let checked = record::parse(value, kind)
        .map_err(|e| e.to_string())
        .and_then(|view| {
            layout::check(kind, view.body, view.rows, key)
                .map(|()| view)
                .map_err(|e| e.to_string())
        });
    match checked {
        Ok(view) => {
            batch.push(
                key,
                message.partition(),
                message.offset(),
                view.body,
                view.rows,
            );
            if let Some(since) = published_at(message, credit) {
                batch.opened_no_later_than(since);
            }
        }
        Err(why) => batch.push_dead(DeadRecord {
            partition: message.partition(),
            offset: message.offset(),
            key: key.to_vec(),
            value: value.to_vec(),
            reason: Reason::undecodable(why),
        }),
    }
}

/// When the edge published `message` (its Kafka timestamp), as an instant
/// of this process, at most `credit` ago (the batch's age bound, so a
/// backlog or a skewed clock makes a batch due no sooner than one that
/// filled for a whole age; none while the consumer is slowed down); `None`
/// without a timestamp or for one in the future.
fn published_at(message: &BorrowedMessage<'_>, credit: Duration) -> Option<std::time::Instant> {
    let published_ms = u64::try_from(message.timestamp().to_millis()?).ok()?;
    let now_ms = u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_millis(),
    )
    .ok()?;
    let waited = Duration::from_millis(now_ms.checked_sub(published_ms)?).min(credit);
    std::time::Instant::now().checked_sub(waited)
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// What a worker keeps between flushes.
struct State {
    writer: RowInserter,
    dead_letters: DeadLetters,
    pace: Pace,
    backoff: Backoff,
}

impl State {
    /// Flushes the batch and commits. Returns false if it gave up because of
    /// shutdown (nothing committed then; the records will be delivered again).
    async fn flush(
        &mut self,
        pipeline: &Pipeline,
        batch: &mut Batch,
        consumer: &mut Consumer,
        shutdown: &mut watch::Receiver<bool>,
    ) -> bool {
        if batch.is_empty() {
            return true;
        }
        let stream = pipeline.kind.name();
        let topic = consumer.topic().to_owned();
        let started = std::time::Instant::now();
        let (chunks, dead) = batch.drain(pipeline.batch.max_projects_per_insert);
        let mut flush = Flush {
            stream,
            topic: &topic,
            kind: pipeline.kind,
            writer: &self.writer,
            dead_letters: &self.dead_letters,
            pace: &mut self.pace,
            backoff: &mut self.backoff,
            shutdown,
        };
        let Ok(done) = flush.run(chunks, dead).await else {
            consumer.forget_pending();
            return false;
        };
        self.pace.flushed(started, done.inserts);
        Gauge::consumer_slowdown(stream, topic.clone()).set(self.pace.slowdown());
        Counter::consumer_rows(stream, topic).increment(done.rows);
        if let Err(e) = consumer.commit() {
            // The rows are in; a redelivery after this collapses in the views.
            tracing::warn!(stream, error = %e, "offset commit failed");
            consumer.forget_pending();
        }
        true
    }
}
