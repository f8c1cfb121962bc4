//! `downpour query-bench`: the Query API's latency on a large project
//! (issue 11; `scripts/query_bench.sh` builds the data set and runs this).
//!
//! Each operation is called `--calls` times, one at a time, after a few
//! warm-up calls, with its varying part (a user, an event id, a search
//! word) drawn from the data set's known values by a seeded generator; it
//! prints p50, p99 and max per operation beside its target. It also checks
//! what must hold at these speeds: every answer is a 200, the count is the
//! data set's exact number of events although some were delivered twice,
//! and no page repeats an event. Any of these failing fails the command.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

/// Arguments of `downpour query-bench`. The defaults match the data set of
/// `benches/query/dataset.sql`.
#[derive(Debug, clap::Args)]
pub struct QueryBenchArgs {
    /// Edge base URL (the Query API is served there).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// An owner, admin or member key of the data set's org.
    #[arg(long, env = "DOWNPOUR_QUERY_KEY", hide_env_values = true)]
    pub key: String,
    /// The project read.
    #[arg(long, default_value = "analyst")]
    pub project: String,
    /// Calls per operation.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub calls: u32,
    /// Distinct events in the project (the count must say exactly this).
    #[arg(long, default_value_t = 10_000_000)]
    pub events: u64,
    /// Users `user-0` .. `user-(N-1)`.
    #[arg(long, default_value_t = 100_000)]
    pub users: u64,
    /// First day of the data set's 30 days (UTC, `YYYY-MM-DD`).
    #[arg(long, default_value = "2026-10-01")]
    pub first_day: String,
    /// Only the operations whose name contains this.
    #[arg(long)]
    pub only: Option<String>,
}

/// Words of the data set's AI input and output (`dataset.sql`).
const WORDS: [&str; 8] = [
    "refund", "invoice", "password", "export", "webhook", "latency", "upgrade", "timeout",
];

/// One operation: its name, p99 target (ms) and the path of call `i`.
struct Operation {
    name: &'static str,
    target_ms: u64,
    path: Box<dyn Fn(&mut StdRng) -> String>,
}

/// Runs every operation and prints the table; an error when a check fails.
pub async fn run(args: QueryBenchArgs) -> anyhow::Result<()> {
    let base = args.url.trim_end_matches('/').to_string();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .context("HTTP client")?;
    let users = args.users.max(1);
    let events = args.events.max(1);
    let day = chrono::NaiveDate::parse_from_str(&args.first_day, "%Y-%m-%d")
        .context("--first-day must be YYYY-MM-DD")?;
    let from = format!("{day}T00:00:00Z");
    let to = format!("{}T00:00:00Z", day + chrono::Days::new(30));
    let ops = [
        Operation {
            name: "events.list (limit 100, newest first)",
            target_ms: 50,
            path: Box::new(|_| "/v1/events?limit=100".into()),
        },
        Operation {
            name: "events.list (limit 100, one user)",
            target_ms: 50,
            path: Box::new(move |r| {
                format!(
                    "/v1/events?limit=100&user_id=user-{}",
                    r.random_range(0..users)
                )
            }),
        },
        Operation {
            name: "events.count (whole project)",
            target_ms: 200,
            path: Box::new(|_| "/v1/events/count".into()),
        },
        Operation {
            name: "events.timeseries (day, 30 days)",
            target_ms: 300,
            path: Box::new(move |_| {
                format!(
                    "/v1/events/timeseries?interval=day&timestamp[gte]={from}&timestamp[lt]={to}"
                )
            }),
        },
        Operation {
            name: "events.facets (event_name)",
            target_ms: 300,
            path: Box::new(|_| "/v1/events/facets?field=event_name".into()),
        },
        Operation {
            name: "events.get (by id)",
            target_ms: 20,
            path: Box::new(move |r| format!("/v1/events/ev-{}", r.random_range(0..events))),
        },
        Operation {
            name: "users.get",
            target_ms: 20,
            path: Box::new(move |r| format!("/v1/users/user-{}", r.random_range(0..users))),
        },
        Operation {
            name: "events.search (text, AI input and output)",
            target_ms: 1000,
            path: Box::new(|r| {
                let word = WORDS[r.random_range(0..WORDS.len())];
                format!(
                    "/v1/events/search?query={word}%20{}&limit=50",
                    r.random_range(0..977u32)
                )
            }),
        },
    ];

    check_exactly_once(&client, &base, &args).await?;
    let mut rng = StdRng::seed_from_u64(11);
    println!("| operation | p50 ms | p99 ms | max ms | target p99 | met |");
    println!("| --- | --- | --- | --- | --- | --- |");
    let mut missed = Vec::new();
    for op in ops
        .iter()
        .filter(|op| args.only.as_deref().is_none_or(|o| op.name.contains(o)))
    {
        for _ in 0..3 {
            get(&client, &base, &args, &(op.path)(&mut rng)).await?;
        }
        let mut took = Vec::with_capacity(usize::try_from(args.calls).unwrap_or(0));
        for _ in 0..args.calls {
            let path = (op.path)(&mut rng);
            let started = Instant::now();
            get(&client, &base, &args, &path).await?;
            took.push(started.elapsed());
        }
        took.sort_unstable();
        let (p50, p99, max) = (pct(&took, 50), pct(&took, 99), pct(&took, 100));
        let met = p99 <= op.target_ms;
        if !met {
            missed.push(op.name);
        }
        println!(
            "| {} | {p50} | {p99} | {max} | ≤ {} | {} |",
            op.name,
            op.target_ms,
            if met { "yes" } else { "**no**" }
        );
    }
    if !missed.is_empty() {
        eprintln!("targets missed: {}", missed.join(", "));
    }
    Ok(())
}

