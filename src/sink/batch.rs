//! Accumulates RowBinary rows per project until a bound is reached.
//!
//! Rows arrive pre-encoded in Kafka records and are only appended here: the
//! consumer never decodes a field. Grouping by the record key (`org/project`)
//! lets a flush split into INSERTs of at most `max_projects_per_insert`
//! partitions each, while the age bound flushes small projects on time: all
//! projects of a batch flush together, so the INSERT rate per table is set by
//! the batch bounds (see [`crate::sink::pace`]), not by how many projects
//! there are.
//!
//! Invariants: each record stays addressable (its origin and byte range) so
//! a refused INSERT can be bisected record by record; a record the consumer
//! could not read is held as a [`DeadRecord`] in the same batch, so its
//! offset is committed only with the batch that dead-letters it.

use std::collections::HashMap;
use std::ops::Range;
use std::time::Instant;

use bytes::Bytes;

use crate::bus::dead_letter::{DeadRecord, Reason};
use crate::bus::record;
use crate::pipeline::StreamKind;
use crate::sink::shards::shard_of;

/// Rows waiting for one flush, grouped by project, and the dead records.
#[derive(Default)]
pub struct Batch {
    groups: HashMap<Vec<u8>, Group>,
    rows: usize,
    bytes: usize,
    opened: Option<Instant>,
    dead: Vec<DeadRecord>,
}

#[derive(Default)]
struct Group {
    rows: Vec<u8>,
    records: Vec<Record>,
}

/// One Kafka record's rows inside a [`Chunk`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Index of its project in [`Chunk::projects`].
    pub project: usize,
    /// Its bytes in that project's rows.
    pub range: Range<usize>,
    /// Rows it holds.
    pub rows: u32,
    /// Partition it was read from.
    pub partition: i32,
    /// Its offset there.
    pub offset: i64,
    /// The key it was read with, when not its project's (a hot project's
    /// `org/project#n`, src/edge/hot.rs): what its dead letter carries.
    pub read_as: Option<Vec<u8>>,
}

/// One project's rows in a chunk.
pub struct Project {
    /// Record key, `org/project`.
    pub key: Vec<u8>,
    /// RowBinary rows of all its records, in offset order.
    pub rows: Bytes,
}

/// The rows of at most `max_projects_per_insert` projects of one shard:
/// one INSERT.
pub struct Chunk {
    /// The shard its projects live on (`crate::sink::shards`; 0 on one server).
    pub shard: usize,
    /// Projects (partitions) in this chunk.
    pub projects: Vec<Project>,
    /// Its records, grouped by project, in offset order within a project.
    pub records: Vec<Record>,
}

/// Rows a flush wrote for one project (for `project_activity`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    /// Org.
    pub org: String,
    /// Project slug.
    pub project: String,
    /// Rows written.
    pub rows: u64,
}

impl Batch {
    /// Appends the rows of one record read from `partition` at `offset`
    /// with `read_key`, grouped under its project's key (`org/project`).
    pub fn push(&mut self, read_key: &[u8], partition: i32, offset: i64, rows: &[u8], count: u32) {
        let key = crate::sink::layout::project_key(read_key);
        let read_as = (key.len() != read_key.len()).then(|| read_key.to_vec());
        self.opened.get_or_insert_with(Instant::now);
        let group = match self.groups.get_mut(key) {
            Some(group) => group,
            None => self.groups.entry(key.to_vec()).or_default(),
        };
        let start = group.rows.len();
        group.rows.extend_from_slice(rows);
        group.records.push(Record {
            project: 0,
            range: start..group.rows.len(),
            rows: count,
            partition,
            offset,
            read_as,
        });
        self.rows += count as usize;
        self.bytes += rows.len();
    }

    /// Moves the batch's opening back to `at` when a record in it has been
    /// waiting since then (in Kafka, or while the previous flush ran), so the
    /// age bound counts from when its oldest row was published, not from
    /// when this consumer got to it.
    pub fn opened_no_later_than(&mut self, at: Instant) {
        if let Some(opened) = self.opened.as_mut() {
            *opened = (*opened).min(at);
        }
    }

    /// Holds a record that will go to the dead-letter topic at the next flush.
    pub fn push_dead(&mut self, dead: DeadRecord) {
        self.opened.get_or_insert_with(Instant::now);
        self.dead.push(dead);
    }

