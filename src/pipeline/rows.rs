//! The row of every stream, declared once (see [`super::row`]): the edge
//! fills these structs, the consumer's layout check and the INSERT read
//! their [`Schema`](super::row::Schema), and a test holds them to `sql/`.
//!
//! Column order is the RowBinary layout of record version
//! [`crate::bus::record::VERSION`]: a new column goes last in the struct and
//! in an `ALTER TABLE ... ADD COLUMN` migration, and bumps the version.

use super::StreamKind;
use super::row::Schema;

/// Declares a row of the event shape: the `head` columns, then the columns
/// an event and a partial event's patch share (the edge fills them from one
/// event body, `event_shaped!` in `src/edge/validate/event.rs`), then the
/// `tail` columns. In a patch an empty value means "not in this patch".
macro_rules! event_shaped_row {
    (
        $(#[$meta:meta])*
        $name:ident<$lt:lifetime> in $table:literal { $($head:tt)* } then { $($tail:tt)* }
    ) => {
        crate::row! {
            $(#[$meta])*
            $name<$lt> in $table {
                $($head)*
                /// The end user.
                user_id: Str,
                /// Event name.
                event: Str,
                /// Event time, seconds (the receive time when not given).
                timestamp: DateTime,
                /// Event time, milliseconds.
                timestamp_ms: UInt64,
                /// Edge receive time, seconds.
                received_at: DateTime,
                /// `ai_data.model`.
                ai_model: Str,
                /// `ai_data.input`.
                ai_input: Str,
                /// `ai_data.output`.
                ai_output: Str,
                /// `ai_data.convo_id`.
                convo_id: Str,
                /// `properties` as JSON (`{}` for an event without them).
                properties: Json,
                /// `attachments` as JSON (`[]` for an event without them).
                attachments: Json,
                /// 1 when properties were cut to fit the item limit.
                properties_truncated: UInt8,
                $($tail)*
            }
        }
    };
}

event_shaped_row! {
    /// One row of `events` (`POST /v1/events/track`, docs/CONTRACT.md §C8).
    EventRow<'a> in "events" {
        /// Org of the key that sent it.
        org: Str,
        /// Project slug.
        project: Str,
        /// Given by the SDK, or assigned at the edge.
        event_id: Str,
    } then {
        /// `feature_flags` as JSON (`{}` when absent; added in record version 2).
        feature_flags: Json,
        /// Top-level fields downpour does not know, as a JSON object (`{}` when none; version 2).
        extra: Json,
        /// When the bodies (`ai_input`, `ai_output`, `attachments`) are emptied (version 3).
        body_expires_at: DateTime,
        /// When the row is deleted (version 3).
        expires_at: DateTime,
    }
}

crate::row! {
    /// One row of `signals` (`POST /v1/signals/track`, docs/CONTRACT.md §C9).
    SignalRow<'a> in "signals" {
        /// Org of the key that sent it.
        org: Str,
        /// Project slug.
        project: Str,
        /// Assigned at the edge.
        signal_id: Str,
        /// The event the signal is about.
        event_id: Str,
        /// Signal name.
        signal_name: Str,
        /// `signal_type` (`default` when absent).
        signal_type: Str,
        /// `POSITIVE`, `NEGATIVE` or empty.
        sentiment: Str,
        /// The attachment the signal is about, or empty.
        attachment_id: Str,
        /// Signal time, seconds.
        timestamp: DateTime,
        /// Signal time, milliseconds.
        timestamp_ms: UInt64,
        /// Edge receive time, seconds.
        received_at: DateTime,
        /// `properties` as JSON (`{}` when absent).
        properties: Json,
        /// When the row is deleted (version 3).
        expires_at: DateTime,
    }
}

crate::row! {
    /// One row of `users` (`POST /v1/users/identify`, docs/CONTRACT.md §C10); the latest version wins.
    UserRow<'a> in "users" {
        /// Org of the key that sent it.
        org: Str,
        /// Project slug.
        project: Str,
        /// The end user.
        user_id: Str,
        /// `traits` as JSON (`{}` when absent).
        traits: Json,
        /// Identify time, seconds.
        timestamp: DateTime,
        /// Identify time, milliseconds.
        timestamp_ms: UInt64,
        /// Edge receive time, seconds.
        received_at: DateTime,
        /// Edge receive time, microseconds (ReplacingMergeTree's version).
        version: UInt64,
        /// When the row is deleted (version 3).
        expires_at: DateTime,
    }
}

event_shaped_row! {
    /// One patch of a partial event (`POST /v1/events/track_partial`, §C11); empty
    /// strings mean "not in this patch", `seq` orders patches.
    PartialEventRow<'a> in "partial_events" {
        /// Org of the key that sent it.
        org: Str,
        /// Project slug.
        project: Str,
        /// The event the patch belongs to.
        event_id: Str,
        /// Assigned at the edge.
        patch_id: Str,
    } then {
        /// 0 on the final patch.
        is_pending: UInt8,
        /// Edge receive time in microseconds plus the patch's index in its request.
        seq: UInt64,
        /// `feature_flags` as JSON, empty when not in this patch (record version 2).
        feature_flags: Json,
        /// Unknown top-level fields as a JSON object, empty when none (version 2).
        extra: Json,
        /// When the patch's bodies are emptied (version 3).
        body_expires_at: DateTime,
        /// When the patch is deleted (version 3).
        expires_at: DateTime,
    }
}

