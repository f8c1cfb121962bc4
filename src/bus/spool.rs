//! The edge's spool (opt-in, `edge.spool_dir`): a local write-ahead log for
//! the records of requests the broker could not take, so that a broker
//! outage is not an ingest outage.
//!
//! A request whose records the broker did not acknowledge within
//! `edge.spool_after_ms` (or refused: queue full, broker down) has them
//! appended here instead, and is answered 204 once the file holding them is
//! on disk (written, fsync'd, renamed into place, the directory fsync'd).
//! While any spooled record waits, new requests are spooled at once, so
//! records reach Kafka in the order the edge accepted them. A forwarder
//! publishes the files to Kafka oldest first, waiting for each record's
//! ack, and deletes a file once all its records are acknowledged. At start
//! it finds the files a previous process left and forwards them.
//!
//! Invariants: a spooled request's answer comes after its fsync; a file is
//! deleted only after every record in it was acknowledged by the broker; the
//! files never hold more than `edge.spool_max_bytes` (past it the request
//! gets 503, as without a spool). A record may reach Kafka twice (its first
//! publish was acknowledged after the edge had given up on it, or the
//! process stopped between an ack and the file's deletion); rows carry ids,
//! so readers see it once. One spool directory belongs to one edge process
//! (a lock file says so). What a spool 204 promises: docs/RELIABILITY.md,
//! "The edge's spool".
//!
//! Hand-written rather than a crate: the format is a few length-prefixed
//! fields, and what matters is the order of fsync, rename and delete, which
//! is the whole of this file.

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::bus::producer::{Producer, PublishError, Request};
use crate::telemetry::catalogue::{Counter, Gauge};

/// First bytes of a spool file (format version 1).
const MAGIC: &[u8; 8] = b"DPSPOOL1";
/// Appends written together, at most (one file, one fsync).
const GROUP_MAX_BYTES: usize = 8 * 1024 * 1024;

/// Why records could not be spooled.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The spool holds `edge.spool_max_bytes` already.
    #[error("spool full")]
    Full,
    /// Writing or syncing the file failed.
    #[error("spool write: {0}")]
    Io(#[from] std::io::Error),
    /// The writer stopped (shutdown).
    #[error("spool closed")]
    Closed,
    /// Kafka refused the records for a reason a later try would meet too
    /// (not spooled: the forwarder would retry them forever).
    #[error("refused: {0}")]
    Refused(PublishError),
}

/// Whether a failed publish may succeed later (the broker slow, down,
/// restarting, moving leaders; the producer replaced): then the records are
/// spooled. Not when the broker refuses these records for good (too large,
/// malformed, not authorized): the forwarder would retry them forever, so
/// the request gets 503 as without a spool. A broker coming back answers
/// with a variety of codes, hence a list of the permanent ones.
pub fn broker_unavailable(error: &PublishError) -> bool {
    use rdkafka::error::RDKafkaErrorCode as Code;
    match error {
        PublishError::QueueFull | PublishError::Closed => true,
        PublishError::NotAcknowledged(e) => !matches!(
            e.rdkafka_error_code(),
            Some(
                Code::MessageSizeTooLarge
                    | Code::InvalidMessageSize
                    | Code::InvalidRecord
                    | Code::TopicAuthorizationFailed
                    | Code::ClusterAuthorizationFailed
                    | Code::SaslAuthenticationFailed
                    | Code::Authentication
            )
        ),
    }
}

/// One request's records, as spooled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Full topic name.
    pub topic: String,
    /// Record key.
    pub key: Vec<u8>,
    /// Record values.
    pub records: Vec<Vec<u8>>,
}

impl Entry {
    /// Appends the entry's encoding to `out`.
    fn encode(&self, out: &mut Vec<u8>) {
        let put = |out: &mut Vec<u8>, bytes: &[u8]| {
            out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            out.extend_from_slice(bytes);
        };
        put(out, self.topic.as_bytes());
        put(out, &self.key);
        out.extend_from_slice(&(self.records.len() as u32).to_le_bytes());
        for record in &self.records {
            put(out, record);
        }
    }

