//! One flush: insert the chunks (bisecting refused ones), publish the dead
//! letters, record activity. The caller commits offsets only on `Ok`.
//!
//! ```text
//! chunk ─▶ INSERT ─ok─▶ next chunk
//!            ├─ pressure / unavailable ─▶ backoff (doubling, capped), same INSERT again
//!            └─ data ─▶ bisect by record ─▶ refused records ─▶ dead letters (acked)
//! dead letters ─▶ publish, wait for the ack (retry with backoff) ─▶ activity ─▶ Ok
//! ```
//!
//! Invariants: nothing is committed while a write fails (the flush does not
//! return `Ok`); a shutdown during a backoff returns `Err(Stopped)`, and the
//! caller forgets the pending offsets, so the records come again. Re-inserting
//! rows that a failed multi-partition INSERT had partly written (ClickHouse
//! writes one part per partition, so an error after the first part leaves
//! that part in place) duplicates them; the tables are ReplacingMergeTree
//! keyed by the row's id and readers read `FINAL` views, so a reader sees
//! each row once. Dead letters are at least once for the same reason.

use std::future::Future;
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::watch;

use crate::bus::dead_letter::{DeadLetterError, DeadLetters, DeadRecord};
use crate::pipeline::StreamKind;
use crate::sink::backoff::Backoff;
use crate::sink::batch::{Activity, Chunk};
use crate::sink::bisect;
use crate::sink::classify::{Failure, classify};
use crate::sink::pace::Pace;
use crate::telemetry::catalogue::{Counter, Gauge, Histogram};

/// Where a flush writes rows (ClickHouse; a fake in unit tests).
pub trait Writer: Sync {
    /// One INSERT of `pieces`, concatenated, into shard `shard`
    /// (`crate::sink::shards`; 0 on one server).
    fn insert(
        &self,
        shard: usize,
        pieces: Vec<Bytes>,
    ) -> impl Future<Output = Result<(), clickhouse::error::Error>> + Send;
    /// Rows written per project, for the pending panel.
    fn activity(
        &self,
        activity: &[Activity],
    ) -> impl Future<Output = Result<(), clickhouse::error::Error>> + Send;
}

/// Where a flush sends records it will never insert.
pub trait DeadLetterSink: Sync {
    /// Publishes `dead`; Ok only once the broker acknowledged it.
    fn publish(
        &self,
        dead: &DeadRecord,
    ) -> impl Future<Output = Result<(), DeadLetterError>> + Send;
}

impl DeadLetterSink for DeadLetters {
    fn publish(
        &self,
        dead: &DeadRecord,
    ) -> impl Future<Output = Result<(), DeadLetterError>> + Send {
        DeadLetters::publish(self, dead)
    }
}

/// The flush gave up because the consumer is shutting down.
#[derive(Debug, PartialEq, Eq)]
pub struct Stopped;

/// How one INSERT ended, when it ended before a shutdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    /// ClickHouse took the rows.
    Done,
    /// ClickHouse refused the data itself (retrying would not help); its text.
    Refused(String),
}

/// What a successful flush did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Flushed {
    /// INSERT statements that succeeded (bisection included).
    pub inserts: usize,
    /// The most of them one shard took (`inserts` on one server): what
    /// the INSERT budget per table counts, each shard's table being its own.
    pub most_on_one_shard: usize,
    /// Rows inserted.
    pub rows: u64,
    /// Records dead-lettered.
    pub dead: usize,
}

/// Everything one flush needs.
pub struct Flush<'a, W, D> {
    /// Stream name, for metrics and logs.
    pub stream: &'static str,
    /// The topic read (with its prefix), a label of every metric: the
    /// series of two consumers of one stream in one process stay apart.
    pub topic: &'a str,
    /// Stream kind, to rebuild refused records.
    pub kind: StreamKind,
    /// The rows' destination.
    pub writer: &'a W,
    /// The dead letters' destination.
    pub dead_letters: &'a D,
    /// Slows down on pressure.
    pub pace: &'a mut Pace,
    /// Waits between retries.
    pub backoff: &'a mut Backoff,
    /// Turns true on shutdown.
    pub shutdown: &'a mut watch::Receiver<bool>,
}

