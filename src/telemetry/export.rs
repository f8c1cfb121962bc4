//! The Prometheus side of the catalogue: a recorder that exports every
//! histogram of the catalogue with its buckets (`_bucket` series, which add
//! up across edges, where a summary's quantiles do not), and the `# HELP`
//! text of every metric.

use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusRecorder};

use super::catalogue::{Counter, Gauge, Histogram};

/// A Prometheus recorder with the catalogue's buckets (not installed).
/// Fails only on an empty bucket list, which the catalogue's tests rule out.
pub fn recorder() -> Result<PrometheusRecorder, BuildError> {
    let mut builder = PrometheusBuilder::new();
    for &h in Histogram::ALL {
        builder =
            builder.set_buckets_for_metric(Matcher::Full(h.name().to_owned()), h.buckets())?;
    }
    Ok(builder.build_recorder())
}

/// Gives every catalogue metric its `# HELP` text, on the recorder in use
/// (the global one, or a local one in tests).
pub fn describe_all() {
    for &c in Counter::ALL {
        metrics::describe_counter!(c.name(), c.description());
    }
    for &g in Gauge::ALL {
        metrics::describe_gauge!(g.name(), g.description());
    }
    for &h in Histogram::ALL {
        metrics::describe_histogram!(h.name(), h.description());
    }
}
