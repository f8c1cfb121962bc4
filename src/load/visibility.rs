//! The 204 → visible delay, measured per event by a probe beside the load.
//!
//! A probe task sends one small events/track request every
//! [`PROBE_EVERY`] to the project [`PROBE_PROJECT`] through the same edge,
//! topic and consumers as the load, and notes when each was answered 204.
//! A poller asks ClickHouse every [`POLL_EVERY`] which of the acknowledged
//! probe ids are now in `events` (one partition: the probe project's, so the
//! poll is cheap however much the load wrote) and keeps each id's delay from
//! its 204 to the first poll that saw it. The delays are upper bounds with
//! [`POLL_EVERY`] resolution.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use tokio::time::Instant;

use crate::config::ClickHouseConfig;

/// Time between probe requests.
pub const PROBE_EVERY: Duration = Duration::from_millis(50);
/// Time between ClickHouse polls.
pub const POLL_EVERY: Duration = Duration::from_millis(50);
/// After the load stops, how long to wait for the last probes to appear.
pub const WAIT_AFTER: Duration = Duration::from_secs(60);
/// The project the probe events go to.
pub const PROBE_PROJECT: &str = "load-probe";

/// What the probe measured.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Probe requests answered 204.
    pub acked: usize,
    /// Probe requests answered otherwise (or not at all).
    pub refused: usize,
    /// Acknowledged probes never seen within [`WAIT_AFTER`] of the end.
    pub missing: usize,
    /// Delay of each seen probe, milliseconds, sorted.
    pub delays_ms: Vec<u32>,
    /// The first error the poller met, if any.
    pub error: Option<String>,
}

#[derive(Default)]
struct State {
    pending: HashMap<String, Instant>,
    summary: Summary,
}

/// A running probe; [`Probe::finish`] stops it and returns the figures.
pub struct Probe {
    state: Arc<Mutex<State>>,
    sender: tokio::task::JoinHandle<()>,
    poller: tokio::task::JoinHandle<()>,
    stop_sending: tokio::sync::watch::Sender<bool>,
}

/// Where the probe sends and looks.
pub struct Where {
    /// events/track URL of the edge.
    pub url: reqwest::Url,
    /// Write key.
    pub key: String,
    /// ClickHouse holding the rows.
    pub clickhouse: ClickHouseConfig,
    /// Org of the key.
    pub org: String,
}

impl Probe {
    /// Starts sending and polling.
    pub fn start(at: Where) -> anyhow::Result<Probe> {
        let state = Arc::new(Mutex::new(State::default()));
        let (stop_sending, stopped) = tokio::sync::watch::channel(false);
        let http = reqwest::Client::builder()
            .http1_only()
            .timeout(Duration::from_secs(10))
            .build()?;
        let db = crate::sink::clickhouse::database(&at.clickhouse)?;
        let sender = tokio::spawn(send(http, at.url, at.key, state.clone(), stopped.clone()));
        let poller = tokio::spawn(poll(db, at.org, state.clone(), stopped));
        Ok(Probe {
            state,
            sender,
            poller,
            stop_sending,
        })
    }

    /// Stops sending, waits until every acknowledged probe was seen (or
    /// [`WAIT_AFTER`] passed), and returns the figures.
    pub async fn finish(self) -> Summary {
        let _ = self.stop_sending.send(true);
        let _ = self.sender.await;
        let _ = self.poller.await;
        let mut state = lock(&self.state);
        let mut summary = std::mem::take(&mut state.summary);
        summary.missing = state.pending.len();
        summary.delays_ms.sort_unstable();
        summary
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn send(
    http: reqwest::Client,
    url: reqwest::Url,
    key: String,
    state: Arc<Mutex<State>>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let nonce = rand::random::<u32>();
    let mut tick = tokio::time::interval(PROBE_EVERY);
    for n in 0u64.. {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.wait_for(|s| *s) => return,
        }
        let id = format!("probe-{nonce:08x}-{n:08}");
        let body = format!(
            r#"[{{"event_id":"{id}","user_id":"probe","event":"visibility_probe","ai_data":{{"input":"probe"}}}}]"#
        );
        let answer = http
            .post(url.clone())
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .header("x-raindrop-project-id", PROBE_PROJECT)
            .body(body)
            .send()
            .await;
        let acked_at = Instant::now();
        let mut state = lock(&state);
        match answer {
            Ok(r) if r.status().as_u16() == 204 => {
                state.summary.acked += 1;
                state.pending.insert(id, acked_at);
            }
            _ => state.summary.refused += 1,
        }
    }
}

async fn poll(
    db: clickhouse::Client,
    org: String,
    state: Arc<Mutex<State>>,
    stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut give_up_at: Option<Instant> = None;
    loop {
        tokio::time::sleep(POLL_EVERY).await;
        let ids: Vec<String> = lock(&state).pending.keys().take(1000).cloned().collect();
        if *stopped.borrow() {
            let deadline = *give_up_at.get_or_insert_with(|| Instant::now() + WAIT_AFTER);
            if ids.is_empty() || Instant::now() >= deadline {
                return;
            }
        }
        if ids.is_empty() {
            continue;
        }
        let seen = match seen_ids(&db, &org, &ids).await {
            Ok(seen) => seen,
            Err(e) => {
                let mut state = lock(&state);
                state.summary.error.get_or_insert(format!("{e:#}"));
                continue;
            }
        };
        let now = Instant::now();
        let mut state = lock(&state);
        for id in seen {
            if let Some(acked_at) = state.pending.remove(&id) {
                let ms = now.saturating_duration_since(acked_at).as_millis();
                state
                    .summary
                    .delays_ms
                    .push(u32::try_from(ms).unwrap_or(u32::MAX));
            }
        }
    }
}

async fn seen_ids(
    db: &clickhouse::Client,
    org: &str,
    ids: &[String],
) -> anyhow::Result<Vec<String>> {
    db.query("SELECT event_id FROM events WHERE org = ? AND project = ? AND has(?, event_id)")
        .bind(org)
        .bind(PROBE_PROJECT)
        .bind(ids)
        .fetch_all::<String>()
        .await
        .context("polling ClickHouse for probe events")
}
