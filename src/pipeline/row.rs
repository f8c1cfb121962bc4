//! How a stream's row is declared: once, as a typed struct whose fields are
//! the table's columns in order (the spirit of Snuba's typed rows).
//!
//! [`row!`](crate::row) turns one declaration into
//! - the struct the edge fills per item, and its [`RowBinary`] writer
//!   (fields written in declaration order, nothing else);
//! - the [`Schema`]: table, column names and ClickHouse types, which the
//!   consumer's layout check walks, the INSERT names, and a unit test
//!   compares with the `CREATE TABLE` in `sql/`.
//!
//! Invariant: the writer, the layout check, the INSERT column list and the
//! migration check all read the same declaration, so adding a column is one
//! line in `src/pipeline/rows.rs` plus a migration.
//!
//! [`RowBinary`]: crate::sink::rowbinary

use crate::sink::rowbinary::RowWriter;

/// A column's ClickHouse type, as far as RowBinary cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// `String`: LEB128 length, then the bytes.
    String,
    /// `UInt8`.
    UInt8,
    /// `UInt64`, little-endian.
    UInt64,
    /// `DateTime`: `UInt32` seconds since the epoch, little-endian.
    DateTime,
}

impl ColumnType {
    /// The type's name in `CREATE TABLE`.
    pub const fn sql(self) -> &'static str {
        match self {
            ColumnType::String => "String",
            ColumnType::UInt8 => "UInt8",
            ColumnType::UInt64 => "UInt64",
            ColumnType::DateTime => "DateTime",
        }
    }

    /// Bytes of a fixed-width value; `None` for a length-prefixed string.
    pub const fn width(self) -> Option<usize> {
        match self {
            ColumnType::String => None,
            ColumnType::UInt8 => Some(1),
            ColumnType::UInt64 => Some(8),
            ColumnType::DateTime => Some(4),
        }
    }
}

/// One column of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// Its name in the table.
    pub name: &'static str,
    /// Its type.
    pub ty: ColumnType,
}

/// A stream's table and its columns, in RowBinary order.
#[derive(Debug, Clone, Copy)]
pub struct Schema {
    /// The ClickHouse table.
    pub table: &'static str,
    /// The columns, in the order rows are written.
    pub columns: &'static [Column],
    /// The column names joined with `", "`, as an INSERT names them.
    pub column_list: &'static str,
}

/// A JSON value written straight into a `String` column (no temporary
/// string): the edge writes `properties` and `attachments` from the parsed
/// request tape.
pub trait JsonText {
    /// Appends the JSON text to `out`.
    fn write_json(&self, out: &mut Vec<u8>);
}

/// Appends `s` as a quoted, escaped JSON string.
///
/// Hand-written on the hot path (a span writes a dozen attribute keys and
/// values): most strings need no escaping, and one pass that the compiler
/// vectorizes (no early exit) tells, then they are copied whole. The rest
/// go through simd-json's escaping writer, the one the edge writes parsed
/// values with. serde_json's writer, which looks at each byte, was a sixth
/// of a span's encoding (`docs/PERFORMANCE.md`, "Traces").
#[inline]
pub fn json_string(out: &mut Vec<u8>, s: &str) {
    let plain = s.bytes().fold(true, |plain, b| {
        plain & (b >= 0x20) & (b != b'"') & (b != b'\\')
    });
    if plain {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        return;
    }
    use simd_json::prelude::Writable;
    // Borrowed: no copy of `s`. Writing into a Vec cannot fail.
    let _ = simd_json::BorrowedValue::String(std::borrow::Cow::Borrowed(s)).write(out);
}

/// Writes one value of a column type; used by the code [`row!`](crate::row) generates.
#[doc(hidden)]
pub mod write {
    use super::{JsonText, RowWriter};

    #[inline]
    pub fn str(w: &mut RowWriter<'_>, v: &str) {
        w.string(v.as_bytes());
    }

    #[inline]
    pub fn json(w: &mut RowWriter<'_>, v: &dyn JsonText) {
        let _ = w.string_with(|out| {
            v.write_json(out);
            Ok::<(), ()>(())
        });
    }

    #[inline]
    pub fn u8(w: &mut RowWriter<'_>, v: u8) {
        w.u8(v);
    }