    /// Bytes the entry takes in a file.
    fn encoded_len(&self) -> usize {
        12 + self.topic.len()
            + self.key.len()
            + self.records.iter().map(|r| 4 + r.len()).sum::<usize>()
    }
}

/// Reads the entries of a spool file's bytes (`None`: not a whole spool file).
pub fn decode(bytes: &[u8]) -> Option<Vec<Entry>> {
    let mut cursor = Cursor(bytes.strip_prefix(MAGIC.as_slice())?);
    let mut entries = Vec::new();
    while !cursor.0.is_empty() {
        let topic = String::from_utf8(cursor.field()?.to_vec()).ok()?;
        let key = cursor.field()?.to_vec();
        let count = cursor.length()?;
        let mut records = Vec::with_capacity(count.min(1024));
        for _ in 0..count {
            records.push(cursor.field()?.to_vec());
        }
        entries.push(Entry {
            topic,
            key,
            records,
        });
    }
    Some(entries)
}

/// What is left of a file to read.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = tail;
        Some(head)
    }

    fn length(&mut self) -> Option<usize> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?) as usize)
    }

    /// A length-prefixed field.
    fn field(&mut self) -> Option<&'a [u8]> {
        let n = self.length()?;
        self.take(n)
    }
}

/// A spooled file waiting to be forwarded.
#[derive(Debug, Clone)]
struct Waiting {
    seq: u64,
    bytes: u64,
    written: SystemTime,
}

/// What the writer and the forwarder share.
struct Shared {
    dir: PathBuf,
    max_bytes: u64,
    /// Bytes in files, plus bytes admitted to the writer and not yet in one.
    bytes: AtomicU64,
    /// Files on disk, oldest first.
    files: Mutex<VecDeque<Waiting>>,
    /// How many: read by every request (no lock on the request path).
    waiting: AtomicU64,
    /// Wakes the forwarder when a file is added.
    added: Notify,
    /// The lock file, held while the process lives.
    _lock: File,
}

impl Shared {
    fn files(&self) -> std::sync::MutexGuard<'_, VecDeque<Waiting>> {
        self.files.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn path(&self, seq: u64, ext: &str) -> PathBuf {
        self.dir.join(format!("{seq:020}.{ext}"))
    }

    fn report(&self) {
        let files = self.files();
        Gauge::edge_spool_bytes().set(self.bytes.load(Ordering::SeqCst) as f64);
        let age = files
            .front()
            .and_then(|w| w.written.elapsed().ok())
            .unwrap_or_default();
        Gauge::edge_spool_age_seconds().set(age.as_secs_f64());
    }
}

/// Bytes of the spool held for one request, from its admission until its
/// file is written (then they count as the file's) or it failed or was
/// dropped (then they are given back, whoever drops it: a request cancelled
/// by its deadline or its client must not leak room).
struct Reservation {
    shared: Arc<Shared>,
    bytes: u64,
}

impl Reservation {
    /// The bytes now belong to a written file.
    fn keep(mut self) {
        self.bytes = 0;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.bytes > 0 {
            self.shared.bytes.fetch_sub(self.bytes, Ordering::SeqCst);
        }
    }
}

/// One request waiting for its records to be on disk.
struct Append {
    entry: Entry,
    reservation: Reservation,
    done: oneshot::Sender<Result<(), SpoolError>>,
}

/// The spool's tasks, for a clean stop: the writer ends once every
/// [`Spool`] is dropped, the forwarder at shutdown; the lock is released
/// when both have.
pub struct SpoolTasks {
    writer: JoinHandle<()>,
    forwarder: JoinHandle<()>,
}

impl SpoolTasks {
    /// Waits (at most `timeout`) for both tasks to end.
    pub async fn stopped(self, timeout: Duration) {
        let both = async {
            let _ = self.forwarder.await;
            let _ = self.writer.await;
        };
        if tokio::time::timeout(timeout, both).await.is_err() {
            tracing::warn!("spool: its tasks did not stop in time");
        }
    }
}

/// The spool: [`Spool::publish_or_spool`] for requests, a writer task and a
/// forwarder task behind it.
#[derive(Clone)]
pub struct Spool {
    shared: Arc<Shared>,
    writer: mpsc::Sender<Append>,
    /// How long a publish waits for its acks before its records are spooled.
    pub after: Duration,
}