crate::row! {
    /// One row of `spans` (`POST /v1/traces`, OTLP/HTTP): one span, its
    /// resource and scope flattened in; ids in lowercase hex.
    SpanRow<'a> in "spans" {
        /// Org of the key that sent it.
        org: Str,
        /// Project slug.
        project: Str,
        /// 32 hex digits.
        trace_id: Str,
        /// 16 hex digits.
        span_id: Str,
        /// 16 hex digits, or empty for a root span.
        parent_span_id: Str,
        /// W3C `tracestate`.
        trace_state: Str,
        /// Span name.
        name: Str,
        /// `internal`, `server`, `client`, `producer`, `consumer` or `unspecified`.
        kind: Str,
        /// Start, seconds (for time filters).
        start_time: DateTime,
        /// Start, nanoseconds since the epoch.
        start_time_ns: UInt64,
        /// End, nanoseconds since the epoch.
        end_time_ns: UInt64,
        /// `end_time_ns - start_time_ns` (0 when the end precedes the start).
        duration_ns: UInt64,
        /// `unset`, `ok` or `error`.
        status_code: Str,
        /// The status message.
        status_message: Str,
        /// The span's attributes as a JSON object (`{"gen_ai.request.model": "m"}`).
        attributes: Json,
        /// The resource's attributes as a JSON object (`service.name`, ...).
        resource_attributes: Json,
        /// Instrumentation scope name.
        scope_name: Str,
        /// Instrumentation scope version.
        scope_version: Str,
        /// Span events as a JSON array of `{time_ns, name, attributes}`.
        events: Json,
        /// Links as a JSON array of `{trace_id, span_id, trace_state, attributes}`.
        links: Json,
        /// The Raindrop event this span belongs to (from its attributes), or empty.
        event_id: Str,
        /// The end user (from its attributes), or empty.
        user_id: Str,
        /// The conversation (from its attributes), or empty.
        convo_id: Str,
        /// The Raindrop event name (from its attributes), or empty.
        event_name: Str,
        /// Edge receive time, seconds.
        received_at: DateTime,
        /// The payload attributes (prompts, completions, tool arguments and
        /// results: `crate::edge::otlp::span::is_body`), as a JSON object,
        /// kept apart from `attributes` so they can expire (version 3).
        body_attributes: Json,
        /// When `body_attributes` is emptied (version 3).
        body_expires_at: DateTime,
        /// When the row is deleted (version 3).
        expires_at: DateTime,
    }
}

/// Columns each record version added at the end of a stream's row: version
/// 2 `feature_flags` and `extra` (events, partial events); version 3 the
/// expiries (every stream) and the spans' `body_attributes`.
fn added_in(kind: StreamKind, version: u8) -> usize {
    match (kind, version) {
        (StreamKind::Events | StreamKind::PartialEvents, 2 | 3) => 2,
        (StreamKind::Signals | StreamKind::Users, 3) => 1,
        (StreamKind::Spans, 3) => 3,
        _ => 0,
    }
}

/// An expiry no edge stamped (RowBinary `DateTime` 0): the row expires by
/// the default retention counted from its `received_at`
/// ([`crate::sink::retention`]).
const UNSTAMPED: &[u8] = b"\0\0\0\0";

