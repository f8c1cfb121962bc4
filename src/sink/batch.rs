//! Accumulates RowBinary rows per project until a bound is reached.
//!
//! Rows arrive pre-encoded in Kafka records and are only appended here: the
//! consumer never decodes a field. Grouping by the record key (`org/project`)
//! lets a flush split into INSERTs of at most `max_projects_per_insert`
//! partitions each, while the age bound flushes small projects on time: all
//! projects of a batch flush together, so the INSERT rate per table is set by
//! the batch bounds, not by how many projects there are.

use std::collections::HashMap;
use std::time::Instant;

use bytes::Bytes;

use crate::pipeline::BatchPolicy;

/// Rows waiting for one INSERT, grouped by project.
#[derive(Default)]
pub struct Batch {
    groups: HashMap<Vec<u8>, Vec<u8>>,
    rows: usize,
    bytes: usize,
    opened: Option<Instant>,
}

/// The rows of at most `max_projects_per_insert` projects: one INSERT.
pub struct Chunk {
    /// RowBinary data, one piece per project.
    pub pieces: Vec<Bytes>,
    /// Projects (partitions) in this chunk.
    pub projects: usize,
}

impl Batch {
    /// Appends the rows of one record.
    pub fn push(&mut self, key: &[u8], rows: &[u8], count: u32) {
        self.opened.get_or_insert_with(Instant::now);
        match self.groups.get_mut(key) {
            Some(group) => group.extend_from_slice(rows),
            None => {
                self.groups.insert(key.to_vec(), rows.to_vec());
            }
        }
        self.rows += count as usize;
        self.bytes += rows.len();
    }

    /// Whether there is nothing to flush.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Rows held.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Whether a size bound is reached.
    pub fn is_full(&self, policy: &BatchPolicy) -> bool {
        self.rows >= policy.max_rows || self.bytes >= policy.max_bytes
    }

    /// When the age bound is reached (None while empty).
    pub fn deadline(&self, policy: &BatchPolicy) -> Option<Instant> {
        self.opened.map(|t| t + policy.max_age())
    }

    /// Empties the batch into INSERT-sized chunks.
    pub fn drain(&mut self, policy: &BatchPolicy) -> Vec<Chunk> {
        let mut groups: Vec<(Vec<u8>, Vec<u8>)> = self.groups.drain().collect();
        groups.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let per_insert = policy.max_projects_per_insert.max(1);
        let chunks = groups
            .chunks(per_insert)
            .map(|part| Chunk {
                projects: part.len(),
                pieces: part
                    .iter()
                    .map(|(_, rows)| Bytes::copy_from_slice(rows))
                    .collect(),
            })
            .collect();
        *self = Batch::default();
        chunks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max_projects: usize) -> BatchPolicy {
        BatchPolicy {
            max_rows: 10,
            max_bytes: 1 << 20,
            max_age_ms: 100,
            max_projects_per_insert: max_projects,
        }
    }

    #[test]
    fn no_insert_spans_more_projects_than_allowed() {
        let mut batch = Batch::default();
        for p in 0..250 {
            batch.push(format!("org/p{p}").as_bytes(), b"r", 1);
            batch.push(format!("org/p{p}").as_bytes(), b"s", 1);
        }
        let chunks = batch.drain(&policy(100));
        let sizes: Vec<usize> = chunks.iter().map(|c| c.projects).collect();
        assert_eq!(sizes, vec![100, 100, 50]);
        let total: usize = chunks.iter().flat_map(|c| &c.pieces).map(|p| p.len()).sum();
        assert_eq!(total, 500, "every row kept");
        assert!(batch.is_empty());
    }

    #[test]
    fn bounds() {
        let mut batch = Batch::default();
        assert!(batch.deadline(&policy(1)).is_none());
        batch.push(b"k", b"x", 9);
        assert!(!batch.is_full(&policy(1)));
        assert!(batch.deadline(&policy(1)).is_some());
        batch.push(b"k", b"x", 1);
        assert!(batch.is_full(&policy(1)));
    }
}