impl Spool {
    /// Opens `dir` (created if missing), takes its lock, finds the files a
    /// previous process left, and starts the writer and the forwarder (which
    /// publishes through `producer` until `shutdown`).
    pub fn open(
        dir: &Path,
        max_bytes: u64,
        after: Duration,
        producer: Producer,
        shutdown: watch::Receiver<bool>,
    ) -> Result<(Spool, SpoolTasks), std::io::Error> {
        fs::create_dir_all(dir)?;
        let lock = File::create(dir.join("lock"))?;
        lock.try_lock().map_err(|e| {
            std::io::Error::other(format!(
                "spool directory {} is in use by another process: {e}",
                dir.display()
            ))
        })?;
        let mut found = Vec::new();
        let mut next = 0;
        for item in fs::read_dir(dir)? {
            let item = item?;
            let name = item.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some((seq, ext)) = name.split_once('.') else {
                continue;
            };
            let Ok(seq) = seq.parse::<u64>() else {
                continue;
            };
            // Numbers of files set aside are not used again either.
            next = next.max(seq + 1);
            match ext {
                "spool" => {
                    let meta = item.metadata()?;
                    found.push(Waiting {
                        seq,
                        bytes: meta.len(),
                        written: meta.modified().unwrap_or_else(|_| SystemTime::now()),
                    });
                }
                // Never renamed into place: its requests were never answered 204.
                "tmp" => fs::remove_file(item.path())?,
                _ => {}
            }
        }
        found.sort_by_key(|w| w.seq);
        if !found.is_empty() {
            tracing::warn!(
                files = found.len(),
                bytes = found.iter().map(|w| w.bytes).sum::<u64>(),
                "spool: files of a previous process found; forwarding them"
            );
        }
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            max_bytes,
            bytes: AtomicU64::new(found.iter().map(|w| w.bytes).sum()),
            waiting: AtomicU64::new(found.len() as u64),
            files: Mutex::new(found.into()),
            added: Notify::new(),
            _lock: lock,
        });
        shared.report();
        let (writer, appends) = mpsc::channel(1024);
        let tasks = SpoolTasks {
            writer: tokio::spawn(write_loop(shared.clone(), appends, next)),
            forwarder: tokio::spawn(forward_loop(shared.clone(), producer, shutdown)),
        };
        let spool = Spool {
            shared,
            writer,
            after,
        };
        Ok((spool, tasks))
    }

    /// Whether spooled files wait to be forwarded: a new request is then
    /// spooled at once, behind them. Once the forwarder has caught up,
    /// requests go to Kafka first again.
    pub fn is_draining(&self) -> bool {
        self.shared.waiting.load(Ordering::SeqCst) > 0
    }

    /// Whether the spool holds less than `edge.spool_max_bytes` and its
    /// writer runs (for `/readyz`).
    pub fn has_room(&self) -> bool {
        !self.writer.is_closed() && self.shared.bytes.load(Ordering::SeqCst) < self.shared.max_bytes
    }

    /// Publishes one request's records through `producer` if the broker
    /// acknowledges them within [`Spool::after`] and nothing waits in the
    /// spool; spools them otherwise (unless Kafka refused them for good).
    /// Returns once they are acknowledged or on disk.
    pub async fn publish_or_spool(
        &self,
        producer: &Producer,
        topic: &str,
        key: &[u8],
        records: &[Vec<u8>],
    ) -> Result<(), SpoolError> {
        if !self.is_draining() {
            match tokio::time::timeout(self.after, producer.publish(topic, key, records)).await {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(e)) if !broker_unavailable(&e) => {
                    // At debug, as without a spool (`From<PublishError> for
                    // ApiError`): a refusal for every request would flood the log.
                    tracing::debug!(error = %e, "publish refused for good; not spooled");
                    return Err(SpoolError::Refused(e));
                }
                Ok(Err(e)) => tracing::debug!(error = %e, "publish failed; spooling"),
                Err(_) => tracing::debug!("publish not acknowledged in time; spooling"),
            }
        }
        self.append(Entry {
            topic: topic.to_string(),
            key: key.to_vec(),
            records: records.to_vec(),
        })
        .await
    }

    /// Appends one request's records; returns once they are on disk.
    pub async fn append(&self, entry: Entry) -> Result<(), SpoolError> {
        let size = entry.encoded_len() as u64;
        let admitted = self
            .shared
            .bytes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |held| {
                (held + size <= self.shared.max_bytes).then_some(held + size)
            });
        if admitted.is_err() {
            Counter::edge_spool_full().increment(1);
            return Err(SpoolError::Full);
        }
        let reservation = Reservation {
            shared: self.shared.clone(),
            bytes: size,
        };
        let (done, written) = oneshot::channel();
        let append = Append {
            entry,
            reservation,
            done,
        };
        match self.writer.send(append).await {
            Ok(()) => written.await.unwrap_or(Err(SpoolError::Closed)),
            Err(_) => Err(SpoolError::Closed),
        }
    }
}

