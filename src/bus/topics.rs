//! Topic creation for `migrate`: the broker (tansu) does not auto-create.
//!
//! Invariant: the dead-letter topic exists wherever a pipeline's topic does,
//! so a consumer never holds a poison record for want of somewhere to put it.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use crate::config::KafkaConfig;

/// Creates `names` and the dead-letter topic with `cfg.partitions`
/// partitions; existing topics are fine.
pub async fn ensure(cfg: &KafkaConfig, names: &[String]) -> Result<(), KafkaError> {
    let dead_letter = crate::bus::dead_letter::topic(cfg);
    let admin: AdminClient<DefaultClientContext> = crate::bus::client::config(cfg).create()?;
    let topics: Vec<NewTopic<'_>> = names
        .iter()
        .chain(std::iter::once(&dead_letter))
        .map(|n| {
            NewTopic::new(
                n,
                cfg.partitions,
                TopicReplication::Fixed(cfg.replication_factor),
            )
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics(&topics, &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(KafkaError::AdminOp(code))
                    .inspect_err(|_| tracing::error!(%topic, ?code, "create topic"));
            }
        }
    }
    Ok(())
}
