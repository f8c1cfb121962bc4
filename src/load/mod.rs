//! `downpour load`: drives an edge over HTTP with realistic SDK traffic and
//! reports requests/s, events/s, latency percentiles of the 204s, the edge's
//! CPU-seconds per million events (scraped from its `/metrics`), the load
//! generator's own CPU, and optionally how many rows ClickHouse shows.
//!
//! The run: generate a pool of bodies ([`traffic`]), scrape the edge,
//! start `--connections` workers ([`worker`]) that send until `--duration`
//! passes, scrape again, optionally poll ClickHouse ([`clickhouse_poll`]),
//! print ([`report`]). It fails (non-zero exit) when more than 1% of the
//! requests were not answered 204, unless `--allow-failures` (fault tests).
//! With `--acked-ids FILE` it writes the event id of every events/track item
//! answered 204, one per line, for exact accounting (`scripts/chaos.sh`).

pub mod clickhouse_poll;
pub mod metrics_scrape;
pub mod query_bench;
pub mod report;
pub mod traffic;
pub mod visibility;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use rand::SeedableRng;
use reqwest::header::HeaderValue;
use tokio::time::Instant;

use self::clickhouse_poll::Target;
use self::report::{Report, Visible};
use self::traffic::{Mix, Spec};
use self::worker::{Shared, Stats};

/// Longest run, seconds: the command always stops by itself.
pub const MAX_DURATION_S: u64 = 600;
/// More failed requests than this share makes the command fail.
pub const MAX_FAILED_SHARE: f64 = 0.01;

/// Arguments of `downpour load`.
///
/// Event ids: the pool of bodies is generated once, before the clock
/// starts, and replayed; each request's event ids are re-tagged with the
/// run, worker and pass, so every event sent carries a unique id and
/// ClickHouse keeps every one.
#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// Edge base URL (the routes /v1/... are under it).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The edge's operator listener (`edge.ops_listen`), where its CPU and
    /// memory are read from `/metrics`.
    #[arg(long, default_value = "http://127.0.0.1:9463")]
    pub metrics_url: String,
    /// Write key sent as `Authorization: Bearer <key>` (`downpour dev` prints one).
    #[arg(long, env = "DOWNPOUR_LOAD_KEY", hide_env_values = true)]
    pub key: String,
    /// Concurrent keep-alive HTTP/1.1 connections, each sending one request at a time.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub connections: u16,
    /// Seconds to send for (at most 600).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=MAX_DURATION_S))]
    pub duration: u64,
    /// Requests per second across all connections; absent = as fast as the edge answers.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Traffic: `sdk` (events/track batches of 1/10/100 events, 50/35/15 by request, of
    /// 0.6–4× --event-bytes each, plus signals, identify calls and partial events),
    /// `batch100` (only events/track, 100 events per request) or `single` (only
    /// events/track, 1 event per request).
    #[arg(long, value_enum, default_value_t = Mix::Sdk)]
    pub mix: Mix,
    /// Approximate size of one event's JSON, bytes (floor: about 380, the fixed fields).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(100..=1_000_000))]
    pub event_bytes: u64,
    /// Number of project slugs (proj-0, proj-1, ...), Zipf-skewed so a few get most traffic;
    /// 30% of requests also send no X-Raindrop-Project-Id (→ `default`).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub projects: u64,
    /// Share of requests (0 to 1) sent to one more project, `proj-hot`, besides the
    /// `--projects` ones: the hot project of docs/PERFORMANCE.md "Hot projects".
    #[arg(long, default_value_t = 0.0)]
    pub hot_share: f64,
    /// Seed for the generated bodies (random when absent; the report prints it).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Fail unless the scraped edge process runs no consumers, so its CPU figure is the
    /// edge's alone. Without it the figure is the whole edge process: under `downpour dev`
    /// it includes the Kafka → ClickHouse consumers (the report says so).
    #[arg(long)]
    pub edge_only_cpu: bool,
    /// ClickHouse HTTP URL: after the run, count the org's `events` rows until the count
    /// stops growing for 2 s (at most 60 s) and report the last-204 → last-row delay.
    #[arg(long)]
    pub clickhouse_url: Option<String>,
    /// ClickHouse database of the `events` table.
    #[arg(long, env = "DOWNPOUR_CLICKHOUSE_DATABASE", default_value = "downpour")]
    pub clickhouse_database: String,
    /// Org of the write key, for the ClickHouse count (`downpour dev` keys belong to `dev`).
    #[arg(long, default_value = "dev")]
    pub org: String,
    /// Write the event id of every events/track item whose request got a 204 to this
    /// file, one per line (for accounting: each must be readable exactly once).
    #[arg(long)]
    pub acked_ids: Option<std::path::PathBuf>,
    /// Do not fail when more than 1% of requests are not 204 (a fault is injected on
    /// purpose); the run still fails if no request was sent.
    #[arg(long)]
    pub allow_failures: bool,
}

