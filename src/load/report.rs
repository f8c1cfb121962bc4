//! Turns the merged counts into figures: latency percentiles, rates, CPU per
//! million events; prints them as a human-readable block followed by one
//! line of JSON (the last line of stdout) for scripts.

use std::time::Duration;

use serde_json::{Value, json};

use super::clickhouse_poll::Visibility;
use super::metrics_scrape::EdgeProcess;
use super::traffic::{Mix, ROUTES, Route};
use super::worker::Stats;

/// The ClickHouse part of the report.
#[derive(Debug)]
pub enum Visible {
    /// Not asked for (no `--clickhouse-url`).
    Skipped,
    /// The poll failed.
    Failed(String),
    /// What the poll saw, and the coarse delay from the last 204 to the last row.
    Seen(Visibility, Option<Duration>),
}

/// Everything the run measured.
#[derive(Debug)]
pub struct Report {
    /// `--mix`.
    pub mix: Mix,
    /// `--connections`.
    pub connections: usize,
    /// `--duration`, seconds.
    pub duration_s: u64,
    /// `--rate`, requests/s.
    pub rate: Option<f64>,
    /// Seed the pool was generated from.
    pub seed: u64,
    /// Entries and body bytes in the pool.
    pub pool_entries: usize,
    /// Body bytes in the pool.
    pub pool_bytes: usize,
    /// From the first request to the last response.
    pub elapsed: Duration,
    /// Merged worker counts; latencies sorted.
    pub stats: Stats,
    /// Edge scrape before the run (`Err` = why it failed).
    pub edge_before: Result<EdgeProcess, String>,
    /// Edge scrape after the run.
    pub edge_after: Result<EdgeProcess, String>,
    /// CPU seconds this load generator used during the run.
    pub loadgen_cpu_s: f64,
    /// Rows seen in ClickHouse.
    pub clickhouse: Visible,
    /// 204 → visible delays of the probe events (with `--clickhouse-url`).
    pub visibility: Option<super::visibility::Summary>,
}

/// Nearest-rank percentile of sorted values (`q` in 0..=1).
pub fn percentile(sorted: &[u32], q: f64) -> Option<u32> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

impl Report {
    /// Items in requests answered 204, all routes.
    pub fn events(&self) -> u64 {
        self.stats.ok_items.iter().sum()
    }

    /// Share of requests not answered 204, 0..=1.
    pub fn failed_share(&self) -> f64 {
        let requests = self.stats.requests();
        if requests == 0 {
            return 0.0;
        }
        self.stats.failed() as f64 / requests as f64
    }

