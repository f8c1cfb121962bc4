//! One pipeline's consumer loop: read records, batch, flush, then commit.
//!
//! ```text
//! loop: record ─▶ header + layout check ─ok─▶ Batch::push
//!                                       └─no─▶ Batch::push_dead (reason `undecodable`)
//!       batch due (Pace: age, INSERT budget, slow-down) or full ─▶ Flush::run
//!                                       └─ Ok ─▶ commit offsets
//! ```
//!
//! Before it joins, the worker finds its pipeline's current group epoch
//! (`src/bus/group.rs`). Every second the stall watchdog
//! (`src/sink/watchdog.rs`) looks at the member's assignment and lag: it
//! keeps the worker's readiness check current, and a member without
//! progress for longer than `consumer.stall_timeout_ms` is replaced by a
//! fresh one, or, when its predecessor was never assigned either, moved to
//! the next group (its uncommitted batch dropped either way: those records
//! come again and collapse by id).
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
use crate::config::{ConsumerConfig, KafkaConfig};
use crate::control::ops::Check;
use crate::pipeline::{Pipeline, StreamKind};
use crate::sink::backoff::Backoff;
use crate::sink::batch::Batch;
use crate::sink::clickhouse::RowInserter;
use crate::sink::flush::Flush;
use crate::sink::layout;
use crate::sink::pace::Pace;
use crate::sink::partitioning::Partitioning;
use crate::sink::shards::Targets;
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
    /// What its group member is made from.
    pub member: Member,
    /// ClickHouse (downpour's database), for the table's partition key.
    pub db: ::clickhouse::Client,
    /// Where rows are written: one server, or a cluster's shards.
    pub targets: std::sync::Arc<Targets>,
    /// Whether the schema is the cluster form (`clickhouse.cluster`): rows
    /// go to `<table>_local`.
    pub cluster: bool,
    /// The dead-letter producer.
    pub dead_letters: DeadLetters,
    /// Pacing and retry settings.
    pub cfg: ConsumerConfig,
    /// Its readiness check (`consumer <pipeline>`): held true while the
    /// member is assigned and progressing.
    pub ready: Check,
}

/// A pipeline's group member settings.
#[derive(Debug, Clone)]
pub struct Member {
    /// Kafka settings.
    pub kafka: KafkaConfig,
    /// The group's base id (`<kafka.group_prefix>-<pipeline>`; epochs add a suffix).
    pub group_base: String,
    /// The topic read.
    pub topic: String,
    /// The member's group instance id (static membership), if any.
    pub instance: Option<String>,
}

