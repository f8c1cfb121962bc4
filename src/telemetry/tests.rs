//! Tests of the metric catalogue: its naming rules, what a recorder built
//! from it renders, that nothing outside it registers a metric, and that
//! the README's table lists exactly its metrics.

use std::collections::HashSet;

use super::catalogue::{Counter, Gauge, Histogram};
use super::export;

/// (kind, name, labels, description) of every metric.
fn all() -> Vec<(
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static str,
)> {
    let mut out = Vec::new();
    out.extend(
        Counter::ALL
            .iter()
            .map(|m| ("counter", m.name(), m.labels(), m.description())),
    );
    out.extend(
        Gauge::ALL
            .iter()
            .map(|m| ("gauge", m.name(), m.labels(), m.description())),
    );
    out.extend(
        Histogram::ALL
            .iter()
            .map(|m| ("histogram", m.name(), m.labels(), m.description())),
    );
    out
}

/// `EdgeRequestSeconds` → `edge_request_seconds`.
fn snake(camel: &str) -> String {
    let mut out = String::new();
    for c in camel.chars() {
        if c.is_ascii_uppercase() && !out.is_empty() {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

#[test]
fn names_are_unique_prefixed_and_match_their_variant() {
    let mut seen = HashSet::new();
    for (kind, name, labels, help) in all() {
        assert!(seen.insert(name), "{name} declared twice");
        assert!(name.starts_with("downpour_"), "{name}: no downpour_ prefix");
        assert_eq!(
            name.ends_with("_total"),
            kind == "counter",
            "{name}: only counters end in _total"
        );
        assert!(
            help.ends_with('.') && help.len() > 10,
            "{name}: describe it in a sentence"
        );
        let keys: HashSet<_> = labels.iter().collect();
        assert_eq!(keys.len(), labels.len(), "{name}: a label key twice");
        assert!(!labels.contains(&"le"), "{name}: `le` is the bucket label");
    }
    let variants = Counter::ALL
        .iter()
        .map(|m| (format!("{m:?}"), m.name()))
        .chain(Gauge::ALL.iter().map(|m| (format!("{m:?}"), m.name())))
        .chain(Histogram::ALL.iter().map(|m| (format!("{m:?}"), m.name())));
    for (variant, name) in variants {
        let stem = name
            .trim_start_matches("downpour_")
            .trim_end_matches("_total");
        assert_eq!(snake(&variant), stem, "variant {variant} for {name}");
    }
}

#[test]
fn histogram_buckets_ascend() {
    for &h in Histogram::ALL {
        let b = h.buckets();
        assert!(!b.is_empty(), "{}: no buckets", h.name());
        assert!(b.iter().all(|v| v.is_finite() && *v > 0.0), "{}", h.name());
        assert!(
            b.windows(2).all(|w| w[0] < w[1]),
            "{}: not ascending",
            h.name()
        );
    }
}

/// Label keys of one sample line (`name{a="x",b="y"} 1`), without `le`.
fn label_keys(line: &str) -> Vec<&str> {
    let Some((_, rest)) = line.split_once('{') else {
        return Vec::new();
    };
    let inside = rest.split('}').next().unwrap_or("");
    inside
        .split(',')
        .filter_map(|pair| pair.split_once('=').map(|(k, _)| k))
        .filter(|k| *k != "le")
        .collect()
}

/// The sample lines of metric `name` (with `_bucket`, `_sum`, `_count` for a histogram).
fn series_of<'a>(text: &'a str, kind: &str, name: &str) -> Vec<&'a str> {
    let names: Vec<String> = if kind == "histogram" {
        ["_bucket", "_sum", "_count"]
            .iter()
            .map(|s| format!("{name}{s}"))
            .collect()
    } else {
        vec![name.to_owned()]
    };
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.split(['{', ' '])
                .next()
                .is_some_and(|n| names.iter().any(|x| x == n))
        })
        .collect()
}

#[test]
fn one_of_each_renders_with_help_type_labels_and_buckets() {
    let recorder = export::recorder().expect("the catalogue's buckets are valid");
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        export::describe_all();
        for (_, c) in Counter::samples() {
            c.increment(1);
        }
        for (_, g) in Gauge::samples() {
            g.set(1.0);
        }
        for (_, h) in Histogram::samples() {
            h.record(0.003);
        }
    });
    let text = handle.render();
    for (kind, name, labels, help) in all() {
        assert!(
            text.contains(&format!("# TYPE {name} {kind}\n")),
            "{name}: no TYPE line in\n{text}"
        );
        assert!(
            text.contains(&format!("# HELP {name} {help}\n")),
            "{name}: no HELP line"
        );
        let series = series_of(&text, kind, name);
        assert!(!series.is_empty(), "{name}: no sample");
        for line in series {
            assert_eq!(
                label_keys(line),
                labels.to_vec(),
                "{name}: labels of {line}"
            );
        }
    }
    let rendered: HashSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    let declared: HashSet<&str> = all().into_iter().map(|m| m.1).collect();
    assert_eq!(rendered, declared, "only catalogue metrics are registered");
    let stream = "downpour_edge_request_seconds_bucket{stream=\"stream\",le=\"0.005\"} 1";
    assert!(
        text.contains(stream),
        "a histogram renders _bucket lines:\n{text}"
    );
    assert!(text.contains("downpour_edge_request_seconds_bucket{stream=\"stream\",le=\"+Inf\"} 1"));
    assert!(!text.contains("quantile="), "no summaries");
}

/// The `.rs` files under `dir`.
fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src is readable").flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn only_the_catalogue_registers_metrics() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let allowed = ["declare.rs", "export.rs", "tests.rs"].map(|f| src.join("telemetry").join(f));
    let mut files = Vec::new();
    sources(&src, &mut files);
    for file in files.iter().filter(|f| !allowed.contains(f)) {
        let text = std::fs::read_to_string(file).expect("a source file is readable");
        for needle in ["counter!(", "gauge!(", "histogram!("] {
            assert!(
                !text.contains(needle),
                "{}: registers a metric with `{needle}`; use telemetry::catalogue",
                file.display()
            );
        }
    }
}

#[test]
fn readme_lists_every_metric() {
    let readme = include_str!("../../README.md");
    let section = readme
        .split("\n## Metrics\n")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("README.md has a Metrics section");
    let rows: Vec<&str> = section
        .lines()
        .filter(|l| l.starts_with("| `downpour_"))
        .collect();
    for (kind, name, labels, _) in all() {
        let labels = if labels.is_empty() {
            "—".to_owned()
        } else {
            labels
                .iter()
                .map(|l| format!("`{l}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let row = format!("| `{name}` | {kind} | {labels} |");
        assert!(
            rows.iter().any(|r| r.starts_with(&row)),
            "README.md: no row starting {row}"
        );
    }
    assert_eq!(
        rows.len(),
        all().len(),
        "README.md lists a metric the catalogue lacks"
    );
}