/// Milliseconds at percentile `p` of sorted durations.
fn pct(sorted: &[Duration], p: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = (sorted.len() * p).div_ceil(100).clamp(1, sorted.len()) - 1;
    u64::try_from(sorted[i].as_millis()).unwrap_or(u64::MAX)
}

/// GETs `path`; anything but a 200 with a JSON body is an error.
async fn get(
    client: &reqwest::Client,
    base: &str,
    args: &QueryBenchArgs,
    path: &str,
) -> anyhow::Result<Value> {
    let response = client
        .get(format!("{base}{path}"))
        .header("authorization", format!("Bearer {}", args.key))
        .header("x-raindrop-project-id", &args.project)
        .send()
        .await
        .with_context(|| format!("GET {path}"))?;
    let status = response.status();
    let body = response.bytes().await.context("reading the answer")?;
    if status != reqwest::StatusCode::OK {
        bail!("GET {path}: {status}: {}", String::from_utf8_lossy(&body));
    }
    serde_json::from_slice(&body).with_context(|| format!("GET {path}: not JSON"))
}

/// The count is exact and the first pages repeat no event, although the
/// data set delivered some events twice.
async fn check_exactly_once(
    client: &reqwest::Client,
    base: &str,
    args: &QueryBenchArgs,
) -> anyhow::Result<()> {
    let count = get(client, base, args, "/v1/events/count").await?;
    let total = count["data"]["total"].as_u64().unwrap_or(0);
    if total != args.events {
        bail!(
            "events.count says {total}, the data set holds {} distinct events",
            args.events
        );
    }
    let mut seen = HashSet::new();
    let mut path = "/v1/events?limit=1000".to_string();
    for _ in 0..5 {
        let page = get(client, base, args, &path).await?;
        for e in page["data"].as_array().into_iter().flatten() {
            let id = e["id"].as_str().unwrap_or_default().to_string();
            if !seen.insert(id.clone()) {
                bail!("event {id} listed twice");
            }
        }
        match page["meta"]["cursor"].as_str() {
            Some(c) => path = format!("/v1/events?limit=1000&cursor={c}"),
            None => break,
        }
    }
    eprintln!(
        "exactly once: count {total}; {} events over 5 pages, none twice",
        seen.len()
    );
    Ok(())
}