/// Writes appends in groups: one file and one fsync per group.
async fn write_loop(shared: Arc<Shared>, mut appends: mpsc::Receiver<Append>, mut next: u64) {
    while let Some(first) = appends.recv().await {
        let mut group = vec![first];
        let mut size = group[0].entry.encoded_len();
        while size < GROUP_MAX_BYTES {
            match appends.try_recv() {
                Ok(more) => {
                    size += more.entry.encoded_len();
                    group.push(more);
                }
                Err(_) => break,
            }
        }
        let mut bytes = Vec::with_capacity(MAGIC.len() + size);
        bytes.extend_from_slice(MAGIC);
        for append in &group {
            append.entry.encode(&mut bytes);
        }
        let seq = next;
        next += 1;
        let (tmp, done) = (shared.path(seq, "tmp"), shared.path(seq, "spool"));
        let dir = shared.dir.clone();
        let length = bytes.len() as u64;
        let written = tokio::task::spawn_blocking(move || write_file(&tmp, &done, &dir, &bytes))
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        match written {
            Ok(()) => {
                // The entries' reservations become the file's bytes, plus its header.
                shared.bytes.fetch_add(MAGIC.len() as u64, Ordering::SeqCst);
                shared.files().push_back(Waiting {
                    seq,
                    bytes: length,
                    written: SystemTime::now(),
                });
                shared.waiting.fetch_add(1, Ordering::SeqCst);
                Counter::edge_spooled_requests().increment(group.len() as u64);
                shared.report();
                shared.added.notify_one();
                for append in group {
                    append.reservation.keep();
                    let _ = append.done.send(Ok(()));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, dir = %shared.dir.display(), "spool: write failed; its requests get 503");
                // A file renamed into place whose directory sync failed
                // would be forwarded by the next process, though its
                // requests got 503: removed (best effort; a copy is harmless).
                let _ = fs::remove_file(shared.path(seq, "spool"));
                let _ = fs::remove_file(shared.path(seq, "tmp"));
                for append in group {
                    let error = std::io::Error::new(e.kind(), e.to_string());
                    let _ = append.done.send(Err(SpoolError::Io(error)));
                }
            }
        }
    }
}

