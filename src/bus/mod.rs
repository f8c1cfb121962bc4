//! Kafka: the producer the edge publishes through, the consumer the sink
//! reads from, topic creation, and the record format between them.
//!
//! Invariant: the edge learns a record is durable only from the broker's
//! ack (acks=all, idempotent producer); the consumer commits an offset only
//! after ClickHouse accepted every row before it.

pub mod consumer;
pub mod producer;
pub mod record;
pub mod topics;
