//! One connection's worth of load: a task with its own keep-alive HTTP/1.1
//! client, issuing the pool's requests one after the other until the
//! deadline, and counting what came back.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use tokio::time::{Instant, MissedTickBehavior};

use super::traffic::{self, Pool, ROUTES, Route};

/// Error bodies kept per worker, for the report.
const MAX_SAMPLES: usize = 4;
/// Longest error body kept, bytes.
const SAMPLE_BYTES: usize = 300;
/// A request that takes longer counts as a transport error.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What every worker shares.
#[derive(Debug)]
pub struct Shared {
    /// The requests.
    pub pool: Pool,
    /// Full URL of each route, indexed by [`Route::index`].
    pub urls: [reqwest::Url; ROUTES],
    /// `Authorization` and `Content-Type`.
    pub headers: HeaderMap,
    /// `X-Raindrop-Project-Id` value of each pool project.
    pub project_headers: Vec<HeaderValue>,
    /// No request starts after this.
    pub deadline: Instant,
    /// With `--rate`: time between this worker's requests.
    pub period: Option<Duration>,
    /// Number of workers (for staggering paced starts and pool offsets).
    pub connections: usize,
    /// Random per run: the top 20 bits of every id tag.
    pub run_nonce: u64,
    /// With `--acked-ids`: keep the event id of every events/track item answered 204.
    pub record_acked: bool,
}

/// Counts of one worker.
#[derive(Debug, Default)]
pub struct Stats {
    /// Latency of each 204, microseconds.
    pub latencies_us: Vec<u32>,
    /// 204 responses.
    pub ok: u64,
    /// 4xx responses.
    pub client_errors: u64,
    /// 503 responses.
    pub unavailable: u64,
    /// Any other status.
    pub other_status: u64,
    /// Connection errors and timeouts.
    pub transport_errors: u64,
    /// Requests answered 204, by route.
    pub ok_requests: [u64; ROUTES],
    /// Items in requests answered 204, by route.
    pub ok_items: [u64; ROUTES],
    /// Body bytes sent in requests answered 204.
    pub ok_bytes: u64,
    /// When the last 204 arrived.
    pub last_ok: Option<Instant>,
    /// A few failures: status (0 = transport) and message.
    pub samples: Vec<(u16, String)>,
    /// With `--acked-ids`: event ids of the events/track items answered 204.
    pub acked_ids: Vec<String>,
}

impl Stats {
    /// Every request sent.
    pub fn requests(&self) -> u64 {
        self.ok + self.failed()
    }

    /// Requests not answered 204.
    pub fn failed(&self) -> u64 {
        self.client_errors + self.unavailable + self.other_status + self.transport_errors
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, mut other: Stats) {
        self.latencies_us.append(&mut other.latencies_us);
        self.ok += other.ok;
        self.client_errors += other.client_errors;
        self.unavailable += other.unavailable;
        self.other_status += other.other_status;
        self.transport_errors += other.transport_errors;
        for i in 0..ROUTES {
            self.ok_requests[i] += other.ok_requests[i];
            self.ok_items[i] += other.ok_items[i];
        }
        self.ok_bytes += other.ok_bytes;
        self.last_ok = self.last_ok.max(other.last_ok);
        self.acked_ids.append(&mut other.acked_ids);
        for s in other.samples {
            if !self.samples.contains(&s) {
                self.samples.push(s);
            }
        }
    }

    fn sample(&mut self, status: u16, message: String) {
        if self.samples.len() < MAX_SAMPLES {
            self.samples.push((status, message));
        }
    }
}

