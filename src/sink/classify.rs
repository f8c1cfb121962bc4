//! Sorting a failed ClickHouse write into what the consumer should do next.
//!
//! * [`Failure::Data`]: ClickHouse refused the bytes themselves (it could
//!   not parse them, or a value is invalid for the table). Retrying the same
//!   bytes fails forever, so the batch is bisected by record and the
//!   refused records are dead-lettered.
//! * [`Failure::Pressure`]: the server is overloaded ("too many parts",
//!   memory limit, too many queries, a timeout). Retry the same batch after a
//!   backoff and slow down (bigger, older batches).
//! * [`Failure::Unavailable`]: anything else (connection refused, a 5xx
//!   without a data error, a missing table). Retry after a backoff.
//!
//! Invariant: only an error that names the data is [`Failure::Data`]; an
//! unknown error blocks and retries, because dead-lettering good records on
//! an operator's mistake (a dropped table) would lose them from ClickHouse.
//!
//! ClickHouse 18.16 answers every one of these with HTTP 500 and a body
//! `Code: N, e.displayText() = DB::Exception: ...`, so the code decides.
//! Garbage RowBinary sent to 18.16 is answered with code 33 (`Cannot read
//! all data`) — checked by sending truncated rows, an oversized length and
//! random bytes to the test server.

/// What to do about a failed write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The data is refused: bisect and dead-letter the refused records.
    Data,
    /// The server is overloaded: back off and grow the batches.
    Pressure,
    /// The server is unreachable or failing: back off.
    Unavailable,
}

impl Failure {
    /// The `kind` label of [`crate::telemetry::catalogue::Counter::InsertRetries`].
    pub fn label(self) -> &'static str {
        match self {
            Failure::Data => "data",
            Failure::Pressure => "pressure",
            Failure::Unavailable => "unavailable",
        }
    }
}

/// Error codes that mean "these bytes cannot be stored" (ClickHouse's
/// `ErrorCodes.cpp`): parse failures, short reads, type and size errors, and
/// an expression of the table refusing a value (`throwIf`).
const DATA_CODES: &[u32] = &[
    6,   // CANNOT_PARSE_TEXT
    26,  // CANNOT_PARSE_QUOTED_STRING
    27,  // CANNOT_PARSE_INPUT_ASSERTION_FAILED
    32,  // ATTEMPT_TO_READ_AFTER_EOF
    33,  // CANNOT_READ_ALL_DATA
    38,  // CANNOT_PARSE_DATE
    41,  // CANNOT_PARSE_DATETIME
    53,  // TYPE_MISMATCH
    69,  // ARGUMENT_OUT_OF_BOUND
    70,  // CANNOT_CONVERT_TYPE
    72,  // CANNOT_PARSE_NUMBER
    117, // INCORRECT_DATA
    131, // TOO_LARGE_STRING_SIZE
    395, // FUNCTION_THROW_IF_VALUE_IS_NON_ZERO
];

/// Error codes of an overloaded server.
const PRESSURE_CODES: &[u32] = &[
    159, // TIMEOUT_EXCEEDED
    164, // READONLY (the user's `readonly` setting; a read-only replicated table is 242, unavailable)
    202, // TOO_MANY_SIMULTANEOUS_QUERIES
    209, // SOCKET_TIMEOUT
    241, // MEMORY_LIMIT_EXCEEDED
    252, // TOO_MANY_PARTS
];

/// Classifies a failed write.
pub fn classify(error: &clickhouse::error::Error) -> Failure {
    use clickhouse::error::Error;
    match error {
        Error::TimedOut => Failure::Pressure,
        Error::BadResponse(text) => classify_text(text),
        _ => Failure::Unavailable,
    }
}

/// Classifies a server's error text.
pub fn classify_text(text: &str) -> Failure {
    // Newer servers refuse an INSERT spanning too many partitions with code
    // 252 too; that is the batch's shape, not load, and bisection splits it.
    if text.contains("Too many partitions for single INSERT block") {
        return Failure::Data;
    }
    match code(text) {
        Some(c) if DATA_CODES.contains(&c) => Failure::Data,
        Some(c) if PRESSURE_CODES.contains(&c) => Failure::Pressure,
        _ => Failure::Unavailable,
    }
}

/// The `N` of `Code: N` in a ClickHouse error text.
pub fn code(text: &str) -> Option<u32> {
    let rest = &text[text.find("Code: ")? + "Code: ".len()..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clickhouse::error::Error;

    #[test]
    fn answers_of_clickhouse_18_16() {
        // Verbatim answers of the test server to garbage RowBinary.
        let short = "Code: 33, e.displayText() = DB::Exception: Cannot read all data. \
                     Bytes read: 2. Bytes expected: 8.: (at row 1)\n, e.what() = DB::Exception";
        assert_eq!(code(short), Some(33));
        assert_eq!(classify(&Error::BadResponse(short.into())), Failure::Data);
        let throw = "Code: 395, e.displayText() = DB::Exception: Value passed to 'throwIf' function is non zero";
        assert_eq!(classify_text(throw), Failure::Data);
        let parts = "Code: 252, e.displayText() = DB::Exception: Too many parts (300). \
                     Merges are processing significantly slower than inserts.";
        assert_eq!(classify_text(parts), Failure::Pressure);
        let memory =
            "Code: 241, e.displayText() = DB::Exception: Memory limit (for query) exceeded";
        assert_eq!(classify_text(memory), Failure::Pressure);
    }

    #[test]
    fn unknown_and_network_errors_block_instead_of_dead_lettering() {
        let table = "Code: 60, e.displayText() = DB::Exception: Table t.events doesn't exist.";
        assert_eq!(classify_text(table), Failure::Unavailable);
        assert_eq!(classify_text("bad gateway"), Failure::Unavailable);
        assert_eq!(classify_text("Code: x"), Failure::Unavailable);
        assert_eq!(classify(&Error::TimedOut), Failure::Pressure);
        let io = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(
            classify(&Error::Network(Box::new(io))),
            Failure::Unavailable
        );
    }

    #[test]
    fn too_many_partitions_is_the_batch_not_the_load() {
        let text = "Code: 252. DB::Exception: Too many partitions for single INSERT block (more than 100).";
        assert_eq!(classify_text(text), Failure::Data);
    }
}