    #[inline]
    pub fn u64(w: &mut RowWriter<'_>, v: u64) {
        w.u64(v);
    }

    #[inline]
    pub fn datetime(w: &mut RowWriter<'_>, v: u32) {
        w.datetime(v);
    }
}

/// Declares a stream's row: `Name<'a> in "table" { column: Kind, ... }`,
/// where `Kind` is `Str` (`&str`), `Json` (`&dyn JsonText`, a `String`
/// column), `UInt8` (`u8`), `UInt64` (`u64`) or `DateTime` (`u32` seconds).
#[macro_export]
macro_rules! row {
    (
        $(#[$meta:meta])*
        $name:ident<$lt:lifetime> in $table:literal {
            $(#[$first_meta:meta])* $first:ident: $first_kind:ident
            $(, $(#[$field_meta:meta])* $field:ident: $kind:ident)* $(,)?
        }
    ) => {
        $(#[$meta])*
        pub struct $name<$lt> {
            $(#[$first_meta])*
            pub $first: $crate::row!(@rust $lt $first_kind),
            $($(#[$field_meta])* pub $field: $crate::row!(@rust $lt $kind),)*
        }

        impl $name<'_> {
            /// The table and its columns, in the order [`Self::write`] writes them.
            pub const SCHEMA: $crate::pipeline::row::Schema = $crate::pipeline::row::Schema {
                table: $table,
                columns: &[
                    $crate::pipeline::row::Column {
                        name: stringify!($first),
                        ty: $crate::row!(@sql $first_kind),
                    },
                    $($crate::pipeline::row::Column {
                        name: stringify!($field),
                        ty: $crate::row!(@sql $kind),
                    },)*
                ],
                column_list: concat!(stringify!($first) $(, ", ", stringify!($field))*),
            };

            /// Appends the row in RowBinary.
            #[inline]
            pub fn write(&self, w: &mut $crate::sink::rowbinary::RowWriter<'_>) {
                $crate::row!(@write w, self.$first, $first_kind);
                $($crate::row!(@write w, self.$field, $kind);)*
            }
        }
    };
    (@rust $lt:lifetime Str) => { &$lt str };
    (@rust $lt:lifetime Json) => { &$lt dyn $crate::pipeline::row::JsonText };
    (@rust $lt:lifetime UInt8) => { u8 };
    (@rust $lt:lifetime UInt64) => { u64 };
    (@rust $lt:lifetime DateTime) => { u32 };
    (@sql Str) => { $crate::pipeline::row::ColumnType::String };
    (@sql Json) => { $crate::pipeline::row::ColumnType::String };
    (@sql UInt8) => { $crate::pipeline::row::ColumnType::UInt8 };
    (@sql UInt64) => { $crate::pipeline::row::ColumnType::UInt64 };
    (@sql DateTime) => { $crate::pipeline::row::ColumnType::DateTime };
    (@write $w:ident, $v:expr, Str) => { $crate::pipeline::row::write::str($w, $v) };
    (@write $w:ident, $v:expr, Json) => { $crate::pipeline::row::write::json($w, $v) };
    (@write $w:ident, $v:expr, UInt8) => { $crate::pipeline::row::write::u8($w, $v) };
    (@write $w:ident, $v:expr, UInt64) => { $crate::pipeline::row::write::u64($w, $v) };
    (@write $w:ident, $v:expr, DateTime) => { $crate::pipeline::row::write::datetime($w, $v) };
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::json_string;

    fn written(s: &str) -> String {
        let mut out = Vec::new();
        json_string(&mut out, s);
        String::from_utf8(out).expect("UTF-8")
    }

    #[test]
    fn strings_are_escaped_as_json_requires() {
        for s in [
            "",
            "plain",
            "quote \" and \\ back",
            "tab\tnew\nline\u{1}",
            "é😀\u{2028}",
        ] {
            assert_eq!(written(s), serde_json::to_string(s).expect("json"), "{s:?}");
        }
    }

    proptest! {
        #[test]
        fn any_string_round_trips(s in any::<String>()) {
            let text = written(&s);
            prop_assert_eq!(serde_json::from_str::<String>(&text).expect("valid JSON"), s);
        }
    }
}
