//! Fair shares at the listener and below it (issue 16), against the real
//! broker and ClickHouse:
//! - `/metrics` is served on the operator listener only, never on the
//!   public ingest port;
//! - one source address holds at most `edge.max_connections_per_source`
//!   connections; past it 429 + `Retry-After`, without taking a slot;
//! - one source may cause `edge.key_lookups_per_source_per_minute` registry
//!   lookups of unknown key ids; past it 429 + `Retry-After`, while a
//!   repeated unknown id (cached as unknown) costs nothing and another
//!   source keeps its own budget;
//! - one org runs at most `query.max_concurrent_per_org` queries at once.

use std::net::IpAddr;

use crate::common::{DEADLINE, Harness, Response, private_config};
use downpour::registry::keys::Role;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn metrics_are_only_on_the_operator_listener() {
    let h = Harness::start("fair_metrics").await;
    let public = h
        .http
        .get(format!("{}/metrics", h.base))
        .send()
        .await
        .expect("answered");
    let public = Response::read(public).await;
    assert_eq!(public.status, 404, "{}", public.body);
    public.error();
    assert!(
        !h.ops.is_empty() && h.ops != h.base,
        "an operator listener apart"
    );
    let text = h.metrics().await;
    assert!(
        text.contains("# TYPE downpour_process_cpu_seconds"),
        "{text}"
    );
    // Health and readiness stay on both (load balancers probe the public port).
    for base in [&h.base, &h.ops] {
        let r = h
            .http
            .get(format!("{base}/healthz"))
            .send()
            .await
            .expect("healthz");
        assert_eq!(r.status().as_u16(), 200, "{base}");
    }
    h.stop().await;
}

/// A client whose connections come from 127.0.0.2 (loopback too, another
/// source address than the harness's client).
fn another_source() -> reqwest::Client {
    reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<IpAddr>().expect("ip"))
        .build()
        .expect("client")
}

/// Reads a whole answer from `stream` until the peer closes it.
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let read = tokio::time::timeout(DEADLINE, stream.read_to_end(&mut got)).await;
    assert!(read.is_ok(), "the refused connection was not closed");
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn one_source_cannot_hold_every_connection() {
    let mut cfg = private_config("fair_conns");
    cfg.edge.max_connections_per_source = 2;
    let h = Harness::start_cfg(cfg).await;
    let addr = h.base.trim_start_matches("http://").to_string();
    // Two idle connections (a slow-loris client sends nothing).
    let idle_a = TcpStream::connect(&addr).await.expect("connect");
    let _idle_b = TcpStream::connect(&addr).await.expect("connect");
    // The third is answered at once and closed.
    let mut third = TcpStream::connect(&addr).await.expect("connect");
    let answer = read_to_close(&mut third).await;
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("\r\nretry-after: 1\r\n"),
        "{answer}"
    );
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let json: serde_json::Value = serde_json::from_str(body).expect("a JSON error body");
    assert_eq!(json["error"]["code"], 429, "{json}");
    // Another source is served meanwhile (127.0.0.2 is loopback too).
    let other = another_source();
    let r = other
        .get(format!("{}/healthz", h.base))
        .send()
        .await
        .expect("other source");
    assert_eq!(r.status().as_u16(), 200);
    // A closed connection gives its place back.
    drop(idle_a);
    let started = std::time::Instant::now();
    loop {
        let mut stream = TcpStream::connect(&addr).await.expect("connect");
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .expect("sent");
        let answer = read_to_close(&mut stream).await;
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
        assert!(
            started.elapsed() < DEADLINE,
            "the freed slot never came back"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    h.stop().await;
}

/// A well-formed key that no registry holds.
fn unknown_key(i: usize) -> String {
    format!("dp_{:0>16}_{}", format!("unknown{i}"), "S".repeat(32))
}

#[tokio::test]
async fn unknown_key_lookups_are_bounded_per_source() {
    let mut cfg = private_config("fair_lookups");
    cfg.edge.key_lookups_per_source_per_minute = 3;
    let h = Harness::start_cfg(cfg).await;
    let body = r#"[{"user_id": "u", "event": "e"}]"#;
    for i in 0..3 {
        let r = h
            .post("/v1/events/track", Some(&unknown_key(i)), None, body)
            .await;
        assert_eq!(r.status, 401, "lookup {i}: {}", r.body);
    }
    let r = h
        .post("/v1/events/track", Some(&unknown_key(3)), None, body)
        .await;
    assert_eq!(r.status, 429, "{}", r.body);
    let wait: u32 = r
        .retry_after
        .as_deref()
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&wait), "{wait}");
    assert_eq!(r.error()["param"], "Authorization");
    // An id already looked up is answered from the cache: no lookup, 401.
    let r = h
        .post("/v1/events/track", Some(&unknown_key(0)), None, body)
        .await;
    assert_eq!(r.status, 401, "{}", r.body);
    // Another source has a budget of its own.
    let other = another_source();
    let r = other
        .post(format!("{}/v1/events/track", h.base))
        .header("authorization", format!("Bearer {}", unknown_key(4)))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status().as_u16(), 401);
    h.stop().await;
}

#[tokio::test]
async fn one_org_runs_at_most_its_queries_at_once() {
    let mut cfg = private_config("fair_queries");
    cfg.query.max_concurrent_per_org = 1;
    let h = Harness::start_cfg(cfg).await;
    let owner = h.key("acme", None, Role::Owner).await;
    let r = h
        .call(
            "POST",
            "/v1/projects",
            &owner,
            Some(json!({"slug": "live"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let member = h.key("acme", None, Role::Member).await;
    let query = || {
        h.http
            .get(format!("{}/v1/events?limit=100", h.base))
            .header("authorization", format!("Bearer {member}"))
            .header("x-raindrop-project-id", "live")
    };
    // Twenty at once with room for one: some are turned away as 429s.
    let mut running = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let request = query();
        running.spawn(async move { Response::read(request.send().await.expect("sent")).await });
    }
    let answers = running.join_all().await;
    assert!(
        answers.iter().all(|r| r.status == 200 || r.status == 429),
        "{answers:?}"
    );
    assert!(answers.iter().any(|r| r.status == 200), "{answers:?}");
    let refused: Vec<&Response> = answers.iter().filter(|r| r.status == 429).collect();
    assert!(
        !refused.is_empty(),
        "twenty concurrent queries all ran at once"
    );
    for r in refused {
        assert_eq!(r.retry_after.as_deref(), Some("1"));
        r.error();
    }
    // With nothing running, a query runs.
    let r = Response::read(query().send().await.expect("sent")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    h.stop().await;
}
