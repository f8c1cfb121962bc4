//! The edge's project check on a cache hit: `Admission::admit` for an org
//! whose view is cached (the hot path of every request that names a
//! project). No I/O happens on a hit; this measures the moka lookup and the
//! slug decision. Also a limited project's rate count. Run: `cargo bench
//! --bench registry`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use downpour::registry::admission::{Admission, SlugState, Verdict};
use downpour::registry::projects::ProjectStore;
use downpour::registry::slug::Slug;

fn admission_hit(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // The client is never used on a hit; it points nowhere.
    let db = clickhouse::Client::default().with_url("http://127.0.0.1:9");
    let admission = Admission::new(
        ProjectStore::new(db, 50),
        Duration::from_secs(3600),
        Duration::from_secs(3600),
    );
    let slugs: Vec<String> = (0..200).map(|i| format!("project-{i}")).collect();
    let states: Vec<(&str, SlugState)> = slugs
        .iter()
        .map(|s| (s.as_str(), SlugState::Active))
        .collect();
    rt.block_on(async {
        for org in 0..1000 {
            admission.prime(&format!("org-{org}"), &states, 50).await;
        }
    });
    let slug = Slug::parse("project-137").expect("slug");
    let default = Slug::default_project();
    let mut group = c.benchmark_group("registry");
    group.bench_function("admit_cache_hit", |b| {
        b.to_async(&rt).iter(|| async {
            let decision = admission.admit("org-421", &slug).await;
            assert!(matches!(decision, Ok(Verdict::Admitted(_))));
        })
    });
    group.bench_function("admit_default_project", |b| {
        b.to_async(&rt)
            .iter(|| async { admission.admit("org-421", &default).await.is_ok() })
    });
    group.finish();
}

/// A limited project's count (`RateLimiter::check`), among 1,000 limited
/// projects, as every request of a project with `rate_limit_rpm` pays it.
fn rate_limit_check(c: &mut Criterion) {
    let limiter = downpour::edge::rate_limit::RateLimiter::default();
    let now = 1_800_000_000;
    let keys: Vec<String> = (0..1000).map(|i| format!("org-{i}/project-{i}")).collect();
    for key in &keys {
        limiter.check(key, u32::MAX, now);
    }
    let key = &keys[421];
    c.bench_function("rate_limit_check", |b| {
        b.iter(|| limiter.check(key, u32::MAX, now).exceeded)
    });
}

criterion_group!(benches, admission_hit, rate_limit_check);
criterion_main!(benches);
