//! Inserting a chunk when ClickHouse may refuse some of its records.
//!
//! Records are the unit (one Kafka record = one request chunk, many rows):
//! a refused INSERT is split into halves by record and each half is
//! inserted again, until every refused record stands alone. One poison
//! record among `n` costs about `2 × log2(n)` INSERTs; the good records are
//! inserted once each (a refused INSERT of one block writes nothing).
//!
//! A record refused on its own is tried once more before it is given up:
//! a data error must be the data's, not a fluke of the connection.
//!
//! Invariant: every record of the chunk ends either inserted or in the
//! returned refused list, never both and never neither; transient failures
//! are retried inside [`Flush::insert`] and never split a chunk.

use std::ops::Range;

use crate::bus::dead_letter::Reason;
use crate::sink::batch::Chunk;
use crate::sink::flush::{DeadLetterSink, Flush, Inserted, Stopped, Writer};

/// Inserts `chunk`; returns the INSERTs that succeeded and the refused
/// records (index in `chunk.records`, and why).
pub async fn insert<W: Writer, D: DeadLetterSink>(
    flush: &mut Flush<'_, W, D>,
    chunk: &Chunk,
) -> Result<(usize, Vec<(usize, Reason)>), Stopped> {
    let mut inserts = 0;
    let mut refused = Vec::new();
    let mut todo: Vec<Range<usize>> = Vec::new();
    todo.push(0..chunk.records.len());
    while let Some(range) = todo.pop() {
        if range.is_empty() {
            continue;
        }
        let pieces = chunk.pieces(&chunk.records[range.clone()]);
        let mut outcome = flush.insert(chunk.shard, pieces.clone()).await?;
        if outcome != Inserted::Done && range.len() == 1 {
            outcome = flush.insert(chunk.shard, pieces).await?;
        }
        match outcome {
            Inserted::Done => inserts += 1,
            Inserted::Refused(text) if range.len() == 1 => {
                refused.push((range.start, Reason::rejected(text)))
            }
            Inserted::Refused(text) => {
                tracing::warn!(stream = flush.stream, records = range.len(), error = %text,
                    "ClickHouse refused a batch; bisecting by record");
                let mid = range.start + range.len() / 2;
                // Stack: the first half is tried first, keeping offset order.
                todo.push(mid..range.end);
                todo.push(range.start..mid);
            }
        }
    }
    Ok((inserts, refused))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::sync::watch;

    use super::*;
    use crate::config::Config;
    use crate::pipeline::StreamKind;
    use crate::sink::backoff::Backoff;
    use crate::sink::batch::Batch;
    use crate::sink::fakes::{FakeClickHouse, FakeDeadLetters};
    use crate::sink::pace::Pace;

    #[tokio::test]
    async fn poison_in_the_middle_of_ten_records_leaves_nine_inserted_once() {
        let mut batch = Batch::default();
        for i in 0..10i64 {
            let body = if i == 6 {
                "poison".to_string()
            } else {
                format!("ok{i};")
            };
            // Two projects, records interleaved as they arrive.
            let key = if i % 2 == 0 { "acme/a" } else { "acme/b" };
            batch.push(key.as_bytes(), (i % 2) as i32, 100 + i, body.as_bytes(), 1);
        }
        let (chunks, dead) = batch.drain(100, 1);
        let (writer, letters) = (FakeClickHouse::default(), FakeDeadLetters::default());
        let mut pace = Pace::new(&Config::default().consumer);
        let mut backoff = Backoff::new(Duration::from_millis(1), Duration::from_millis(4));
        let (_tx, mut shutdown) = watch::channel(false);
        let mut flush = Flush {
            stream: "events",
            topic: "downpour.events",
            kind: StreamKind::Events,
            writer: &writer,
            dead_letters: &letters,
            pace: &mut pace,
            backoff: &mut backoff,
            shutdown: &mut shutdown,
        };
        let done = flush.run(chunks, dead).await.expect("flushed");
        assert_eq!((done.rows, done.dead), (9, 1));
        let inserted = writer.inserted.lock().expect("lock").concat();
        let text = String::from_utf8(inserted).expect("utf8");
        for i in (0..10).filter(|&i| i != 6) {
            assert_eq!(
                text.matches(&format!("ok{i};")).count(),
                1,
                "ok{i} once: {text}"
            );
        }
        let letters = letters.acked.lock().expect("lock");
        assert_eq!(letters.len(), 1);
        let dead = &letters[0];
        assert_eq!(
            (dead.partition, dead.offset),
            (0, 106),
            "origin of the poison"
        );
        assert_eq!(dead.key, b"acme/a");
        assert_eq!(dead.reason.code, "rejected");
        assert!(
            dead.reason.message.contains("Code: 33"),
            "{:?}",
            dead.reason
        );
        let view = crate::bus::record::parse(&dead.value, StreamKind::Events).expect("record");
        assert_eq!(view.body, b"poison");
        // The whole chunk, then halves down to the poison: far fewer INSERTs
        // than one per record, and the poison tried alone twice.
        assert!(done.inserts <= 6, "{} INSERTs", done.inserts);
        assert_eq!(
            writer.attempts.lock().expect("lock").len(),
            done.inserts + 6
        );
    }
}