/// Runs the load and prints the report; an error when over 1% of requests failed.
pub async fn run(args: LoadArgs) -> anyhow::Result<()> {
    if let Some(rate) = args.rate
        && !(rate.is_finite() && rate > 0.0)
    {
        bail!("--rate must be a positive number of requests per second");
    }
    let base = base_url(&args.url)?;
    let ops = args.metrics_url.trim_end_matches('/').to_string();
    let clickhouse = args
        .clickhouse_url
        .as_deref()
        .map(|url| Target::new(url, &args.clickhouse_database, args.mix.table(), &args.org))
        .transpose()?;
    let connections = usize::from(args.connections);
    let seed = args.seed.unwrap_or_else(rand::random);
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.hot_share),
        "--hot-share must be between 0 and 1"
    );
    let spec = Spec {
        mix: args.mix,
        event_bytes: usize::try_from(args.event_bytes)?,
        projects: usize::try_from(args.projects)?,
        hot_share: args.hot_share,
    };

    eprintln!("generating the request pool (seed {seed})...");
    let pool = tokio::task::spawn_blocking(move || {
        traffic::generate(spec, &mut rand::rngs::StdRng::seed_from_u64(seed))
    })
    .await
    .context("generating the request pool")??;
    let project_headers = pool
        .projects
        .iter()
        .map(|p| HeaderValue::from_str(p))
        .collect::<Result<Vec<_>, _>>()?;

    let side = reqwest::Client::builder().http1_only().build()?;
    let edge_before = metrics_scrape::scrape(&side, &ops).await;
    if let Err(e) = &edge_before {
        if e.chain().any(|c| {
            c.downcast_ref::<reqwest::Error>()
                .is_some_and(|r| r.is_connect())
        }) {
            bail!("edge's operator listener not reachable at {ops}: {e:#}");
        }
        eprintln!("warning: no edge CPU figures: {e:#}");
    }
    if args.edge_only_cpu && edge_before.as_ref().is_ok_and(|p| p.runs_consumers) {
        bail!(
            "--edge-only-cpu: the process at {base} also runs consumers (downpour dev?); run `downpour edge` and `downpour consumer` separately"
        );
    }
    let rows_before = match &clickhouse {
        Some(t) => Some(clickhouse_poll::count(&side, t).await),
        None => None,
    };

    let pool_entries = pool.entries.len();
    let pool_bytes = pool.bytes;
    eprintln!(
        "sending {} mix for {} s over {connections} connections to {base} ({pool_entries} pooled entries)...",
        args.mix.name(),
        args.duration
    );
    let cpu_before = crate::telemetry::process_cpu_seconds();
    let started = Instant::now();
    let shared = Arc::new(Shared {
        pool,
        urls: worker::route_urls(&base)?,
        headers: worker::common_headers(&args.key)?,
        project_headers,
        deadline: started + Duration::from_secs(args.duration),
        period: args
            .rate
            .map(|r| Duration::from_secs_f64(connections as f64 / r)),
        connections,
        run_nonce: rand::random::<u64>() & 0xf_ffff,
        record_acked: args.acked_ids.is_some(),
    });
    let probe = match &clickhouse {
        Some(target) => Some(visibility::Probe::start(visibility::Where {
            url: shared.urls[traffic::Route::Events.index()].clone(),
            key: args.key.clone(),
            clickhouse: crate::config::ClickHouseConfig {
                url: target.url.clone(),
                database: target.database.clone(),
                ..crate::config::Config::default().clickhouse
            },
            org: target.org.clone(),
        })?),
        None => None,
    };
    let tasks: Vec<_> = (0..connections)
        .map(|id| tokio::spawn(worker::run(id, shared.clone())))
        .collect();
    let mut stats = Stats::default();
    for task in tasks {
        stats.merge(task.await.context("a load worker panicked")??);
    }
    let elapsed = started.elapsed();
    if let Some(path) = &args.acked_ids {
        let ids = std::mem::take(&mut stats.acked_ids);
        write_ids(path, &ids).with_context(|| format!("--acked-ids {}", path.display()))?;
        eprintln!(
            "{} acknowledged event ids written to {}",
            ids.len(),
            path.display()
        );
    }
    let loadgen_cpu_s = crate::telemetry::process_cpu_seconds() - cpu_before;
    let edge_after = metrics_scrape::scrape(&side, &ops).await;
    stats.latencies_us.sort_unstable();

    let visibility = match probe {
        Some(probe) => {
            eprintln!("waiting for the visibility probes...");
            Some(probe.finish().await)
        }
        None => None,
    };
    let visible = match (clickhouse, rows_before) {
        (Some(target), Some(Ok(before))) => {
            eprintln!("waiting for ClickHouse rows to settle...");
            match clickhouse_poll::wait_until_stable(&side, &target, before).await {
                Ok(v) => {
                    let delay = stats
                        .last_ok
                        .map(|last| v.last_growth.saturating_duration_since(last));
                    Visible::Seen(v, delay)
                }
                Err(e) => Visible::Failed(format!("{e:#}")),
            }
        }
        (_, Some(Err(e))) => Visible::Failed(format!("{e:#}")),
        _ => Visible::Skipped,
    };

    let report = Report {
        mix: args.mix,
        connections,
        duration_s: args.duration,
        rate: args.rate,
        seed,
        pool_entries,
        pool_bytes,
        elapsed,
        stats,
        edge_before: edge_before.map_err(|e| format!("{e:#}")),
        edge_after: edge_after.map_err(|e| format!("{e:#}")),
        loadgen_cpu_s,
        clickhouse: visible,
        visibility,
    };
    report.print();
    let failed = report.failed_share();
    if args.edge_only_cpu && report.edge_after.as_ref().is_ok_and(|p| p.runs_consumers) {
        bail!(
            "--edge-only-cpu: the process at {base} also ran consumers; its CPU figure includes them"
        );
    }
    if report.stats.requests() == 0 {
        bail!("no request was sent");
    }
    if failed > MAX_FAILED_SHARE && !args.allow_failures {
        bail!(
            "{:.2}% of requests failed (limit {:.0}%)",
            failed * 100.0,
            MAX_FAILED_SHARE * 100.0
        );
    }
    Ok(())
}

/// Writes `ids`, one per line, to `path` (replacing it).
fn write_ids(path: &std::path::Path, ids: &[String]) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for id in ids {
        writeln!(out, "{id}")?;
    }
    out.flush()
}

/// The edge base URL without a trailing `/` or `/v1` (SDK endpoints end in `/v1/`).
fn base_url(raw: &str) -> anyhow::Result<String> {
    let trimmed = raw.trim_end_matches('/');
    let trimmed = trimmed.strip_suffix("/v1").unwrap_or(trimmed);
    let url = reqwest::Url::parse(trimmed).with_context(|| format!("--url {raw}"))?;
    if !matches!(url.scheme(), "http") {
        bail!("--url {raw}: only http:// is supported (the load generator has no TLS)");
    }
    Ok(trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_accepts_sdk_style_endpoints() {
        for raw in [
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080/",
            "http://127.0.0.1:8080/v1/",
        ] {
            assert_eq!(base_url(raw).ok().as_deref(), Some("http://127.0.0.1:8080"));
        }
        assert!(base_url("https://example.com").is_err());
        assert!(base_url("not a url").is_err());
    }
}
