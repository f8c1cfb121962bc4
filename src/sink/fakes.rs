//! Test doubles for a flush: a ClickHouse that fails on script and refuses
//! "poison" bytes, and a dead-letter topic that can refuse publishes.
//!
//! Invariant: fakes record every attempt, so tests assert what was retried,
//! inserted and dead-lettered rather than how.

use std::collections::VecDeque;
use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::watch;

use crate::bus::dead_letter::{DeadLetterError, DeadRecord};
use crate::sink::batch::Activity;
use crate::sink::flush::{DeadLetterSink, Writer};

/// What ClickHouse 18.16 answers to rows cut short.
pub const SHORT_READ: &str = "Code: 33, e.displayText() = DB::Exception: Cannot read all data. \
                              Bytes read: 2. Bytes expected: 8.: (at row 1)";
/// What ClickHouse answers when merges fall behind.
pub const TOO_MANY_PARTS: &str = "Code: 252, e.displayText() = DB::Exception: Too many parts (300). \
                                  Merges are processing significantly slower than inserts.";

/// A scripted failure of one INSERT.
pub enum Fail {
    /// ClickHouse answers with this text.
    Answer(&'static str),
    /// The connection is refused.
    Refused,
}

/// A fake ClickHouse.
#[derive(Default)]
pub struct FakeClickHouse {
    /// Failures for the next INSERTs, in order; then it works.
    pub script: Mutex<VecDeque<Fail>>,
    /// Every INSERT body attempted.
    pub attempts: Mutex<Vec<Vec<u8>>>,
    /// Every INSERT body accepted.
    pub inserted: Mutex<Vec<Vec<u8>>>,
    /// Signals shutdown once this many INSERTs were attempted.
    pub stop_after: Option<(usize, watch::Sender<bool>)>,
}

impl FakeClickHouse {
    /// Fails the next INSERTs as `script` says.
    pub fn failing(script: impl IntoIterator<Item = Fail>) -> FakeClickHouse {
        FakeClickHouse {
            script: Mutex::new(script.into_iter().collect()),
            ..FakeClickHouse::default()
        }
    }
}

impl Writer for FakeClickHouse {
    async fn insert(
        &self,
        _shard: usize,
        pieces: Vec<Bytes>,
    ) -> Result<(), clickhouse::error::Error> {
        use clickhouse::error::Error;
        let body: Vec<u8> = pieces.concat();
        let attempts = {
            let mut attempts = self.attempts.lock().expect("lock");
            attempts.push(body.clone());
            attempts.len()
        };
        if let Some((n, stop)) = &self.stop_after
            && attempts >= *n
        {
            let _ = stop.send(true);
        }
        match self.script.lock().expect("lock").pop_front() {
            Some(Fail::Answer(text)) => return Err(Error::BadResponse(text.into())),
            Some(Fail::Refused) => {
                let io = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
                return Err(Error::Network(Box::new(io)));
            }
            None => {}
        }
        if body.windows(6).any(|w| w == b"poison") {
            return Err(Error::BadResponse(SHORT_READ.into()));
        }
        self.inserted.lock().expect("lock").push(body);
        Ok(())
    }

    async fn activity(&self, _: &[Activity]) -> Result<(), clickhouse::error::Error> {
        Ok(())
    }
}

/// A fake dead-letter topic.
#[derive(Default)]
pub struct FakeDeadLetters {
    /// Publishes to refuse before accepting.
    pub refuse: Mutex<usize>,
    /// Publishes attempted.
    pub attempts: Mutex<usize>,
    /// Acknowledged dead letters.
    pub acked: Mutex<Vec<DeadRecord>>,
}

impl DeadLetterSink for FakeDeadLetters {
    async fn publish(&self, dead: &DeadRecord) -> Result<(), DeadLetterError> {
        *self.attempts.lock().expect("lock") += 1;
        let mut refuse = self.refuse.lock().expect("lock");
        if *refuse > 0 {
            *refuse -= 1;
            return Err(DeadLetterError::Closed);
        }
        self.acked.lock().expect("lock").push(dead.clone());
        Ok(())
    }
}
