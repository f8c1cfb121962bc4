//! Every metric downpour exports, in one place (like Sentry Relay's
//! `statsd.rs`): its name, kind, labels, meaning and, for histograms, its
//! buckets.
//!
//! Invariants: names are unique and start with `downpour_`; counters end in
//! `_total`; a metric is only ever recorded through its constructor here
//! (`Counter::edge_requests(stream, status)`), so it always has the same
//! label keys. Label values are low-cardinality (streams, status codes,
//! reasons, topics, partitions), never org or project ids. A consumer
//! metric carries `topic` (with its prefix) so two consumers of one stream
//! in one process keep apart series. The README's "Metrics"
//! table lists the same rows for operators (a unit test keeps them equal).
//!
//! To add a metric: add a declaration at the end of its kind, then a row to
//! the README table.

use super::declare::metric_kind;

/// Seconds one ingest request takes: auth, body, validation and the Kafka
/// acknowledgement (acks=all), up to the 30 s request deadline.
const EDGE_REQUEST_SECONDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Seconds one ClickHouse INSERT takes, from a small batch to a large one
/// on a loaded server.
const CONSUMER_WRITE_SECONDS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

metric_kind! {
    /// Counters: totals since the process started.
    pub enum Counter: counter -> ::metrics::Counter {
        /// Ingest requests answered by the ingest handler (a request cut by
        /// the deadline counts in `downpour_edge_request_timeouts_total`
        /// instead). Labels: `stream` (the pipeline: `events`, `signals`,
        /// `users`, `partial_events`) and `status` (the HTTP status code
        /// answered, `204` when accepted).
        EdgeRequests = "downpour_edge_requests_total",
        fn edge_requests(stream, status),
        "Ingest requests answered, by stream and HTTP status.";

        /// Items (events, signals...) in accepted requests. Labels: `stream`.
        EdgeItems = "downpour_edge_items_total",
        fn edge_items(stream),
        "Items in accepted ingest requests, by stream.";

        /// Requests answered 503 because the bodies in flight already hold
        /// `edge.max_inflight_body_bytes`. No labels.
        EdgeBodyBudgetExhausted = "downpour_edge_body_budget_exhausted_total",
        fn edge_body_budget_exhausted(),
        "Ingest requests refused (503) because request bodies in flight hold the whole memory budget.";

        /// Accepted items whose `properties` were cut to fit the item size
        /// limit (marked `"$truncated": true`). No labels.
        EdgeTruncatedItems = "downpour_edge_truncated_items_total",
        fn edge_truncated_items(),
        "Accepted items whose properties were truncated to fit the size limit.";

        /// Connections answered 429 and closed because their source address
        /// already held `edge.max_connections_per_source`. No labels.
        EdgeConnectionsRefused = "downpour_edge_connections_refused_total",
        fn edge_connections_refused(),
        "Connections refused (429) because their source address held its share of connection slots.";

        /// Requests answered 429 by a project's `rate_limit_rpm`. No labels.
        EdgeRateLimited = "downpour_edge_rate_limited_total",
        fn edge_rate_limited(),
        "Ingest requests refused (429) by a project's rate limit.";

        /// Browser requests answered 403 because their `Origin` is not in
        /// the project's `allowed_origins`. No labels.
        EdgeOriginRefused = "downpour_edge_origin_refused_total",
        fn edge_origin_refused(),
        "Ingest requests refused (403) because the page's origin is not in the project's allowed_origins.";

        /// Requests answered 408 because they did not complete within
        /// `edge.request_timeout_ms`. No labels.
        EdgeRequestTimeouts = "downpour_edge_request_timeouts_total",
        fn edge_request_timeouts(),
        "Requests answered 408 for not completing within the request deadline.";

        /// Kafka producers replaced after a fatal error (fenced, lost
        /// producer id). No labels.
        ProducerReplaced = "downpour_producer_replaced_total",
        fn producer_replaced(),
        "Kafka producers replaced after a fatal error.";

        /// Publishes refused because librdkafka's local queue is full
        /// (`kafka.queue_max_kbytes`); the request is answered 503. No labels.
        ProducerQueueFull = "downpour_producer_queue_full_total",
        fn producer_queue_full(),
        "Publishes refused because the producer's local queue is full.";

        /// Failed ClickHouse INSERTs. Labels: `stream`, `kind` (`data`:
        /// rows refused, bisected and dead-lettered, not retried;
        /// `pressure`: too many parts or overload, retried with larger
        /// batches; `unavailable`: unreachable or failing, retried) and
        /// `topic` (the topic read, with its prefix).
        InsertRetries = "downpour_insert_retries_total",
        fn insert_retries(stream, kind, topic),
        "Failed ClickHouse INSERTs, by stream and kind of failure (data, pressure, unavailable).";

        /// Records published to the dead-letter topic. Labels: `stream`,
        /// `reason` (`undecodable`: the consumer cannot read the record;
        /// `rejected`: ClickHouse refused its rows) and `topic` (the topic
        /// the record was read from).
        DeadLetter = "downpour_dead_letter_total",
        fn dead_letter(stream, reason, topic),
        "Records sent to the dead-letter topic, by stream and reason (undecodable, rejected).";

        /// Failed publishes to the dead-letter topic (each is retried; the
        /// offset waits). Labels: `stream` and `topic` (the topic read).
        DeadLetterErrors = "downpour_dead_letter_errors_total",
        fn dead_letter_errors(stream, topic),
        "Failed publishes to the dead-letter topic (retried), by stream.";

        /// Rows written to ClickHouse (offsets committed after). Labels:
        /// `stream` and `topic` (the topic read).
        ConsumerRows = "downpour_consumer_rows_total",
        fn consumer_rows(stream, topic),
        "Rows written to ClickHouse, by stream.";

        /// Lookups answered from the last registry data this process loaded
        /// because the registry (ClickHouse) could not be read. Labels:
        /// `what`: `key` (an API key's record) or `project` (an org's
        /// projects, for the project check).
        RegistryStale = "downpour_registry_stale_total",
        fn registry_stale(what),
        "Registry lookups served from the last loaded data because the registry was unreachable, by what (key, project).";

        /// New project slugs refused. Labels: `reason`: `pending_limit` (the
        /// org already has its limit of slugs with data but no project).
        RegistryRefused = "downpour_registry_refused_total",
        fn registry_refused(reason),
        "New project slugs refused, by reason (pending_limit).";

        /// New project slugs recorded as pending (data arrived before the
        /// project was created). No labels.
        RegistryPendingRecorded = "downpour_registry_pending_recorded_total",
        fn registry_pending_recorded(),
        "New project slugs recorded as pending (data before the project exists).";

        /// Consumer group members the stall watchdog replaced (no progress
        /// for `consumer.stall_timeout_ms`; their uncommitted batch is read
        /// again). Labels: `stream` and `topic` (the topic read).
        ConsumerRecreated = "downpour_consumer_recreated_total",
        fn consumer_recreated(stream, topic),
        "Consumer group members recreated by the stall watchdog, by stream.";
        /// A pipeline's consumer moved to the next group epoch because its
        /// group never formed again, or a dead member the broker kept held
        /// partitions nobody read (src/bus/group.rs, src/sink/watchdog.rs);
        /// counted in the process that moved or followed. Labels: `stream`,
        /// `topic`.
        ConsumerRegrouped = "downpour_consumer_regrouped_total",
        fn consumer_regrouped(stream, topic),
        "Consumer group moves to a fresh group (a wedged group left), by stream.";

        /// Rows a retention sweep found expired and issued a mutation for
        /// (ClickHouse 18.16: src/sink/retention.rs). Labels: `sweep`
        /// (`bodies`: emptied, `rows`: deleted) and `table`.
        RetentionRows = "downpour_retention_rows_total",
        fn retention_rows(sweep, table),
        "Expired rows a retention sweep emptied the bodies of or deleted, by sweep and table.";

        /// Retention sweeps that failed (ClickHouse unreachable or refusing);
        /// the next interval retries. Labels: `sweep`.
        RetentionErrors = "downpour_retention_errors_total",
        fn retention_errors(sweep),
        "Retention sweeps that failed, by sweep.";

        /// Tables a retention sweep left alone because an earlier mutation
        /// of theirs is still running (`system.mutations`); one that rises
        /// every interval is a stuck mutation. Labels: `sweep`, `table`.
        RetentionBusy = "downpour_retention_busy_total",
        fn retention_busy(sweep, table),
        "Tables a retention sweep skipped because an earlier mutation is still running, by sweep and table.";

        /// Ingest requests whose records the edge wrote to its spool (the
        /// broker did not take them in time, or earlier ones still wait
        /// there) and answered 204 (src/bus/spool.rs). No labels.
        EdgeSpooledRequests = "downpour_edge_spooled_requests_total",
        fn edge_spooled_requests(),
        "Ingest requests answered 204 from the edge's spool (records on local disk, not yet in Kafka).";

        /// Spooled requests whose records the forwarder published to Kafka
        /// and the broker acknowledged. No labels.
        EdgeSpoolForwardedRequests = "downpour_edge_spool_forwarded_requests_total",
        fn edge_spool_forwarded_requests(),
        "Spooled ingest requests forwarded to Kafka and acknowledged.";

        /// Requests answered 503 because the spool holds
        /// `edge.spool_max_bytes`. No labels.
        EdgeSpoolFull = "downpour_edge_spool_full_total",
        fn edge_spool_full(),
        "Ingest requests refused (503) because the edge's spool is full.";

        /// Spool files set aside (`<n>.rejected`) instead of forwarded:
        /// gone, unreadable, or refused by Kafka for good. Their requests
        /// were answered 204 and are not in Kafka: page on any. No labels.
        EdgeSpoolRejectedFiles = "downpour_edge_spool_rejected_files_total",
        fn edge_spool_rejected_files(),
        "Spool files set aside unforwarded (gone, unreadable, or refused by Kafka for good).";

        /// Writes (an INSERT, or project activity) a replica of a ClickHouse
        /// shard failed for another reason than the data, sent to the
        /// shard's next replica (`clickhouse.shards`). Labels: `shard` (its
        /// index in `clickhouse.shards`, or `all` for project activity,
        /// which any server takes).
        ClickhouseReplicaFailovers = "downpour_clickhouse_replica_failovers_total",
        fn clickhouse_replica_failovers(shard),
        "ClickHouse writes a replica failed, sent to the shard's next replica.";
    }
}

