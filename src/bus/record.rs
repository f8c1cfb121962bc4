//! The Kafka record format: one record per chunk of a request.
//!
//! All events of one request share org, project and stream, so a record
//! carries many of them: the key is `org/project` (partitioning keeps a
//! project's records in order), the value a 7-byte header and then the rows,
//! already encoded as ClickHouse RowBinary for the stream's column list
//! (the stream's declared row, [`crate::pipeline::rows`]). The consumer
//! therefore inserts the bytes it reads without decoding and re-encoding a
//! single field.
//!
//! The header's version names the column lists ([`VERSION`]). The consumer
//! reads the versions it knows: a record of any other version
//! is dead-lettered whole (`unknown record version`), never inserted under
//! the wrong columns, so it can be replayed. A column change therefore
//! ships in two steps: first consumers that read both the old and the new
//! version (the old one until the topics have drained of it), then edges
//! that write the new one.
//!
//! ```text
//! value = [0xD0 magic][version u8][stream tag u8][row count u32 LE][rows ...]
//! ```

use crate::pipeline::StreamKind;

/// First byte of every record.
pub const MAGIC: u8 = 0xD0;
/// Current format version: the column lists of [`crate::pipeline::rows`].
/// Version 2 added `feature_flags` and `extra` at the end of the events and
/// partial events rows, version 3 every row's expiries and the spans'
/// `body_attributes`; the consumer still reads versions 1 and 2 (records
/// written by an older edge during an upgrade) and fills the rest in
/// ([`crate::sink::layout::upgrade`]).
pub const VERSION: u8 = 3;
/// The oldest version the consumer reads.
pub const OLDEST_VERSION: u8 = 1;
/// Header length.
pub const HEADER_LEN: usize = 7;

/// Why a record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Shorter than a header, or wrong magic byte.
    #[error("not a downpour record")]
    NotARecord,
    /// A version this build does not know.
    #[error("unknown record version {0}")]
    UnknownVersion(u8),
    /// The record is for another stream than the topic's.
    #[error("record of stream {found} on a topic of stream {expected}")]
    WrongStream {
        /// The topic's stream tag.
        expected: u8,
        /// The record's stream tag.
        found: u8,
    },
    /// A header claiming no rows, or rows missing.
    #[error("record has no rows")]
    Empty,
}

/// Starts a record in `buf` (cleared); rows are appended after it.
pub fn begin(buf: &mut Vec<u8>, kind: StreamKind) {
    buf.clear();
    buf.extend_from_slice(&[MAGIC, VERSION, kind.tag(), 0, 0, 0, 0]);
}

/// Writes the row count into a record begun with [`begin`].
pub fn finish(buf: &mut [u8], rows: u32) {
    buf[3..7].copy_from_slice(&rows.to_le_bytes());
}

/// Packs rows into records of about `target` bytes each (a row is never
/// split; one large row may overshoot the target).
pub struct Packer {
    kind: StreamKind,
    target: usize,
    buf: Vec<u8>,
    rows: u32,
    records: Vec<Vec<u8>>,
}

impl Packer {
    /// A packer for `kind`'s rows, its first buffer sized for `hint` bytes.
    pub fn new(kind: StreamKind, target: usize, hint: usize) -> Packer {
        let mut buf = Vec::with_capacity(hint.min(target) + HEADER_LEN);
        begin(&mut buf, kind);
        Packer {
            kind,
            target,
            buf,
            rows: 0,
            records: Vec::new(),
        }
    }

    /// Where the next row is written.
    #[inline]
    pub fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Counts the row just written; closes the record once it is full.
    #[inline]
    pub fn row_done(&mut self) {
        self.rows += 1;
        if self.buf.len() >= self.target {
            finish(&mut self.buf, self.rows);
            self.records.push(std::mem::take(&mut self.buf));
            begin(&mut self.buf, self.kind);
            self.rows = 0;
        }
    }

    /// The records (none when no row was written).
    pub fn finish(mut self) -> Vec<Vec<u8>> {
        if self.rows > 0 {
            finish(&mut self.buf, self.rows);
            self.records.push(self.buf);
        }
        self.records
    }
}

/// A record read back by the consumer.
#[derive(Debug, Clone, Copy)]
pub struct RecordView<'a> {
    /// Its format version ([`OLDEST_VERSION`]..=[`VERSION`]).
    pub version: u8,
    /// Rows in the record.
    pub rows: u32,
    /// RowBinary rows.
    pub body: &'a [u8],
}

/// Reads a record of stream `kind`.
pub fn parse(value: &[u8], kind: StreamKind) -> Result<RecordView<'_>, RecordError> {
    if value.len() < HEADER_LEN || value[0] != MAGIC {
        return Err(RecordError::NotARecord);
    }
    let version = value[1];
    if !(OLDEST_VERSION..=VERSION).contains(&version) {
        return Err(RecordError::UnknownVersion(version));
    }
    if value[2] != kind.tag() {
        return Err(RecordError::WrongStream {
            expected: kind.tag(),
            found: value[2],
        });
    }
    let rows = u32::from_le_bytes([value[3], value[4], value[5], value[6]]);
    let body = &value[HEADER_LEN..];
    if rows == 0 || body.is_empty() {
        return Err(RecordError::Empty);
    }
    Ok(RecordView {
        version,
        rows,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut buf = Vec::new();
        begin(&mut buf, StreamKind::Signals);
        buf.extend_from_slice(b"rowbytes");
        finish(&mut buf, 3);
        let view = parse(&buf, StreamKind::Signals).expect("parses");
        assert_eq!(view.rows, 3);
        assert_eq!(view.body, b"rowbytes");
    }

    #[test]
    fn the_packer_closes_full_records_and_never_splits_a_row() {
        let mut p = Packer::new(StreamKind::Events, 20, 0);
        for _ in 0..5 {
            p.buf().extend_from_slice(b"0123456789");
            p.row_done();
        }
        let records = p.finish();
        let rows: Vec<u32> = records
            .iter()
            .map(|r| parse(r, StreamKind::Events).expect("record").rows)
            .collect();
        // 7 header bytes + 10 per row: the second row fills a record.
        assert_eq!(rows, vec![2, 2, 1]);
        assert!(Packer::new(StreamKind::Events, 20, 0).finish().is_empty());
    }

    #[test]
    fn refuses_foreign_bytes() {
        assert_eq!(
            parse(b"{}", StreamKind::Events).err(),
            Some(RecordError::NotARecord)
        );
        let mut buf = Vec::new();
        begin(&mut buf, StreamKind::Users);
        buf.push(1);
        finish(&mut buf, 1);
        assert!(matches!(
            parse(&buf, StreamKind::Events),
            Err(RecordError::WrongStream { .. })
        ));
        finish(&mut buf, 0);
        assert_eq!(
            parse(&buf, StreamKind::Users).err(),
            Some(RecordError::Empty)
        );
    }
}