    /// Whether there is nothing to flush.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty() && self.dead.is_empty()
    }

    /// Rows held.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Bytes of rows held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Projects (partitions) held.
    pub fn projects(&self) -> usize {
        self.groups.len()
    }

    /// When the first record arrived (None while empty).
    pub fn opened(&self) -> Option<Instant> {
        self.opened
    }

    /// Empties the batch into INSERT-sized chunks and the dead records; a
    /// chunk holds projects of one of `shards` shards only.
    pub fn drain(
        &mut self,
        max_projects_per_insert: usize,
        shards: usize,
    ) -> (Vec<Chunk>, Vec<DeadRecord>) {
        let mut groups: Vec<(usize, Vec<u8>, Group)> = self
            .groups
            .drain()
            .map(|(key, group)| (shard_of(&key, shards), key, group))
            .collect();
        groups.sort_unstable_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let mut chunks: Vec<Chunk> = Vec::new();
        for (shard, key, group) in groups {
            let open = chunks.last().is_some_and(|c| {
                c.shard == shard && c.projects.len() < max_projects_per_insert.max(1)
            });
            if !open {
                chunks.push(Chunk {
                    shard,
                    projects: Vec::new(),
                    records: Vec::new(),
                });
            }
            // Just pushed or found open: there is a last chunk.
            let Some(chunk) = chunks.last_mut() else {
                continue;
            };
            let index = chunk.projects.len();
            chunk
                .records
                .extend(group.records.into_iter().map(|r| Record {
                    project: index,
                    ..r
                }));
            chunk.projects.push(Project {
                key,
                rows: Bytes::from(group.rows),
            });
        }
        let dead = std::mem::take(&mut self.dead);
        *self = Batch::default();
        (chunks, dead)
    }
}

impl Chunk {
    /// The bytes of `records` (a run of this chunk's records) for one INSERT;
    /// neighbours in one project's rows go as one piece.
    pub fn pieces(&self, records: &[Record]) -> Vec<Bytes> {
        let mut pieces: Vec<(usize, Range<usize>)> = Vec::new();
        for r in records {
            match pieces.last_mut() {
                Some((project, range)) if *project == r.project && range.end == r.range.start => {
                    range.end = r.range.end;
                }
                _ => pieces.push((r.project, r.range.clone())),
            }
        }
        pieces
            .into_iter()
            .map(|(project, range)| self.projects[project].rows.slice(range))
            .collect()
    }

    /// A refused record as it was read (the header rebuilt byte for byte).
    pub fn dead(&self, kind: StreamKind, record: &Record, reason: Reason) -> DeadRecord {
        let project = &self.projects[record.project];
        let mut value = Vec::with_capacity(record::HEADER_LEN + record.range.len());
        record::begin(&mut value, kind);
        value.extend_from_slice(&project.rows[record.range.clone()]);
        record::finish(&mut value, record.rows);
        DeadRecord {
            partition: record.partition,
            offset: record.offset,
            key: record
                .read_as
                .clone()
                .unwrap_or_else(|| project.key.clone()),
            value,
            reason,
        }
    }