    fn per_second(&self, n: u64) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 { n as f64 / secs } else { 0.0 }
    }

    fn per_million_events(&self, cpu: f64) -> Option<f64> {
        let events = self.events();
        (events > 0).then(|| cpu / events as f64 * 1e6)
    }

    fn edge_cpu_s(&self) -> Option<f64> {
        match (&self.edge_before, &self.edge_after) {
            (Ok(b), Ok(a)) => Some(a.cpu_seconds? - b.cpu_seconds?),
            _ => None,
        }
    }

    fn edge_runs_consumers(&self) -> Option<bool> {
        self.edge_after.as_ref().ok().map(|a| a.runs_consumers)
    }

    /// The machine-readable line.
    pub fn to_json(&self) -> Value {
        let s = &self.stats;
        let lat = |q| percentile(&s.latencies_us, q);
        let mean = (!s.latencies_us.is_empty()).then(|| {
            s.latencies_us.iter().map(|&v| u64::from(v)).sum::<u64>() as f64
                / s.latencies_us.len() as f64
        });
        let by_route = |counts: &[u64; ROUTES]| {
            let mut m = serde_json::Map::new();
            for r in Route::ALL {
                m.insert(r.name().into(), json!(counts[r.index()]));
            }
            Value::Object(m)
        };
        let edge_cpu = self.edge_cpu_s();
        let clickhouse = match &self.clickhouse {
            Visible::Skipped => Value::Null,
            Visible::Failed(e) => json!({ "error": e }),
            Visible::Seen(v, delay) => json!({
                "rows_before": v.before,
                "rows_after": v.after,
                "rows_new": v.new_rows(),
                "table": self.mix.table(),
                "items_answered": s.ok_items[self.mix.counted_route().index()],
                "settled": v.settled,
                "last_204_to_last_row_ms": delay.map(|d| d.as_millis() as u64),
            }),
        };
        json!({
            "mix": self.mix.name(),
            "connections": self.connections,
            "duration_s": self.duration_s,
            "rate_limit_rps": self.rate,
            "seed": self.seed,
            "pool_entries": self.pool_entries,
            "pool_bytes": self.pool_bytes,
            "event_ids": "unique per request (pool ids re-tagged per run, worker and pass)",
            "elapsed_s": self.elapsed.as_secs_f64(),
            "requests": s.requests(),
            "status_204": s.ok,
            "status_4xx": s.client_errors,
            "status_503": s.unavailable,
            "status_other": s.other_status,
            "transport_errors": s.transport_errors,
            "failed_pct": self.failed_share() * 100.0,
            "requests_204_by_route": by_route(&s.ok_requests),
            "events": self.events(),
            "events_by_route": by_route(&s.ok_items),
            "bytes_204": s.ok_bytes,
            "requests_per_s": self.per_second(s.ok),
            "events_per_s": self.per_second(self.events()),
            "latency_us": {
                "p50": lat(0.50),
                "p99": lat(0.99),
                "p999": lat(0.999),
                "max": s.latencies_us.last(),
                "mean": mean,
            },
            "edge_cpu_s": edge_cpu,
            "edge_cpu_s_per_million_events": edge_cpu.and_then(|c| self.per_million_events(c)),
            "edge_peak_rss_bytes": self.edge_after.as_ref().ok().and_then(|a| a.peak_rss_bytes),
            "edge_cpu_includes_consumers": self.edge_runs_consumers(),
            "edge_scrape_error": self.edge_before.as_ref().err().or(self.edge_after.as_ref().err()),
            "loadgen_cpu_s": self.loadgen_cpu_s,
            "loadgen_cpu_s_per_million_events": self.per_million_events(self.loadgen_cpu_s),
            "clickhouse": clickhouse,
            "visible_ms": self.visibility.as_ref().map(|v| json!({
                "p50": percentile(&v.delays_ms, 0.5),
                "p99": percentile(&v.delays_ms, 0.99),
                "max": percentile(&v.delays_ms, 1.0),
                "probes_seen": v.delays_ms.len(),
                "probes_refused": v.refused,
                "probes_missing": v.missing,
            })),
        })
    }

    /// Prints the human-readable block, then the JSON line.
    pub fn print(&self) {
        let s = &self.stats;
        let ms = |q| percentile(&s.latencies_us, q).map_or("-".into(), fmt_ms);
        println!(
            "downpour load: {} mix, {} connections, {} s{}, seed {}",
            self.mix.name(),
            self.connections,
            self.duration_s,
            self.rate
                .map_or(String::new(), |r| format!(", paced at {r} requests/s")),
            self.seed,
        );
        println!(
            "  pool:        {} entries, {:.1} MB of bodies, generated before the clock; event ids re-tagged per request (unique, no collapsing)",
            self.pool_entries,
            self.pool_bytes as f64 / 1e6
        );
        println!(
            "  requests:    {} in {:.2} s: 204 {}, 4xx {}, 503 {}, other {}, transport errors {} ({:.3}% failed)",
            s.requests(),
            self.elapsed.as_secs_f64(),
            s.ok,
            s.client_errors,
            s.unavailable,
            s.other_status,
            s.transport_errors,
            self.failed_share() * 100.0
        );
        let routes: Vec<String> = Route::ALL
            .iter()
            .filter(|r| s.ok_requests[r.index()] > 0)
            .map(|r| {
                format!(
                    "{} {} req / {} items",
                    r.name(),
                    s.ok_requests[r.index()],
                    s.ok_items[r.index()]
                )
            })
            .collect();
        println!("  by route:    {}", routes.join(", "));
        println!(
            "  throughput:  {:.0} requests/s, {:.0} events/s, {:.1} MB/s of bodies (204s only; events = items of every route)",
            self.per_second(s.ok),
            self.per_second(self.events()),
            self.per_second(s.ok_bytes) / 1e6
        );
        println!(
            "  latency 204: p50 {}, p99 {}, p99.9 {}, max {}",
            ms(0.50),
            ms(0.99),
            ms(0.999),
            s.latencies_us.last().map_or("-".into(), |&us| fmt_ms(us))
        );
        match (self.edge_cpu_s(), &self.edge_before, &self.edge_after) {
            (Some(cpu), _, Ok(after)) => {
                let per_m = self
                    .per_million_events(cpu)
                    .map_or("-".into(), |v| format!("{v:.2}"));
                println!(
                    "  edge CPU:    {cpu:.2} s = {per_m} CPU-s per million events; peak RSS {}",
                    after
                        .peak_rss_bytes
                        .map_or("-".into(), |b| format!("{:.1} MB", b / 1e6))
                );
                if after.runs_consumers {
                    println!(
                        "               (whole edge process: it also runs the consumers, as `downpour dev` does, so this includes Kafka → ClickHouse work)"
                    );
                } else {
                    println!("               (whole edge process; it runs no consumers)");
                }
            }
            (_, Err(e), _) | (_, _, Err(e)) => println!("  edge CPU:    unavailable ({e})"),
            _ => println!("  edge CPU:    unavailable (no downpour_process_cpu_seconds gauge)"),
        }
        println!(
            "  load CPU:    {:.2} s = {} CPU-s per million events (this load generator)",
            self.loadgen_cpu_s,
            self.per_million_events(self.loadgen_cpu_s)
                .map_or("-".into(), |v| format!("{v:.2}"))
        );
        match &self.clickhouse {
            Visible::Skipped => {
                println!("  ClickHouse:  not checked (give --clickhouse-url to count rows)")
            }
            Visible::Failed(e) => println!("  ClickHouse:  check failed: {e}"),
            Visible::Seen(v, delay) => println!(
                "  ClickHouse:  {} new {} rows ({} items answered: {}){}; last answer → last row visible {}",
                v.new_rows(),
                self.mix.table(),
                self.mix.counted_route().name(),
                s.ok_items[self.mix.counted_route().index()],
                if v.settled {
                    ""
                } else {
                    ", still growing after 60 s"
                },
                delay.map_or("-".into(), |d| format!("≤ {} ms (polled every 100 ms; an upper bound when the rows were already there at the first poll)", d.as_millis()))
            ),
        }
        if let Some(v) = &self.visibility {
            let at = |q| percentile(&v.delays_ms, q).map_or("-".into(), |ms| format!("{ms} ms"));
            println!(
                "  204 → visible: p50 {}, p99 {}, max {} over {} probe events ({} refused, {} never seen; polled every {} ms){}",
                at(0.50),
                at(0.99),
                at(1.0),
                v.delays_ms.len(),
                v.refused,
                v.missing,
                super::visibility::POLL_EVERY.as_millis(),
                v.error
                    .as_ref()
                    .map_or(String::new(), |e| format!("; poll error: {e}"))
            );
        }
        if !s.samples.is_empty() {
            println!("  failures (samples):");
            for (status, message) in &s.samples {
                let status = if *status == 0 {
                    "transport".to_string()
                } else {
                    status.to_string()
                };
                println!("    {status}: {message}");
            }
        }
        println!("{}", self.to_json());
    }
}

fn fmt_ms(us: u32) -> String {
    format!("{:.2} ms", f64::from(us) / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u32> = (1..=1000).collect();
        assert_eq!(percentile(&v, 0.5), Some(500));
        assert_eq!(percentile(&v, 0.99), Some(990));
        assert_eq!(percentile(&v, 0.999), Some(999));
        assert_eq!(percentile(&v, 1.0), Some(1000));
        assert_eq!(percentile(&v, 0.0), Some(1));
        assert_eq!(percentile(&[7], 0.999), Some(7));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