metric_kind! {
    /// Gauges: the current value.
    pub enum Gauge: gauge -> ::metrics::Gauge {
        /// Records not yet committed by the consumer group: high watermark −
        /// committed offset, refreshed every `consumer.lag_interval_ms`.
        /// Labels: `topic` (full topic name) and `partition`.
        ConsumerLag = "downpour_consumer_lag",
        fn consumer_lag(topic, partition),
        "Records in a partition not yet committed by the consumer group.";

        /// How many times the normal batch size the consumer now waits for
        /// (1 = normal, up to `consumer.max_slowdown`), raised by "too many
        /// parts". Labels: `stream` and `topic` (the topic read).
        ConsumerSlowdown = "downpour_consumer_slowdown",
        fn consumer_slowdown(stream, topic),
        "Batch stretch factor after ClickHouse pressure (1 = normal), by stream.";

        /// The current retry wait, seconds (0 when the last write
        /// succeeded). Labels: `stream` and `topic` (the topic read).
        ConsumerBackoffSeconds = "downpour_consumer_backoff_seconds",
        fn consumer_backoff_seconds(stream, topic),
        "Current wait before retrying a failed write, seconds (0 when healthy), by stream.";

        /// The stall watchdog's clock: seconds since the member last read
        /// or committed a record, held at 0 while it has nothing to read or
        /// is busy with a flush. Labels: `stream` and `topic` (the topic read).
        ConsumerSecondsSinceProgress = "downpour_consumer_seconds_since_progress",
        fn consumer_seconds_since_progress(stream, topic),
        "Seconds since the consumer last made progress (0 while idle by design), by stream.";

        /// Open client connections to the edge. No labels.
        EdgeConnections = "downpour_edge_connections",
        fn edge_connections(),
        "Open client connections to the edge.";

        /// User + system CPU seconds of the whole process, set at each
        /// scrape (read by `downpour load`). No labels.
        ProcessCpuSeconds = "downpour_process_cpu_seconds",
        fn process_cpu_seconds(),
        "User + system CPU seconds this process has used.";

        /// Peak resident set size of the process, bytes, set at each scrape.
        /// No labels.
        ProcessPeakRssBytes = "downpour_process_peak_rss_bytes",
        fn process_peak_rss_bytes(),
        "Peak resident set size of this process, bytes.";

        /// Bytes in the edge's spool: records answered 204 and not yet
        /// acknowledged by Kafka (src/bus/spool.rs). No labels.
        EdgeSpoolBytes = "downpour_edge_spool_bytes",
        fn edge_spool_bytes(),
        "Bytes in the edge's spool, waiting to be forwarded to Kafka.";

        /// Age of the oldest file in the edge's spool, seconds (0 when
        /// empty). No labels.
        EdgeSpoolAgeSeconds = "downpour_edge_spool_age_seconds",
        fn edge_spool_age_seconds(),
        "Age of the oldest spooled record not yet forwarded to Kafka, seconds.";
    }
}

metric_kind! {
    /// Histograms: exported as Prometheus histograms (`_bucket`, `_sum`,
    /// `_count`), which add up across processes.
    pub enum Histogram: histogram -> ::metrics::Histogram {
        /// Seconds the ingest handler takes, from the request's headers to
        /// its answer, whatever the answer (a request cut by the deadline is
        /// not recorded). Labels: `stream`.
        EdgeRequestSeconds = "downpour_edge_request_seconds",
        fn edge_request_seconds(stream),
        "Ingest request duration to the answer, seconds, by stream.",
        buckets: EDGE_REQUEST_SECONDS;

        /// Seconds of a successful ClickHouse write. Labels: `stream`,
        /// `what` (`insert`: a batch's rows) and `topic` (the topic read).
        ConsumerWriteSeconds = "downpour_consumer_write_seconds",
        fn consumer_write_seconds(stream, what, topic),
        "Successful ClickHouse write duration, seconds, by stream and what (insert).",
        buckets: CONSUMER_WRITE_SECONDS;
    }
}
