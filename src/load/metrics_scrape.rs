//! Reads the edge's own CPU time and peak RSS from its Prometheus endpoint
//! (`GET {url}/metrics`, gauges `downpour_process_cpu_seconds` and
//! `downpour_process_peak_rss_bytes`, refreshed at each scrape).

use std::time::Duration;

use anyhow::Context;

use crate::telemetry::catalogue::Gauge;

/// What one scrape says about the edge process.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EdgeProcess {
    /// User + system CPU seconds of the whole process.
    pub cpu_seconds: Option<f64>,
    /// Peak resident set size, bytes.
    pub peak_rss_bytes: Option<f64>,
    /// Whether the process also runs the Kafka → ClickHouse consumers
    /// (`downpour dev`): then its CPU includes theirs.
    pub runs_consumers: bool,
}

/// Scrapes `{base}/metrics`.
pub async fn scrape(client: &reqwest::Client, base: &str) -> anyhow::Result<EdgeProcess> {
    let url = format!("{base}/metrics");
    let response = client
        .get(&url)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = response.status();
    if !status.is_success() {
        anyhow::bail!("GET {url}: HTTP {status}");
    }
    let text = response
        .text()
        .await
        .with_context(|| format!("GET {url}: reading the body"))?;
    Ok(parse(&text))
}

/// Parses Prometheus text exposition.
pub fn parse(text: &str) -> EdgeProcess {
    let mut out = EdgeProcess::default();
    for line in text.lines() {
        if line.contains("downpour_consumer_") {
            out.runs_consumers = true;
        }
        if line.starts_with('#') {
            continue;
        }
        if let Some(v) = sample(line, Gauge::ProcessCpuSeconds.name()) {
            out.cpu_seconds = Some(v);
        } else if let Some(v) = sample(line, Gauge::ProcessPeakRssBytes.name()) {
            out.peak_rss_bytes = Some(v);
        }
    }
    out
}

/// The value of `line` if it is a sample of metric `name` (`name 1.5` or `name{..} 1.5`).
fn sample(line: &str, name: &str) -> Option<f64> {
    let rest = line.strip_prefix(name)?;
    if !(rest.starts_with(' ') || rest.starts_with('{')) {
        return None;
    }
    let rest = match rest.strip_prefix('{') {
        Some(labels) => &labels[labels.find('}')? + 1..],
        None => rest,
    };
    rest.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_gauges_and_spots_consumers() {
        let text = "# TYPE downpour_process_cpu_seconds gauge\n\
                    downpour_process_cpu_seconds 12.5\n\
                    downpour_process_cpu_seconds_total 99\n\
                    downpour_process_peak_rss_bytes{host=\"a\"} 1048576 1700000000\n\
                    downpour_consumer_rows_total{table=\"events\"} 10\n";
        let p = parse(text);
        assert_eq!(p.cpu_seconds, Some(12.5));
        assert_eq!(p.peak_rss_bytes, Some(1048576.0));
        assert!(p.runs_consumers);
        let edge_only = parse("downpour_process_cpu_seconds 1\n");
        assert!(!edge_only.runs_consumers);
        assert_eq!(edge_only.peak_rss_bytes, None);
        assert_eq!(parse("garbage\n{}\n"), EdgeProcess::default());
    }
}
