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
    groups: HashMap<Vec<u8>, Group>,
    rows: usize,
    bytes: usize,
    opened: Option<Instant>,
}

#[derive(Default)]
struct Group {
    rows: Vec<u8>,
    count: u64,
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
        let group = match self.groups.get_mut(key) {
            Some(group) => group,
            None => self.groups.entry(key.to_vec()).or_default(),
        };
        group.rows.extend_from_slice(rows);
        group.count += u64::from(count);
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

    /// Empties the batch into INSERT-sized chunks, and the rows per project.
    pub fn drain(&mut self, policy: &BatchPolicy) -> (Vec<Chunk>, Vec<Activity>) {
        let mut groups: Vec<(Vec<u8>, Group)> = self.groups.drain().collect();
        groups.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let activity = groups
            .iter()
            .filter_map(|(key, group)| {
                let (org, project) = std::str::from_utf8(key).ok()?.split_once('/')?;
                Some(Activity {
                    org: org.to_string(),
                    project: project.to_string(),
                    rows: group.count,
                })
            })
            .collect();
        let per_insert = policy.max_projects_per_insert.max(1);
        let mut chunks = Vec::new();
        let mut groups = groups.into_iter().peekable();
        while groups.peek().is_some() {
            let pieces: Vec<Bytes> = groups
                .by_ref()
                .take(per_insert)
                .map(|(_, g)| Bytes::from(g.rows))
                .collect();
            chunks.push(Chunk {
                projects: pieces.len(),
                pieces,
            });
        }
        *self = Batch::default();
        (chunks, activity)
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
        let (chunks, activity) = batch.drain(&policy(100));
        assert_eq!(activity.len(), 250);
        assert!(activity.iter().all(|a| a.org == "org" && a.rows == 2));
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