impl<W: Writer, D: DeadLetterSink> Flush<'_, W, D> {
    /// Inserts `chunks`, dead-letters `dead` and the refused records.
    pub async fn run(
        &mut self,
        chunks: Vec<Chunk>,
        mut dead: Vec<DeadRecord>,
    ) -> Result<Flushed, Stopped> {
        let mut done = Flushed::default();
        let mut activity = Vec::new();
        let mut per_shard: Vec<usize> = Vec::new();
        for chunk in &chunks {
            let (inserts, refused) = bisect::insert(self, chunk).await?;
            done.inserts += inserts;
            if per_shard.len() <= chunk.shard {
                per_shard.resize(chunk.shard + 1, 0);
            }
            per_shard[chunk.shard] += inserts;
            let indexes: Vec<usize> = refused.iter().map(|(i, _)| *i).collect();
            activity.extend(chunk.activity(&indexes));
            done.rows += (chunk.records.iter().enumerate())
                .filter(|(i, _)| !indexes.contains(i))
                .map(|(_, r)| u64::from(r.rows))
                .sum::<u64>();
            dead.extend(
                refused
                    .into_iter()
                    .map(|(i, reason)| chunk.dead(self.kind, &chunk.records[i], reason)),
            );
        }
        for record in &dead {
            self.publish(record).await?;
        }
        done.dead = dead.len();
        done.most_on_one_shard = per_shard.into_iter().max().unwrap_or(0);
        self.record_activity(&activity).await?;
        Ok(done)
    }

    /// One INSERT, retried until it succeeds or ClickHouse refuses the data.
    pub(crate) async fn insert(
        &mut self,
        shard: usize,
        pieces: Vec<Bytes>,
    ) -> Result<Inserted, Stopped> {
        loop {
            let started = Instant::now();
            match self.writer.insert(shard, pieces.clone()).await {
                Ok(()) => {
                    Histogram::consumer_write_seconds(self.stream, "insert", self.topic.to_owned())
                        .record(started.elapsed().as_secs_f64());
                    self.calm();
                    return Ok(Inserted::Done);
                }
                Err(e) => {
                    let failure = classify(&e);
                    Counter::insert_retries(self.stream, failure.label(), self.topic.to_owned())
                        .increment(1);
                    match failure {
                        Failure::Data => return Ok(Inserted::Refused(e.to_string())),
                        Failure::Pressure => {
                            self.pace.pressure();
                            Gauge::consumer_slowdown(self.stream, self.topic.to_owned())
                                .set(self.pace.slowdown());
                        }
                        Failure::Unavailable => {}
                    }
                    tracing::warn!(stream = self.stream, kind = failure.label(), error = %e, "INSERT failed");
                    self.wait().await?;
                }
            }
        }
    }

    async fn publish(&mut self, record: &DeadRecord) -> Result<(), Stopped> {
        loop {
            match self.dead_letters.publish(record).await {
                Ok(()) => {
                    Counter::dead_letter(self.stream, record.reason.code, self.topic.to_owned())
                        .increment(1);
                    tracing::warn!(stream = self.stream, partition = record.partition, offset = record.offset,
                        reason = %record.reason.header(), "record dead-lettered");
                    self.calm();
                    return Ok(());
                }
                Err(e) => {
                    Counter::dead_letter_errors(self.stream, self.topic.to_owned()).increment(1);
                    tracing::warn!(stream = self.stream, error = %e, "dead-letter publish failed");
                    self.wait().await?;
                }
            }
        }
    }

    async fn record_activity(&mut self, activity: &[Activity]) -> Result<(), Stopped> {
        loop {
            match self.writer.activity(activity).await {
                Ok(()) => return Ok(()),
                Err(e) if classify(&e) == Failure::Data => {
                    // Bound values only: cannot happen, and must not block the rows.
                    tracing::error!(stream = self.stream, error = %e, "project activity refused");
                    return Ok(());
                }
                Err(e) => {
                    tracing::warn!(stream = self.stream, error = %e, "project activity write failed");
                    self.wait().await?;
                }
            }
        }
    }

    fn calm(&mut self) {
        if !self.backoff.is_initial() {
            self.backoff.reset();
            Gauge::consumer_backoff_seconds(self.stream, self.topic.to_owned()).set(0.0);
        }
    }

    /// Sleeps the next backoff; Err if shutdown comes first or is already set.
    async fn wait(&mut self) -> Result<(), Stopped> {
        if *self.shutdown.borrow() {
            return Err(Stopped);
        }
        let wait = self.backoff.next_wait();
        Gauge::consumer_backoff_seconds(self.stream, self.topic.to_owned()).set(wait.as_secs_f64());
        // A dropped sender disables the second branch: the wait still happens.
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            Ok(()) = self.shutdown.changed() => {}
        }
        if *self.shutdown.borrow() {
            return Err(Stopped);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::Config;
    use crate::pipeline::BatchPolicy;
    use crate::sink::batch::Batch;
    use crate::sink::fakes::{Fail, FakeClickHouse, FakeDeadLetters, SHORT_READ, TOO_MANY_PARTS};

    fn batch_of_ten() -> (Vec<Chunk>, Vec<DeadRecord>) {
        let mut batch = Batch::default();
        for i in 0..10i64 {
            batch.push(b"acme/a", 0, i, format!("row{i};").as_bytes(), 1);
        }
        batch.drain(100, 1)
    }

    async fn flush(
        writer: &FakeClickHouse,
        letters: &FakeDeadLetters,
        pace: &mut Pace,
        backoff: &mut Backoff,
        shutdown: &mut watch::Receiver<bool>,
        (chunks, dead): (Vec<Chunk>, Vec<DeadRecord>),
    ) -> Result<Flushed, Stopped> {
        let mut flush = Flush {
            stream: "events",
            topic: "downpour.events",
            kind: StreamKind::Events,
            writer,
            dead_letters: letters,
            pace,
            backoff,
            shutdown,
        };
        flush.run(chunks, dead).await
    }

    fn backoff() -> Backoff {
        Backoff::new(Duration::from_millis(1), Duration::from_millis(100))
    }

    #[tokio::test]
    async fn too_many_parts_backs_off_grows_the_batch_and_commits_nothing() {
        let (stop, mut shutdown) = watch::channel(false);
        let mut writer = FakeClickHouse::failing((0..100).map(|_| Fail::Answer(TOO_MANY_PARTS)));
        writer.stop_after = Some((4, stop));
        let letters = FakeDeadLetters::default();
        let mut pace = Pace::new(&Config::default().consumer);
        let mut backoff = backoff();
        let outcome = flush(
            &writer,
            &letters,
            &mut pace,
            &mut backoff,
            &mut shutdown,
            batch_of_ten(),
        )
        .await;
        assert_eq!(outcome, Err(Stopped), "no commit while ClickHouse refuses");
        let attempts = writer.attempts.lock().expect("lock");
        assert_eq!(attempts.len(), 4);
        assert!(
            attempts.iter().all(|a| a == &attempts[0]),
            "the same batch each time"
        );
        assert!(writer.inserted.lock().expect("lock").is_empty());
        assert!(
            letters.acked.lock().expect("lock").is_empty(),
            "load is never the data's fault"
        );
        // Backoff doubled 1 → 2 → 4 ms (the 4th failure met the shutdown).
        assert_eq!(backoff.current(), Duration::from_millis(8));
        // The batch grows: 8x the age and the row bound.
        assert_eq!(pace.slowdown(), 8);
        let policy = BatchPolicy {
            max_rows: 100,
            max_bytes: 1 << 20,
            max_age_ms: 500,
            max_projects_per_insert: 100,
        };
        let mut batch = Batch::default();
        batch.push(b"acme/a", 0, 0, b"x", 500);
        assert!(!pace.is_full(&batch, &policy), "500 rows fit 8 x 100");
        let due = pace.deadline(&batch, &policy).expect("due");
        let opened = batch.opened().expect("opened");
        assert_eq!(due - opened, Duration::from_secs(4));
    }

    #[tokio::test]
    async fn a_transient_error_retries_the_same_batch_then_succeeds() {
        let (_stop, mut shutdown) = watch::channel(false);
        let writer = FakeClickHouse::failing([
            Fail::Refused,
            Fail::Answer(
                "Code: 241, e.displayText() = DB::Exception: Memory limit (total) exceeded",
            ),
        ]);
        let letters = FakeDeadLetters::default();
        let mut pace = Pace::new(&Config::default().consumer);
        let mut backoff = backoff();
        let done = flush(
            &writer,
            &letters,
            &mut pace,
            &mut backoff,
            &mut shutdown,
            batch_of_ten(),
        )
        .await
        .expect("committable");
        assert_eq!(
            (done.inserts, done.most_on_one_shard, done.rows, done.dead),
            (1, 1, 10, 0)
        );
        let attempts = writer.attempts.lock().expect("lock");
        assert_eq!(attempts.len(), 3);
        assert!(attempts.iter().all(|a| a == &attempts[0]), "never split");
        assert_eq!(writer.inserted.lock().expect("lock").len(), 1);
        assert_eq!(
            backoff.current(),
            Duration::from_millis(1),
            "reset after success"
        );
    }

    #[tokio::test]
    async fn a_dead_letter_is_acknowledged_before_the_flush_may_commit() {
        let (stop, mut shutdown) = watch::channel(false);
        let writer = FakeClickHouse::failing([Fail::Answer(SHORT_READ), Fail::Answer(SHORT_READ)]);
        let mut batch = Batch::default();
        batch.push(b"acme/a", 1, 7, b"row;", 1);
        let letters = FakeDeadLetters::default();
        *letters.refuse.lock().expect("lock") = 2;
        let mut pace = Pace::new(&Config::default().consumer);
        let mut backoff = backoff();
        let done = flush(
            &writer,
            &letters,
            &mut pace,
            &mut backoff,
            &mut shutdown,
            batch.drain(100, 1),
        )
        .await
        .expect("committable");
        assert_eq!((done.rows, done.dead), (0, 1));
        assert_eq!(
            *letters.attempts.lock().expect("lock"),
            3,
            "retried until acked"
        );
        assert_eq!(letters.acked.lock().expect("lock")[0].offset, 7);

        // A dead-letter topic that never acks: shutdown, nothing committable.
        *letters.refuse.lock().expect("lock") = usize::MAX;
        let mut batch = Batch::default();
        batch.push_dead(DeadRecord {
            partition: 0,
            offset: 9,
            key: vec![],
            value: b"junk".to_vec(),
            reason: crate::bus::dead_letter::Reason::undecodable("not a downpour record"),
        });
        let stopper = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            let _ = stop.send(true);
        });
        let outcome = flush(
            &writer,
            &letters,
            &mut pace,
            &mut backoff,
            &mut shutdown,
            batch.drain(100, 1),
        )
        .await;
        assert_eq!(outcome, Err(Stopped));
        stopper.await.expect("stopper");
    }
}