/// Writes `bytes` to `tmp`, fsyncs it, renames it to `done` and fsyncs the
/// directory: once this returns, the file survives a crash.
fn write_file(tmp: &Path, done: &Path, dir: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = File::create(tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(tmp, done)?;
    File::open(dir)?.sync_all()
}

/// Bytes forwarded in one go, at most: well under librdkafka's queue
/// (`kafka.queue_max_kbytes`, 256 MiB by default).
const FORWARD_MAX_BYTES: u64 = 8 * 1024 * 1024;
/// Files forwarded in one go: the group starts at [`FORWARD_FIRST_FILES`],
/// halves after a failure (a broker just back may not acknowledge a large
/// group within `kafka.publish_timeout_ms`, and retrying the same group
/// would fail the same way forever: the chaos test's full form, 28,000
/// files after 60 s) and doubles after a success, up to this.
const FORWARD_MAX_FILES: usize = 1024;
const FORWARD_FIRST_FILES: usize = 64;

/// Forwards the oldest files, several at once; deletes them once every
/// record in them is acknowledged.
async fn forward_loop(
    shared: Arc<Shared>,
    producer: Producer,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut retry = Duration::from_millis(200);
    let mut group = FORWARD_FIRST_FILES;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let oldest: Vec<Waiting> = {
            let files = shared.files();
            let mut total = 0;
            files
                .iter()
                .take(group)
                .take_while(|w| {
                    let first = total == 0;
                    total += w.bytes;
                    first || total <= FORWARD_MAX_BYTES
                })
                .cloned()
                .collect()
        };
        shared.report();
        if oldest.is_empty() {
            tokio::select! {
                _ = shared.added.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.changed() => return,
            }
            continue;
        }
        let outcome = tokio::select! {
            outcome = forward_files(&shared, &oldest, &producer) => outcome,
            _ = shutdown.changed() => return,
        };
        match outcome {
            Ok(requests) => {
                Counter::edge_spool_forwarded_requests().increment(requests);
                retry = Duration::from_millis(200);
                group = (group * 2).min(FORWARD_MAX_FILES);
            }
            Err(e) => {
                tracing::warn!(error = %e, files = oldest.len(), "spool: forwarding waits for the broker");
                group = (group / 2).max(1);
                tokio::select! {
                    _ = tokio::time::sleep(retry) => {}
                    _ = shutdown.changed() => return,
                }
                retry = (retry * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Why files were not forwarded (yet).
#[derive(Debug, thiserror::Error)]
enum ForwardError {
    #[error("reading a file: {0}")]
    Io(#[from] std::io::Error),
    #[error("publish: {0}")]
    Publish(#[from] PublishError),
}

/// Publishes every entry of `files` at once, then deletes them; returns how
/// many requests they held. A file that is gone or unreadable, or whose
/// records Kafka refuses for good, is set aside (logged, its number kept):
/// retrying it would hold every file behind it.
async fn forward_files(
    shared: &Shared,
    files: &[Waiting],
    producer: &Producer,
) -> Result<u64, ForwardError> {
    let paths: Vec<PathBuf> = files.iter().map(|w| shared.path(w.seq, "spool")).collect();
    let read = paths.clone();
    let contents = tokio::task::spawn_blocking(move || {
        read.iter()
            .map(|path| match fs::read(path) {
                Ok(bytes) => Ok(decode(&bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            })
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .unwrap_or_else(|e| Err(std::io::Error::other(e)))?;
    let mut entries = Vec::new();
    let mut readable = Vec::with_capacity(files.len());
    for content in contents {
        match content {
            Some(decoded) => {
                readable.push(true);
                entries.extend(decoded);
            }
            None => readable.push(false),
        }
    }
    let requests: Vec<Request<'_>> = entries
        .iter()
        .map(|e| (e.topic.as_str(), e.key.as_slice(), e.records.as_slice()))
        .collect();
    let mut rejected = false;
    if let Err(e) = producer.publish_all(&requests).await {
        if broker_unavailable(&e) {
            return Err(e.into());
        }
        rejected = true;
        tracing::error!(error = %e, "spool: Kafka refuses records of these files for good; set aside, NOT forwarded");
    }
    for ((file, path), ok) in files.iter().zip(&paths).zip(readable) {
        if ok && !rejected {
            if let Err(e) = fs::remove_file(path) {
                tracing::error!(error = %e, path = %path.display(), "spool: a forwarded file cannot be deleted");
            }
        } else {
            let aside = shared.path(file.seq, "rejected");
            tracing::error!(path = %path.display(), aside = %aside.display(),
                "spool: a file is gone, unreadable or refused; its requests are NOT forwarded");
            let _ = fs::rename(path, &aside);
            Counter::edge_spool_rejected_files().increment(1);
        }
        shared.files().pop_front();
        shared.waiting.fetch_sub(1, Ordering::SeqCst);
        shared.bytes.fetch_sub(file.bytes, Ordering::SeqCst);
    }
    shared.report();
    Ok(entries.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(topic: &str, key: &str, records: &[&str]) -> Entry {
        Entry {
            topic: topic.into(),
            key: key.as_bytes().to_vec(),
            records: records.iter().map(|r| r.as_bytes().to_vec()).collect(),
        }
    }

    #[test]
    fn entries_read_back_as_written() {
        let entries = vec![
            entry("downpour.events", "acme/web", &["one", "", "three"]),
            entry("downpour.spans", "acme/web#2", &[]),
        ];
        let mut bytes = MAGIC.to_vec();
        for e in &entries {
            e.encode(&mut bytes);
        }
        assert_eq!(
            bytes.len(),
            MAGIC.len() + entries.iter().map(Entry::encoded_len).sum::<usize>()
        );
        assert_eq!(decode(&bytes), Some(entries));
        assert_eq!(decode(MAGIC), Some(vec![]));
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "downpour-spool-{name}-{}-{:?}",
            std::process::id(),
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        ));
        fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn a_dropped_reservation_gives_its_room_back_and_a_kept_one_does_not() {
        let dir = temp_dir("reservation");
        let shared = Arc::new(Shared {
            dir: dir.clone(),
            max_bytes: 1_000,
            bytes: AtomicU64::new(100),
            files: Mutex::new(VecDeque::new()),
            waiting: AtomicU64::new(0),
            added: Notify::new(),
            _lock: File::create(dir.join("lock")).expect("lock"),
        });
        let held = |bytes| Reservation {
            shared: shared.clone(),
            bytes,
        };
        drop(held(40));
        assert_eq!(shared.bytes.load(Ordering::SeqCst), 60);
        held(25).keep();
        assert_eq!(shared.bytes.load(Ordering::SeqCst), 60);
        let _ = fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn appends_are_on_disk_when_answered_and_the_directory_is_locked() {
        let dir = temp_dir("append");
        let mut kafka = crate::config::Config::default().kafka;
        kafka.brokers = "127.0.0.1:1".into();
        let producer = Producer::new(&kafka).expect("producer");
        let (stop, shutdown) = watch::channel(false);
        let after = Duration::from_millis(10);
        let (spool, tasks) =
            Spool::open(&dir, 4_096, after, producer.clone(), shutdown.clone()).expect("open");
        let one = entry("downpour.events", "acme/web", &["row one", "row two"]);
        spool.append(one.clone()).await.expect("spooled");
        // Answered: the file is in place and reads back as written.
        let files: Vec<PathBuf> = fs::read_dir(&dir)
            .expect("dir")
            .filter_map(|e| Some(e.ok()?.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "spool"))
            .collect();
        assert_eq!(files.len(), 1);
        let bytes = fs::read(&files[0]).expect("read");
        assert_eq!(decode(&bytes), Some(vec![one.clone()]));
        assert!(spool.is_draining() && spool.has_room());
        // Past the bound: refused, and the room it asked for is not held.
        let big = Entry {
            records: vec![vec![0; 5_000]],
            ..one.clone()
        };
        assert!(matches!(spool.append(big).await, Err(SpoolError::Full)));
        assert_eq!(
            spool.shared.bytes.load(Ordering::SeqCst),
            bytes.len() as u64
        );
        // A second process on the same directory is refused.
        assert!(Spool::open(&dir, 4_096, after, producer.clone(), shutdown.clone()).is_err());
        // Stopped, the lock is free again and the file is found.
        let _ = stop.send(true);
        drop(spool);
        tasks.stopped(Duration::from_secs(5)).await;
        let (again, tasks) = Spool::open(&dir, 4_096, after, producer, shutdown).expect("reopen");
        assert!(
            again.is_draining(),
            "the file of the previous process waits"
        );
        drop(again);
        tasks.stopped(Duration::from_secs(5)).await;
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn a_cut_or_foreign_file_is_not_read() {
        let mut bytes = MAGIC.to_vec();
        entry("t", "k", &["record"]).encode(&mut bytes);
        for cut in MAGIC.len() + 1..bytes.len() {
            assert_eq!(decode(&bytes[..cut]), None, "cut at {cut}");
        }
        assert_eq!(decode(b"DPSPOOL0"), None);
        assert_eq!(decode(b""), None);
    }
}