    /// Rows written per project, leaving out the `refused` records (indexes).
    pub fn activity(&self, refused: &[usize]) -> Vec<Activity> {
        let mut rows = vec![0u64; self.projects.len()];
        for (i, r) in self.records.iter().enumerate() {
            if !refused.contains(&i) {
                rows[r.project] += u64::from(r.rows);
            }
        }
        self.projects
            .iter()
            .zip(rows)
            .filter(|(_, rows)| *rows > 0)
            .filter_map(|(p, rows)| {
                let (org, project) = crate::sink::layout::owner(&p.key);
                Some(Activity {
                    org: std::str::from_utf8(org).ok()?.to_string(),
                    project: std::str::from_utf8(project).ok()?.to_string(),
                    rows,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_insert_spans_more_projects_than_allowed() {
        let mut batch = Batch::default();
        for p in 0..250 {
            batch.push(format!("org/p{p}").as_bytes(), 0, p * 2, b"r", 1);
            batch.push(format!("org/p{p}").as_bytes(), 1, p * 2 + 1, b"s", 1);
        }
        assert_eq!(batch.projects(), 250);
        let (chunks, dead) = batch.drain(100, 1);
        assert!(dead.is_empty());
        let sizes: Vec<usize> = chunks.iter().map(|c| c.projects.len()).collect();
        assert_eq!(sizes, vec![100, 100, 50]);
        let activity: Vec<Activity> = chunks.iter().flat_map(|c| c.activity(&[])).collect();
        assert_eq!(activity.len(), 250);
        assert!(activity.iter().all(|a| a.org == "org" && a.rows == 2));
        let total: usize = chunks
            .iter()
            .flat_map(|c| c.pieces(&c.records))
            .map(|p| p.len())
            .sum();
        assert_eq!(total, 500, "every row kept");
        let pieces: usize = chunks.iter().map(|c| c.pieces(&c.records).len()).sum();
        assert_eq!(pieces, 250, "one piece per project");
        assert!(batch.is_empty());
    }

    #[test]
    fn a_chunk_holds_the_projects_of_one_shard_and_a_hot_project_stays_whole() {
        let mut batch = Batch::default();
        for p in 0..40 {
            batch.push(format!("org/p{p}").as_bytes(), 0, p, b"r", 1);
        }
        // A hot project's spread records are one project, on one shard.
        batch.push(b"org/hot#1", 0, 100, b"a", 1);
        batch.push(b"org/hot#2", 1, 100, b"b", 1);
        let (chunks, _) = batch.drain(usize::MAX, 2);
        assert_eq!(chunks.len(), 2, "one INSERT per shard");
        for chunk in &chunks {
            for project in &chunk.projects {
                assert_eq!(shard_of(&project.key, 2), chunk.shard);
            }
        }
        let hot: Vec<&Project> = chunks
            .iter()
            .flat_map(|c| &c.projects)
            .filter(|p| p.key == b"org/hot")
            .collect();
        assert_eq!(hot.len(), 1);
        assert_eq!(hot[0].rows, "ab");
        let projects: usize = chunks.iter().map(|c| c.projects.len()).sum();
        assert_eq!(projects, 41);
        // The per-INSERT bound still holds within a shard.
        let mut batch = Batch::default();
        for p in 0..40 {
            batch.push(format!("org/p{p}").as_bytes(), 0, p, b"r", 1);
        }
        let (chunks, _) = batch.drain(5, 2);
        assert!(chunks.iter().all(|c| c.projects.len() <= 5));
        assert!(chunks.len() >= 8);
    }

    #[test]
    fn a_refused_record_is_rebuilt_as_read_and_left_out_of_activity() {
        let mut batch = Batch::default();
        batch.push(b"acme/a", 0, 10, b"one", 1);
        batch.push(b"acme/a", 0, 11, b"two!", 2);
        batch.push(b"acme/b", 1, 5, b"three", 3);
        let (chunks, _) = batch.drain(100, 1);
        let chunk = &chunks[0];
        let second = &chunk.records[1];
        assert_eq!((second.partition, second.offset), (0, 11));
        assert_eq!(chunk.pieces(std::slice::from_ref(second))[0], "two!");
        let dead = chunk.dead(StreamKind::Events, second, Reason::rejected("x"));
        assert_eq!(dead.key, b"acme/a");
        assert_eq!(dead.offset, 11);
        let view = record::parse(&dead.value, StreamKind::Events).expect("a record");
        assert_eq!((view.rows, view.body), (2, &b"two!"[..]));
        let activity = chunk.activity(&[1]);
        assert_eq!(activity[0].rows, 1);
        assert_eq!(activity[1].rows, 3);
        let split = [chunk.records[0].clone(), chunk.records[2].clone()];
        let pieces = chunk.pieces(&split);
        assert_eq!(pieces, vec![Bytes::from("one"), Bytes::from("three")]);
    }

    #[test]
    fn dead_records_alone_make_a_batch_to_flush() {
        let mut batch = Batch::default();
        assert!(batch.is_empty() && batch.opened().is_none());
        batch.push_dead(DeadRecord {
            partition: 0,
            offset: 1,
            key: vec![],
            value: vec![1],
            reason: Reason::undecodable("x"),
        });
        assert!(!batch.is_empty() && batch.opened().is_some());
        let (chunks, dead) = batch.drain(100, 1);
        assert!(chunks.is_empty());
        assert_eq!(dead.len(), 1);
    }

    #[test]
    fn a_batch_opens_when_its_oldest_record_was_published() {
        let mut batch = Batch::default();
        let long_ago = Instant::now() - std::time::Duration::from_secs(3);
        batch.opened_no_later_than(long_ago);
        assert!(batch.opened().is_none(), "an empty batch has no age");
        batch.push(b"acme/a", 0, 1, b"row", 1);
        let pushed = batch.opened().expect("opened");
        batch.opened_no_later_than(long_ago);
        assert_eq!(batch.opened(), Some(long_ago));
        batch.opened_no_later_than(pushed);
        assert_eq!(batch.opened(), Some(long_ago), "never moves forward");
    }
}
