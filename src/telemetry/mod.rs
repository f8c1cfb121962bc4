//! Logs (`tracing`, filtered by `RUST_LOG`) and metrics (the `metrics`
//! crate, rendered for Prometheus at `/metrics`), plus the process's own CPU
//! time, which the load command reads to report CPU-seconds per event.
//!
//! Every metric is declared in [`catalogue`] and recorded through its
//! constructors there; [`metrics_handle`] installs the recorder once, with
//! the catalogue's histogram buckets and `# HELP` texts.

pub mod catalogue;
mod declare;
pub mod export;
#[cfg(test)]
mod tests;

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use catalogue::Gauge;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the log subscriber (once; later calls are no-ops).
pub fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rdkafka=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
}

/// The process-wide Prometheus recorder, installed on first use, with the
/// catalogue's buckets and descriptions.
pub fn metrics_handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = export::recorder().unwrap_or_else(|e| {
                tracing::error!(error = %e, "histogram buckets refused; histograms export as summaries");
                PrometheusBuilder::new().build_recorder()
            });
            let handle = recorder.handle();
            // Fails only if another recorder is installed (e.g. a test harness); metrics then go there.
            let _ = metrics::set_global_recorder(recorder);
            export::describe_all();
            handle
        })
        .clone()
}

/// User + system CPU seconds this process has used.
pub fn process_cpu_seconds() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a plain struct through a valid pointer.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if rc != 0 {
        return 0.0;
    }
    // SAFETY: rc == 0, so the struct was filled in.
    let usage = unsafe { usage.assume_init() };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// Peak resident set size, bytes.
pub fn peak_rss_bytes() -> u64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: as above.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if rc != 0 {
        return 0;
    }
    // SAFETY: rc == 0.
    let usage = unsafe { usage.assume_init() };
    u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024
}

/// Updates the process gauges before a scrape.
pub fn record_process_metrics() {
    Gauge::process_cpu_seconds().set(process_cpu_seconds());
    Gauge::process_peak_rss_bytes().set(peak_rss_bytes() as f64);
}
