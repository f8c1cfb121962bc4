//! Kafka: the producer the edge publishes through, the consumer the sink
//! reads from, the dead-letter topic, topic creation, and the record format
//! between them, and the connection settings (TLS, SASL) they share.
//!
//! Invariant: the edge learns a record is durable only from the broker's
//! ack (acks=all), or, with a spool, from its own fsync ([`spool`]); the consumer commits an offset only
//! after every record before it is in ClickHouse or acknowledged on the
//! dead-letter topic.

pub mod client;
pub mod consumer;
pub mod dead_letter;
mod delivery;
pub mod group;
pub mod producer;
pub mod record;
pub mod spool;
pub mod topics;
