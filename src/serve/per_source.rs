//! Connections held per source address (`edge.max_connections_per_source`),
//! so one client cannot take every connection slot of the listener (an
//! idle-connection flood), and the answer a refused connection gets.
//!
//! Invariants: a source's count is the connections of it being served now
//! (each [`Held`] releases its own on drop), and a source with none has no
//! entry, so the map holds at most `edge.max_connections` entries.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use tokio::net::TcpStream;

/// Open connections per source address.
#[derive(Debug, Default)]
pub struct PerSource {
    held: DashMap<IpAddr, usize>,
}

/// One connection of a source, counted until dropped.
#[derive(Debug)]
pub struct Held {
    counts: Arc<PerSource>,
    source: IpAddr,
}

impl PerSource {
    /// Counts a new connection of `source`, unless it already holds `max`.
    pub fn take(self: &Arc<Self>, source: IpAddr, max: usize) -> Option<Held> {
        let mut count = self.held.entry(source).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(Held {
            counts: self.clone(),
            source,
        })
    }

    /// Connections `source` holds now.
    #[cfg(test)]
    pub fn held_by(&self, source: IpAddr) -> usize {
        self.held.get(&source).map_or(0, |c| *c)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(mut count) = self.counts.held.get_mut(&self.source) {
            *count = count.saturating_sub(1);
        }
        self.counts
            .held
            .remove_if(&self.source, |_, count| *count == 0);
    }
}

/// What a refused connection is told before it is closed, whatever it
/// sends: the JSON error body of every other answer.
const REFUSAL: &[u8] = b"HTTP/1.1 429 Too Many Requests\r\n\
content-type: application/json\r\n\
retry-after: 1\r\n\
connection: close\r\n\
content-length: 112\r\n\r\n\
{\"error\":{\"message\":\"too many connections from this address\",\"type\":\"rate_limit_error\",\"code\":429,\"param\":null}}";

/// How long a refused connection is read (and what it sent dropped) after
/// the answer, so closing does not reset the answer away.
const DRAIN: Duration = Duration::from_millis(500);

/// Answers 429 + `Retry-After` on `stream` without reading a request, then
/// closes it. Holds no connection slot.
pub async fn refuse(stream: TcpStream) {
    let mut written = 0;
    let deadline = tokio::time::Instant::now() + DRAIN;
    while written < REFUSAL.len() {
        if tokio::time::timeout_at(deadline, stream.writable())
            .await
            .is_err()
        {
            return;
        }
        match stream.try_write(&REFUSAL[written..]) {
            Ok(n) => written += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => return,
        }
    }
    let mut sink = [0u8; 4096];
    while tokio::time::timeout_at(deadline, stream.readable())
        .await
        .is_ok()
    {
        match stream.try_read(&mut sink) {
            Ok(0) => return,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_holds_at_most_its_share_and_gets_it_back() {
        let counts = Arc::new(PerSource::default());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let first = counts.take(a, 2).expect("first");
        let _second = counts.take(a, 2).expect("second");
        assert!(counts.take(a, 2).is_none(), "a third is refused");
        assert!(counts.take(b, 2).is_some(), "another source is not");
        drop(first);
        assert_eq!(counts.held_by(a), 1);
        assert!(counts.take(a, 2).is_some(), "a freed slot is taken again");
    }

    #[test]
    fn a_source_with_no_connection_leaves_no_entry() {
        let counts = Arc::new(PerSource::default());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        drop(counts.take(a, 1));
        assert!(counts.held.is_empty());
    }

    #[test]
    fn the_refusal_is_a_complete_json_answer() {
        let text = std::str::from_utf8(REFUSAL).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(length, body.len());
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error"]["code"], 429);
    }
}