/// Runs until `shutdown` turns true; flushes and commits what it holds first.
pub async fn run(worker: Worker, mut shutdown: watch::Receiver<bool>) {
    let Worker {
        pipeline,
        member,
        db,
        targets,
        cluster,
        dead_letters,
        cfg,
        ready,
    } = worker;
    let stream = pipeline.kind.name();
    let Some(mut epoch) = first_epoch(&member, &mut shutdown).await else {
        return;
    };
    let group = crate::bus::group::name(&member.group_base, epoch);
    let mut consumer = match Consumer::new(
        &member.kafka,
        &group,
        &member.topic,
        member.instance.as_deref(),
    ) {
        Ok(consumer) => consumer,
        Err(e) => {
            tracing::error!(stream, error = %e, "consumer cannot be created; this pipeline stops");
            return;
        }
    };
    tracing::info!(stream, group, "consumer joining");
    let newer = watch_epoch(member.clone(), epoch, shutdown.clone());
    let catalog = db;
    let written = match cluster {
        true => format!("{}_local", pipeline.table),
        false => pipeline.table.clone(),
    };
    let partitioning = Partitioning::of(&catalog, &written).await;
    tracing::info!(
        stream,
        table = pipeline.table,
        ?partitioning,
        "table partitioning"
    );
    let mut policy = partitioning.policy(&pipeline.batch);
    let mut state = State {
        shards: targets.len(),
        writer: RowInserter::new(targets, &pipeline.table, pipeline.kind, cluster),
        dead_letters: dead_letters.for_origin(consumer.topic()),
        pace: Pace::new(&cfg),
        projects_per_insert: policy.max_projects_per_insert,
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
        let full = state.pace.is_full(&batch, &policy);
        let deadline = state.pace.deadline(&batch, &policy).map(Instant::from_std);
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
                let (seen, elsewhere) = observe(&consumer, full, lag_every);
                dog.elsewhere(now, &elsewhere);
                let verdict = dog.tick(now, seen);
                let since = dog.since_progress(now);
                Gauge::consumer_seconds_since_progress(stream, consumer.topic().to_owned()).set(since.as_secs_f64());
                if ready.set(verdict == Verdict::Ready) != (verdict == Verdict::Ready) {
                    tracing::info!(stream, ready = verdict == Verdict::Ready, assigned = seen.assigned,
                        lag = ?seen.lag, since_progress_s = since.as_secs(), "consumer readiness changed");
                }
                // Another process moved the pipeline on: follow it (else both
                // groups would read every partition).
                let latest = *newer.borrow();
                if latest > epoch || matches!(verdict, Verdict::Recreate | Verdict::Regroup) {
                    tracing::warn!(stream, assigned = seen.assigned, lag = ?seen.lag,
                        since_progress_s = since.as_secs(), group = consumer.group(), ?verdict, latest,
                        "consumer stalled or its group moved: recreating its group member, dropping its uncommitted batch");
                    ready.set(false);
                    lag.abort();
                    if !matches!(verdict, Verdict::Recreate | Verdict::Regroup) {
                        // A member that is not stalled, following a move: what
                        // it holds is inserted and committed first.
                        if !state.flush(&pipeline, &mut batch, &mut consumer, &mut shutdown).await {
                            return;
                        }
                    }
                    // Never committed: these records come again.
                    batch = Batch::default();
                    let moved = if latest > epoch {
                        Some(latest)
                    } else if verdict == Verdict::Regroup {
                        advance(&member, epoch).await
                    } else {
                        None
                    };
                    let renewed = match moved {
                        Some(next) => {
                            epoch = next;
                            Counter::consumer_regrouped(stream, consumer.topic().to_owned()).increment(1);
                            let group = crate::bus::group::name(&member.group_base, next);
                            consumer.regroup(group, CLOSE_TIMEOUT).await
                        }
                        None => consumer.renew(CLOSE_TIMEOUT).await,
                    };
                    consumer = match renewed {
                        Ok(fresh) => fresh,
                        Err(e) => {
                            tracing::error!(stream, error = %e, "consumer cannot be recreated; this pipeline stops");
                            ready.set(false);
                            return;
                        }
                    };
                    Counter::consumer_recreated(stream, consumer.topic().to_owned()).increment(1);
                    tracing::warn!(stream, "consumer recreated");
                    // The table may have been migrated meanwhile (sql/0013).
                    policy = Partitioning::of(&catalog, &written).await.policy(&pipeline.batch);
                    state.projects_per_insert = policy.max_projects_per_insert;
                    lag = consumer.watch_lag(lag_every, shutdown.clone());
                    let now = std::time::Instant::now();
                    dog = if moved.is_some() { Watchdog::new(stall, now) } else { dog.renewed(now) };
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

/// The pipeline's current group epoch, asked of the broker until it answers
/// (`None`: shut down first).
async fn first_epoch(member: &Member, shutdown: &mut watch::Receiver<bool>) -> Option<u32> {
    let mut wait = Duration::from_millis(500);
    loop {
        let m = member.clone();
        let found = tokio::task::spawn_blocking(move || {
            crate::bus::group::discover(
                &m.kafka,
                &m.group_base,
                &m.topic,
                0,
                crate::bus::group::GAP,
            )
        })
        .await;
        match found {
            Ok(Ok(epoch)) => return Some(epoch),
            Ok(Err(e)) => tracing::warn!(topic = %member.topic, error = %e, "consumer group epoch"),
            Err(e) => {
                tracing::warn!(topic = %member.topic, error = %e, "consumer group epoch task")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.wait_for(|s| *s) => return None,
        }
        wait = (wait * 2).min(Duration::from_secs(10));
    }
}

/// How often a worker asks whether another process moved its pipeline's group.
const FOLLOW_EVERY: Duration = Duration::from_secs(60);

/// The highest epoch of the pipeline's group, probed every [`FOLLOW_EVERY`]
/// from `start` on (probe failures keep the last answer).
fn watch_epoch(
    member: Member,
    start: u32,
    mut shutdown: watch::Receiver<bool>,
) -> watch::Receiver<u32> {
    let (tx, rx) = watch::channel(start);
    tokio::spawn(async move {
        let mut known = start;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(FOLLOW_EVERY) => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
            let m = member.clone();
            let found = tokio::task::spawn_blocking(move || {
                crate::bus::group::discover(&m.kafka, &m.group_base, &m.topic, known, 1)
            })
            .await;
            if let Ok(Ok(epoch)) = found {
                known = epoch;
                if tx.send(epoch).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

/// Moves the pipeline past `epoch` (`None`: the move failed; the member is
/// recreated in its group and the watchdog asks again a bound later).
async fn advance(member: &Member, epoch: u32) -> Option<u32> {
    let m = member.clone();
    let moved = tokio::task::spawn_blocking(move || {
        crate::bus::group::advance(&m.kafka, &m.group_base, &m.topic, epoch)
    })
    .await;
    match moved {
        Ok(Ok(next)) => Some(next),
        Ok(Err(e)) => {
            tracing::error!(topic = %member.topic, error = %e, "consumer group move failed");
            None
        }
        Err(e) => {
            tracing::error!(topic = %member.topic, error = %e, "consumer group move task");
            None
        }
    }
}

/// What the watchdog needs from the member: its assignment and its lag,
/// and the partitions it does not hold on which records wait, with their
/// committed offsets.
fn observe(
    consumer: &Consumer,
    holding: bool,
    lag_every: Duration,
) -> (Observation, Vec<(i32, i64)>) {
    let assigned = consumer.assigned();
    let mut elsewhere = Vec::new();
    // What other members hold is judged only on a recent probe, by an
    // assigned member: a probe that stopped answering (the broker down)
    // shows commits standing still that are not.
    let recent = consumer
        .lag_view()
        .is_some_and(|(at, _)| at.elapsed() <= lag_every.saturating_mul(3));
    let lag = consumer.lag_view().map(|(_, partitions)| {
        let mut view = LagView::default();
        for p in &partitions {
            view.topic += p.lag;
            view.committed += p.committed;
            if assigned.contains(&p.partition) {
                view.own += p.lag;
            } else if p.lag > 0 && recent && !assigned.is_empty() {
                elsewhere.push((p.partition, p.committed));
            }
        }
        view
    });
    let seen = Observation {
        assigned: !assigned.is_empty(),
        lag,
        holding,
    };
    (seen, elsewhere)
}

/// Adds a record to the batch, or holds it for the dead-letter topic.
fn read(kind: StreamKind, batch: &mut Batch, message: &BorrowedMessage<'_>, credit: Duration) {
    let value = message.payload().unwrap_or_default();
    // A hot project's records carry a spread suffix (`org/project#n`,
    // src/edge/hot.rs): grouped and checked as `org/project`.
    let raw_key = message.key().unwrap_or_default();
    let key = layout::project_key(raw_key);
    // A record of an older format version (an edge not yet upgraded) is
    // checked in its own layout and its rows completed to today's.
    let checked = record::parse(value, kind)
        .map_err(|e| e.to_string())
        .and_then(|view| {
            layout::upgrade(kind, view.version, view.body, view.rows, key)
                .map(|rows| (view.rows, rows))
                .map_err(|e| e.to_string())
        });
    match checked {
        Ok((rows, body)) => {
            batch.push(raw_key, message.partition(), message.offset(), &body, rows);
            if let Some(since) = published_at(message, credit) {
                batch.opened_no_later_than(since);
            }
        }
        Err(why) => batch.push_dead(DeadRecord {
            partition: message.partition(),
            offset: message.offset(),
            key: raw_key.to_vec(),
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
    /// Projects one INSERT may carry (`Partitioning::policy`).
    projects_per_insert: usize,
    /// Shards the rows are spread over (1: one server).
    shards: usize,
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
        let (chunks, dead) = batch.drain(self.projects_per_insert, self.shards);
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
        self.pace.flushed(started, done.most_on_one_shard);
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