impl StreamKind {
    /// The columns a record of format `version` carries, in order.
    pub fn columns_in(self, version: u8) -> &'static [super::row::Column] {
        let all = self.schema().columns;
        let later: usize = (version + 1..=crate::bus::record::VERSION)
            .map(|v| added_in(self, v))
            .sum();
        &all[..all.len() - later]
    }

    /// What each row of a record of `version` lacks, as RowBinary, to be a
    /// row of today's layout; `None` when nothing. Version 1 events get
    /// `{}` for `feature_flags` and `extra`, version 1 patches "not in this
    /// patch" (""); rows before version 3 get unstamped expiries (0, the
    /// defaults apply) and spans an empty `body_attributes` (their payload
    /// attributes stay in `attributes`, which never expires).
    pub fn upgrade_tail(self, version: u8) -> Option<Vec<u8>> {
        if version >= crate::bus::record::VERSION {
            return None;
        }
        let mut tail = Vec::new();
        if version < 2 {
            match self {
                StreamKind::Events => tail.extend_from_slice(b"\x02{}\x02{}"),
                StreamKind::PartialEvents => tail.extend_from_slice(b"\x00\x00"),
                _ => {}
            }
        }
        match self {
            StreamKind::Events | StreamKind::PartialEvents => {
                tail.extend_from_slice(UNSTAMPED);
                tail.extend_from_slice(UNSTAMPED);
            }
            StreamKind::Signals | StreamKind::Users => tail.extend_from_slice(UNSTAMPED),
            StreamKind::Spans => {
                tail.extend_from_slice(b"\x02{}");
                tail.extend_from_slice(UNSTAMPED);
                tail.extend_from_slice(UNSTAMPED);
            }
        }
        Some(tail)
    }

    /// The stream's row schema.
    pub fn schema(self) -> &'static Schema {
        match self {
            StreamKind::Events => &EventRow::SCHEMA,
            StreamKind::Signals => &SignalRow::SCHEMA,
            StreamKind::Users => &UserRow::SCHEMA,
            StreamKind::PartialEvents => &PartialEventRow::SCHEMA,
            StreamKind::Spans => &SpanRow::SCHEMA,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::row::{Column, ColumnType};
    use super::*;
    use crate::sink::schema::{MIGRATIONS, statements};

    fn ty(sql: &str) -> ColumnType {
        match sql {
            "String" => ColumnType::String,
            "UInt8" => ColumnType::UInt8,
            "UInt64" => ColumnType::UInt64,
            "DateTime" => ColumnType::DateTime,
            other => panic!("no RowBinary layout for type {other}"),
        }
    }

    /// The table's columns after every migration: its `CREATE TABLE`, then
    /// each `ALTER TABLE t ADD COLUMN [IF NOT EXISTS] name Type`.
    fn migrated_columns(table: &str) -> Vec<(String, ColumnType)> {
        let create = format!("CREATE TABLE IF NOT EXISTS {table} (");
        let alter = format!("ALTER TABLE {table} ADD COLUMN ");
        let mut columns = Vec::new();
        for (_, sql) in MIGRATIONS {
            for stmt in statements(sql) {
                if let Some(rest) = stmt.strip_prefix(&create) {
                    let body = &rest[..rest.find(") ENGINE").expect("table end")];
                    for line in body.lines() {
                        let mut words = line.trim().trim_end_matches(',').split_whitespace();
                        if let (Some(name), Some(t)) = (words.next(), words.next()) {
                            columns.push((name.to_string(), ty(t)));
                        }
                    }
                } else if let Some(rest) = stmt.strip_prefix(&alter) {
                    let rest = rest.trim_start_matches("IF NOT EXISTS ");
                    // Computed by the server (`MATERIALIZED expr`): not in the row.
                    if rest.contains(" MATERIALIZED ") {
                        continue;
                    }
                    let mut words = rest.split_whitespace();
                    let (name, t) = (words.next().expect("name"), words.next().expect("type"));
                    columns.push((name.to_string(), ty(t)));
                }
            }
        }
        columns
    }

    #[test]
    fn every_row_matches_its_table_in_sql() {
        for kind in StreamKind::ALL {
            let schema = kind.schema();
            let declared: Vec<(String, ColumnType)> = schema
                .columns
                .iter()
                .map(|c| (c.name.to_string(), c.ty))
                .collect();
            assert_eq!(declared, migrated_columns(schema.table), "{}", schema.table);
        }
    }

    /// The consumer's layout check compares the first two columns with the
    /// record key (`src/sink/layout.rs`).
    #[test]
    fn every_row_leads_with_org_and_project() {
        for kind in StreamKind::ALL {
            let lead: Vec<_> = kind.schema().columns.iter().take(2).copied().collect();
            let want = ["org", "project"].map(|name| Column {
                name,
                ty: ColumnType::String,
            });
            assert_eq!(lead, want, "{}", kind.name());
        }
    }

    #[test]
    fn column_list_names_every_column_in_order() {
        for kind in StreamKind::ALL {
            let schema = kind.schema();
            let names: Vec<&str> = schema.columns.iter().map(|c: &Column| c.name).collect();
            assert_eq!(schema.column_list, names.join(", "));
        }
    }

    #[test]
    fn write_follows_the_declaration() {
        struct Text(&'static str);
        impl super::super::row::JsonText for Text {
            fn write_json(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(self.0.as_bytes());
            }
        }
        let mut buf = Vec::new();
        UserRow {
            org: "o",
            project: "p",
            user_id: "u",
            traits: &Text("{}"),
            timestamp: 1,
            timestamp_ms: 2,
            received_at: 3,
            version: 4,
            expires_at: 5,
        }
        .write(&mut crate::sink::rowbinary::RowWriter::new(&mut buf));
        let mut expected = vec![
            1, b'o', 1, b'p', 1, b'u', 0x82, 0x80, 0x80, 0x00, b'{', b'}',
        ];
        expected.extend_from_slice(&1u32.to_le_bytes());
        expected.extend_from_slice(&2u64.to_le_bytes());
        expected.extend_from_slice(&3u32.to_le_bytes());
        expected.extend_from_slice(&4u64.to_le_bytes());
        expected.extend_from_slice(&5u32.to_le_bytes());
        assert_eq!(buf, expected);
        assert_eq!(
            crate::sink::layout::check(StreamKind::Users, &buf, 1, b"o/p"),
            Ok(())
        );
    }
}
