//! The RowBinary reader the edge's unit tests decode encoded requests with
//! (test builds only), and its own test. It takes column names from the
//! stream's declared row and types from the `CREATE TABLE` in `sql/`,
//! independently of the writer.

use serde_json::Value as Json;

use super::StreamKind;
use crate::bus::record;
use crate::sink::schema;

/// One decoded value.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Str(String),
    U8(u8),
    U64(u64),
    DateTime(u32),
}

/// One decoded row: columns by name, and its size in bytes.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    cells: Vec<(String, Cell)>,
    pub(crate) len: usize,
}

impl Row {
    fn cell(&self, name: &str) -> &Cell {
        self.cells
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c)
            .unwrap_or_else(|| panic!("no column {name} in {:?}", self.cells))
    }

    pub(crate) fn str(&self, name: &str) -> &str {
        match self.cell(name) {
            Cell::Str(s) => s,
            other => panic!("{name} is {other:?}, not a String"),
        }
    }

    pub(crate) fn u8(&self, name: &str) -> u8 {
        match self.cell(name) {
            Cell::U8(v) => *v,
            other => panic!("{name} is {other:?}, not a UInt8"),
        }
    }

    pub(crate) fn u64(&self, name: &str) -> u64 {
        match self.cell(name) {
            Cell::U64(v) => *v,
            other => panic!("{name} is {other:?}, not a UInt64"),
        }
    }

    pub(crate) fn datetime(&self, name: &str) -> u32 {
        match self.cell(name) {
            Cell::DateTime(v) => *v,
            other => panic!("{name} is {other:?}, not a DateTime"),
        }
    }

    pub(crate) fn json(&self, name: &str) -> Json {
        let s = self.str(name);
        serde_json::from_str(s).unwrap_or_else(|e| panic!("{name} is not JSON ({e}): {s}"))
    }
}

#[derive(Debug, Clone, Copy)]
enum Ty {
    Str,
    U8,
    U64,
    DateTime,
}

/// Column names from the stream's declared row, types from the `CREATE TABLE`
/// in the migration (so the reader follows the real table, not the writer).
fn layout(kind: StreamKind) -> Vec<(String, Ty)> {
    let head = format!("CREATE TABLE IF NOT EXISTS {} (", kind.name());
    let sql = schema::MIGRATIONS
        .iter()
        .map(|(_, sql)| *sql)
        .find(|sql| sql.contains(&head))
        .expect("table in sql");
    let start = sql.find(&head).expect("table in sql") + head.len();
    let end = start + sql[start..].find(") ENGINE").expect("table end");
    let mut types: Vec<(&str, &str)> = sql[start..end]
        .lines()
        .filter_map(|l| {
            let mut words = l.trim().trim_end_matches(',').split_whitespace();
            Some((words.next()?, words.next()?))
        })
        .collect();
    // Columns added later: `ALTER TABLE <table> ADD COLUMN name Type ...`.
    let alter = format!("ALTER TABLE {} ADD COLUMN ", kind.name());
    for (_, sql) in schema::MIGRATIONS {
        for line in sql
            .lines()
            .filter_map(|l| l.trim().strip_prefix(alter.as_str()))
        {
            let mut words = line.split_whitespace();
            if let (Some(name), Some(ty)) = (words.next(), words.next()) {
                types.push((name, ty.trim_end_matches(';')));
            }
        }
    }
    kind.schema()
        .columns
        .iter()
        .map(|c| c.name)
        .map(|name| {
            let ty = types
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, t)| *t)
                .unwrap_or_else(|| panic!("column {name} not in sql"));
            let ty = match ty {
                "String" => Ty::Str,
                "UInt8" => Ty::U8,
                "UInt64" => Ty::U64,
                "DateTime" => Ty::DateTime,
                other => panic!("reader does not know type {other}"),
            };
            (name.to_string(), ty)
        })
        .collect()
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let end = self.at.checked_add(n).expect("length overflow");
        assert!(
            end <= self.bytes.len(),
            "row data ends early: need {n} bytes at {}, have {}",
            self.at,
            self.bytes.len()
        );
        let out = &self.bytes[self.at..end];
        self.at = end;
        out
    }

    fn varint(&mut self) -> u64 {
        let mut v = 0u64;
        for i in 0..10 {
            let b = self.take(1)[0];
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return v;
            }
        }
        panic!("varint longer than 10 bytes");
    }

    fn string(&mut self) -> String {
        let n = usize::try_from(self.varint()).expect("length fits usize");
        String::from_utf8(self.take(n).to_vec()).expect("String columns hold UTF-8")
    }

    fn u8(&mut self) -> u8 {
        self.take(1)[0]
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take(4).try_into().expect("4 bytes"))
    }

    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take(8).try_into().expect("8 bytes"))
    }
}

/// Checks each record's header and decodes all rows, in order.
pub(crate) fn decode(kind: StreamKind, records: &[Vec<u8>]) -> Vec<Row> {
    let layout = layout(kind);
    let mut rows = Vec::new();
    for value in records {
        assert_eq!(value[0], 0xD0, "magic");
        assert_eq!(value[1], record::VERSION, "version");
        assert_eq!(value[2], kind.tag(), "stream tag");
        let view = record::parse(value, kind).expect("a valid record");
        let mut r = Reader {
            bytes: view.body,
            at: 0,
        };
        for _ in 0..view.rows {
            let start = r.at;
            let cells = layout
                .iter()
                .map(|(name, ty)| {
                    let cell = match ty {
                        Ty::Str => Cell::Str(r.string()),
                        Ty::U8 => Cell::U8(r.u8()),
                        Ty::U64 => Cell::U64(r.u64()),
                        Ty::DateTime => Cell::DateTime(r.u32()),
                    };
                    (name.clone(), cell)
                })
                .collect();
            rows.push(Row {
                cells,
                len: r.at - start,
            });
        }
        assert_eq!(r.at, view.body.len(), "record has bytes after its rows");
    }
    rows
}

#[test]
fn reader_reads_padded_and_multibyte_lengths() {
    use crate::sink::rowbinary::RowWriter;
    let mut buf = Vec::new();
    let mut w = RowWriter::new(&mut buf);
    w.string(&[b'a'; 300]);
    let _ = w.string_with(|out| {
        out.extend_from_slice(b"{}");
        Ok::<(), ()>(())
    });
    w.u64(u64::MAX - 1);
    let mut r = Reader { bytes: &buf, at: 0 };
    assert_eq!(r.string().len(), 300);
    assert_eq!(r.string(), "{}");
    assert_eq!(r.u64(), u64::MAX - 1);
    assert_eq!(r.at, buf.len());
}
