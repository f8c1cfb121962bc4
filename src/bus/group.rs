//! Which consumer group a pipeline reads through, and moving it to a fresh
//! one when the broker never forms the current group again.
//!
//! tansu 0.6 keeps a forming group's leader when that leader leaves (its
//! LeaveGroup in the forming state removes the member, not the leadership):
//! every later JoinGroup names the departed leader, nobody can send the
//! assignment, and the group stays forming for as long as the broker runs.
//! Recreating the member does not help (docs/RELIABILITY.md); only another
//! group does. The stall watchdog asks for a move (`Verdict::Regroup`) when
//! a member it recreated is again never assigned for the whole stall bound.
//!
//! Groups are named by epoch: `<base>` (epoch 0, so a deployment that never
//! moved keeps its group), then `<base>.1`, `<base>.2`, ... A move commits
//! into the next group, before anyone joins it, an offset for every
//! partition: the old group's committed one, or the low watermark where it
//! had none (where the old group would have started). So the committed
//! offsets are how every consumer process finds the current epoch (the
//! highest with commits: [`discover`]) with no store but Kafka, and a move
//! re-reads at most what was uncommitted, never the topic from its start.
//! Discovery looks past [`GAP`] epochs without commits (Kafka expires the
//! offsets of a group left empty for `offsets.retention.minutes`, so an
//! epoch between the base and the live one may have lost them).
//!
//! Invariants: a move to an epoch that already has commits only joins it
//! (another process moved first); a carry commits only partitions the
//! target has no offset for. Two processes that stall together can both
//! carry into the same empty epoch; if one of them had joined and committed
//! in between, the other's carry moves those partitions back: records are
//! read again and collapse by id, nothing is skipped.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};

use crate::config::KafkaConfig;

/// How long each broker request of a discovery or a move may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Epochs without commits [`discover`] looks past at start.
pub const GAP: u32 = 4;

/// The group id of `base` at `epoch`: `base`, then `base.1`, `base.2`, ...
pub fn name(base: &str, epoch: u32) -> String {
    if epoch == 0 {
        base.to_string()
    } else {
        format!("{base}.{epoch}")
    }
}

/// The current epoch of `base` for `topic`: the highest epoch after `from`
/// whose group has committed offsets, looking past at most `gap` epochs in
/// a row without (moves go one epoch at a time: a follower that probes
/// often needs a gap of 1); `from` when none has. Blocking: call from a
/// blocking thread.
pub fn discover(
    cfg: &KafkaConfig,
    base: &str,
    topic: &str,
    from: u32,
    gap: u32,
) -> Result<u32, KafkaError> {
    let partitions = partitions(cfg, topic)?;
    let (mut found, mut probe) = (from, from);
    while probe < found.saturating_add(gap.max(1)) {
        probe += 1;
        let has_commits = committed(cfg, topic, &name(base, probe), &partitions)?
            .elements()
            .iter()
            .any(|e| matches!(e.offset(), Offset::Offset(_)));
        if has_commits {
            found = probe;
        }
    }
    Ok(found)
}

/// Moves `base` past `epoch` for `topic`: to the current epoch when another
/// process moved already, else to `epoch + 1` with the offsets carried.
/// Returns the new epoch. Blocking: call from a blocking thread.
pub fn advance(cfg: &KafkaConfig, base: &str, topic: &str, epoch: u32) -> Result<u32, KafkaError> {
    let current = discover(cfg, base, topic, epoch, 1)?;
    if current > epoch {
        return Ok(current);
    }
    let next = epoch + 1;
    let carried = carry_offsets(cfg, topic, &name(base, epoch), &name(base, next))?;
    tracing::warn!(
        base,
        topic,
        from = epoch,
        to = next,
        carried,
        "consumer group moved"
    );
    Ok(next)
}

/// Commits into group `to` an offset for every partition of `topic` where
/// `to` has none: `from`'s committed offset, else the low watermark. Neither
/// client joins a group (explicit offsets, as a manually assigned consumer
/// commits). Returns how many partitions were committed.
fn carry_offsets(
    cfg: &KafkaConfig,
    topic: &str,
    from: &str,
    to: &str,
) -> Result<usize, KafkaError> {
    let partitions = partitions(cfg, topic)?;
    let old = committed(cfg, topic, from, &partitions)?;
    let target = client(cfg, to)?;
    let have = target.committed_offsets(list(topic, &partitions), TIMEOUT)?;
    let mut carry = TopicPartitionList::new();
    for &partition in &partitions {
        let offset_in = |l: &TopicPartitionList| match l.find_partition(topic, partition)?.offset()
        {
            Offset::Offset(o) => Some(o),
            _ => None,
        };
        if offset_in(&have).is_some() {
            continue;
        }
        let offset = match offset_in(&old) {
            Some(o) => o,
            None => target.fetch_watermarks(topic, partition, TIMEOUT)?.0,
        };
        carry.add_partition_offset(topic, partition, Offset::Offset(offset))?;
    }
    if carry.count() > 0 {
        target.commit(&carry, CommitMode::Sync)?;
    }
    Ok(carry.count())
}

/// A client of group `group` that never subscribes.
fn client(cfg: &KafkaConfig, group: &str) -> Result<BaseConsumer, KafkaError> {
    crate::bus::client::config(cfg)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
}

/// The partitions of `topic` (an error when it has none: a move must carry
/// every partition, or it makes an epoch nobody can find).
fn partitions(cfg: &KafkaConfig, topic: &str) -> Result<Vec<i32>, KafkaError> {
    let probe = client(cfg, "downpour-metadata")?;
    let metadata = probe.fetch_metadata(Some(topic), TIMEOUT)?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        return Err(KafkaError::MetadataFetch(
            rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition,
        ));
    }
    Ok(partitions)
}

fn list(topic: &str, partitions: &[i32]) -> TopicPartitionList {
    let mut list = TopicPartitionList::new();
    for &p in partitions {
        list.add_partition(topic, p);
    }
    list
}

/// Group `group`'s committed offsets of `partitions` of `topic`.
fn committed(
    cfg: &KafkaConfig,
    topic: &str,
    group: &str,
    partitions: &[i32],
) -> Result<TopicPartitionList, KafkaError> {
    client(cfg, group)?.committed_offsets(list(topic, partitions), TIMEOUT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_zero_is_the_base_name_and_later_epochs_are_suffixed() {
        assert_eq!(name("downpour-users", 0), "downpour-users");
        assert_eq!(name("downpour-users", 1), "downpour-users.1");
        assert_eq!(name("downpour-users", 12), "downpour-users.12");
    }
}