/// Runs worker `id` until the deadline.
pub async fn run(id: usize, shared: Arc<Shared>) -> anyhow::Result<Stats> {
    let client = reqwest::Client::builder()
        .http1_only()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(1)
        .default_headers(shared.headers.clone())
        .timeout(REQUEST_TIMEOUT)
        .build()?;
    let mut stats = Stats::default();
    let mut ticker = shared.period.map(|period| {
        // Stagger workers across one period so paced requests do not arrive in bursts.
        let offset = period.mul_f64(id as f64 / shared.connections as f64);
        let mut t = tokio::time::interval_at(Instant::now() + offset, period);
        // Burst: a worker that fell behind (a slow response) catches up, so the
        // run holds the asked-for average rate while the edge can take it.
        t.set_missed_tick_behavior(MissedTickBehavior::Burst);
        t
    });
    let entries = &shared.pool.entries;
    let start = id * entries.len() / shared.connections;
    let worker_bits = (id as u64 & 0xffff) << 24;
    let mut k = 0usize;
    'run: while Instant::now() < shared.deadline {
        let entry = &entries[(start + k) % entries.len()];
        let pass = (k / entries.len()) as u64 & 0xff_ffff;
        let tag = shared.run_nonce << 40 | worker_bits | pass;
        k += 1;
        for step in &entry.steps {
            if let Some(t) = ticker.as_mut()
                && tokio::time::timeout_at(shared.deadline, t.tick())
                    .await
                    .is_err()
            {
                break 'run;
            }
            let mut body = step.body.clone();
            traffic::patch(step, &mut body, tag);
            let len = body.len() as u64;
            let ids = if shared.record_acked && step.route == Route::Events {
                event_ids(&body, &step.id_slots)
            } else {
                Vec::new()
            };
            let mut request = client
                .post(shared.urls[step.route.index()].clone())
                .body(body);
            if step.route == Route::Traces {
                request = request.header(CONTENT_TYPE, "application/x-protobuf");
            }
            if let Some(p) = entry.project {
                request =
                    request.header("x-raindrop-project-id", shared.project_headers[p].clone());
            }
            let sent = Instant::now();
            match request.send().await {
                // An OTLP export is answered 200 with its response body.
                Ok(response) if accepted(step.route, response.status().as_u16()) => {
                    if step.route == Route::Traces {
                        // Its (empty unless partial) body, so the connection is reused.
                        let _ = response.bytes().await;
                    }
                    let now = Instant::now();
                    let us = now.duration_since(sent).as_micros();
                    stats
                        .latencies_us
                        .push(u32::try_from(us).unwrap_or(u32::MAX));
                    stats.ok += 1;
                    stats.ok_requests[step.route.index()] += 1;
                    stats.ok_items[step.route.index()] += u64::from(step.items);
                    stats.ok_bytes += len;
                    stats.last_ok = Some(now);
                    stats.acked_ids.extend(ids);
                }
                Ok(response) => {
                    let status = response.status().as_u16();
                    match status {
                        503 => stats.unavailable += 1,
                        400..=499 => stats.client_errors += 1,
                        _ => stats.other_status += 1,
                    }
                    // Reading the body also keeps the connection reusable.
                    let text = response.text().await.unwrap_or_default();
                    let mut message = format!("{} {}", step.route.path(), text.trim());
                    truncate(&mut message, SAMPLE_BYTES);
                    stats.sample(status, message);
                }
                Err(e) => {
                    stats.transport_errors += 1;
                    let mut message = format!("{} {e}", step.route.path());
                    truncate(&mut message, SAMPLE_BYTES);
                    stats.sample(0, message);
                }
            }
        }
    }
    Ok(stats)
}

/// Whether `status` is the route's success answer.
fn accepted(route: Route, status: u16) -> bool {
    match route {
        Route::Traces => status == 200,
        _ => status == 204,
    }
}

/// The (tagged) ids at `slots` of `body`.
fn event_ids(body: &[u8], slots: &[u32]) -> Vec<String> {
    slots
        .iter()
        .filter_map(|&slot| body.get(slot as usize..slot as usize + traffic::ID_LEN))
        .map(|id| String::from_utf8_lossy(id).into_owned())
        .collect()
}

fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
}

/// Every route's full URL under `base` (no trailing slash).
pub fn route_urls(base: &str) -> anyhow::Result<[reqwest::Url; ROUTES]> {
    let url = |r: Route| -> anyhow::Result<reqwest::Url> {
        let full = format!("{base}{}", r.path());
        reqwest::Url::parse(&full).map_err(|e| anyhow::anyhow!("--url: {full} is not a URL ({e})"))
    };
    Ok([
        url(Route::ALL[0])?,
        url(Route::ALL[1])?,
        url(Route::ALL[2])?,
        url(Route::ALL[3])?,
        url(Route::ALL[4])?,
    ])
}

/// The headers every request carries.
pub fn common_headers(key: &str) -> anyhow::Result<HeaderMap> {
    let mut headers = HeaderMap::new();
    let auth = HeaderValue::from_str(&format!("Bearer {key}"))
        .map_err(|_| anyhow::anyhow!("--key: not usable in an HTTP header"))?;
    headers.insert(AUTHORIZATION, auth);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(headers)
}
