//! The edge's project check on a cache hit: `Admission::admit` for an org
//! whose view is cached (the hot path of every request that names a
//! project). No I/O happens on a hit; this measures the moka lookup and the
//! slug decision. Run: `cargo bench --bench registry`.

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

criterion_group!(benches, admission_hit);
criterion_main!(benches);
