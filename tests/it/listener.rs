//! The listener's limits (`src/serve.rs`), from a raw TCP client where a
//! well-behaved HTTP client would not misbehave enough: slow bodies and
//! slow headers are cut off by the configured time limits and give back
//! their slots, oversized heads get 431, connections beyond the limit wait
//! and are then served, and shutdown lets a request in flight finish.

use std::time::{Duration, Instant};

use crate::common::{Harness, private_config};
use downpour::runtime::{self, Parts};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;

fn addr(h: &Harness) -> String {
    h.base.trim_start_matches("http://").to_string()
}

/// Reads until the server closes the connection (EOF or reset) or `limit`
/// passes; returns what was read and whether the server closed it.
async fn read_until_closed(reader: &mut OwnedReadHalf, limit: Duration) -> (String, bool) {
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, reader.read(&mut buf)).await {
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), false),
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&got).into_owned(), true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Opens a connection, sends `head`, then one body byte per second (a
/// slow-loris body) until the server answers or closes; returns the answer
/// and how long the server took to end it.
async fn slow_body(addr: String, head: String) -> (String, bool, Duration) {
    let stream = TcpStream::connect(&addr).await.expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let started = Instant::now();
    writer.write_all(head.as_bytes()).await.expect("head");
    let dribble = tokio::spawn(async move {
        for _ in 0..30 {
            if writer.write_all(b" ").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    let (answer, closed) = read_until_closed(&mut reader, Duration::from_secs(15)).await;
    dribble.abort();
    (answer, closed, started.elapsed())
}

fn post_head(path: &str, key: &str, length: usize) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_loris_body_is_cut_off_and_gives_its_slot_back() {
    let mut cfg = private_config("slow_body");
    cfg.edge.request_timeout_ms = 1500;
    cfg.edge.max_concurrent_requests = 1;
    let h = Harness::start_cfg(cfg).await;
    let key = h.write_key("acme").await;
    let owner = h
        .key("acme", None, downpour::registry::keys::Role::Owner)
        .await;
    let addr = addr(&h);
    let event = r#"[{"user_id": "u", "event": "e"}]"#;

    // The slow request holds the edge's only in-flight slot (others get 503)...
    let mut attempts = 0;
    let (answer, closed, took) = loop {
        attempts += 1;
        let loris = tokio::spawn(slow_body(
            addr.clone(),
            post_head("/v1/events/track", &key, 100),
        ));
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut saw_503 = false;
        while !saw_503 && !loris.is_finished() && Instant::now() < deadline {
            saw_503 = h.post("/v1/events/track", None, None, "[]").await.status == 503;
        }
        let result = loris.await.expect("loris task");
        // A probe that held the slot at the instant the loris arrived makes
        // the loris the one refused; try again.
        if result.0.starts_with("HTTP/1.1 503") && attempts < 3 {
            continue;
        }
        assert!(saw_503, "the slow request never held the slot: {result:?}");
        break result;
    };
    // ...until the time limit cuts it off with a 408 (or a closed connection).
    assert!(closed, "connection left open: {answer:?}");
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer:?}"
    );
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_secs(6),
        "cut after {took:?}"
    );
    // The slot is free again: a normal request is served at once.
    let r = h.post("/v1/events/track", Some(&key), None, event).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let sql = "SELECT count() FROM events WHERE org = ?";
    assert_eq!(h.wait_count(sql, "acme", 1).await, 1);

    // The admin API has the same deadline (it has no body timer of its own).
    let (answer, closed, took) =
        slow_body(addr.clone(), post_head("/v1/projects", &owner, 100)).await;
    assert!(
        closed && answer.starts_with("HTTP/1.1 408"),
        "{answer:?} after {took:?}"
    );
    assert!(
        answer.contains(r#""code":408"#),
        "JSON error body: {answer}"
    );
    assert!(took < Duration::from_secs(6), "cut after {took:?}");
    assert_eq!(h.wait_count(sql, "acme", 1).await, 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_silent_and_idle_connections_are_closed_by_the_header_timeout() {
    let mut cfg = private_config("slow_head");
    cfg.edge.header_read_timeout_ms = 1000;
    let h = Harness::start_cfg(cfg).await;
    let addr = addr(&h);
    let started = Instant::now();
    // Silent: connects and sends nothing.
    let (mut silent, _silent_w) = TcpStream::connect(&addr)
        .await
        .expect("connect")
        .into_split();
    // Slow: a head that never ends, one byte every 200 ms.
    let (mut slow, mut slow_w) = TcpStream::connect(&addr)
        .await
        .expect("connect")
        .into_split();
    let dribble = tokio::spawn(async move {
        let _ = slow_w
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
            .await;
        for _ in 0..100 {
            if slow_w.write_all(b"x").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    // Idle: one request answered, then nothing more on the kept-alive connection.
    let (mut idle, mut idle_w) = TcpStream::connect(&addr)
        .await
        .expect("connect")
        .into_split();
    idle_w
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .expect("request");
    for (name, reader, expect) in [
        ("silent", &mut silent, ""),
        ("slow", &mut slow, ""),
        ("idle", &mut idle, "HTTP/1.1 200"),
    ] {
        let (got, closed) = read_until_closed(reader, Duration::from_secs(10)).await;
        assert!(closed, "{name} connection left open");
        assert!(got.starts_with(expect), "{name}: {got:?}");
        if name == "slow" {
            assert!(
                !got.contains("200"),
                "a head never finished was served: {got:?}"
            );
        }
    }
    dribble.abort();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(6),
        "closed after {took:?}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_heads_get_431_and_the_edge_keeps_serving() {
    let mut cfg = private_config("big_head");
    cfg.edge.max_header_bytes = 16 * 1024;
    cfg.edge.max_headers = 20;
    let h = Harness::start_cfg(cfg).await;
    let key = h.write_key("acme").await;
    let get = |headers: Vec<(String, String)>| {
        let mut request = h.http.get(format!("{}/healthz", h.base));
        for (k, v) in headers {
            request = request.header(k, v);
        }
        request.send()
    };
    let big = get(vec![("x-big".into(), "a".repeat(17 * 1024))])
        .await
        .expect("answered");
    assert_eq!(big.status().as_u16(), 431);
    let many = get((0..30).map(|i| (format!("x-h{i}"), "v".into())).collect())
        .await
        .expect("answered");
    assert_eq!(many.status().as_u16(), 431);
    // Within the limits: served.
    let fits = get(vec![("x-big".into(), "a".repeat(10 * 1024))])
        .await
        .expect("answered");
    assert_eq!(fits.status().as_u16(), 200);
    let r = h
        .post(
            "/v1/events/track",
            Some(&key),
            None,
            r#"[{"user_id": "u", "event": "e"}]"#,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_limit_wait_and_are_then_served() {
    let mut cfg = private_config("conn_limit");
    cfg.edge.max_connections = 2;
    cfg.edge.header_read_timeout_ms = 1500;
    let h = Harness::start_cfg(cfg).await;
    let key = h.write_key("acme").await;
    let addr = addr(&h);
    // Two idle connections take both slots.
    let _first = TcpStream::connect(&addr).await.expect("connect");
    let _second = TcpStream::connect(&addr).await.expect("connect");
    let body = r#"[{"user_id": "u", "event": "queued"}]"#;
    let (mut reader, mut writer) = TcpStream::connect(&addr)
        .await
        .expect("the third connects (kernel backlog)")
        .into_split();
    let started = Instant::now();
    writer
        .write_all(format!("{}{body}", post_head("/v1/events/track", &key, body.len())).as_bytes())
        .await
        .expect("request");
    let mut first = [0u8; 12];
    let early =
        tokio::time::timeout(Duration::from_millis(700), reader.read_exact(&mut first)).await;
    assert!(
        early.is_err(),
        "the third connection was served beside two held slots"
    );
    // The idle ones are closed by the header timeout; then the third is served.
    let answered =
        tokio::time::timeout(Duration::from_secs(10), reader.read_exact(&mut first)).await;
    assert!(matches!(answered, Ok(Ok(_))), "never served: {answered:?}");
    assert_eq!(&first, b"HTTP/1.1 204");
    assert!(started.elapsed() >= Duration::from_millis(700));
    let sql = "SELECT count() FROM events WHERE org = ?";
    assert_eq!(h.wait_count(sql, "acme", 1).await, 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_accepting_and_finishes_the_request_in_flight() {
    let mut h = Harness::start_cfg(private_config("drain")).await;
    let key = h.write_key("acme").await;
    let addr = addr(&h);
    let body = r#"[{"user_id": "u", "event": "in-flight"}]"#;
    let (mut reader, mut writer) = TcpStream::connect(&addr)
        .await
        .expect("connect")
        .into_split();
    let head = post_head("/v1/events/track", &key, body.len())
        .replace("\r\n\r\n", "\r\nExpect: 100-continue\r\n\r\n");
    writer.write_all(head.as_bytes()).await.expect("head");
    // "100 Continue" comes when the handler starts reading the body: in flight.
    let mut cont = [0u8; 25];
    reader.read_exact(&mut cont).await.expect("100 Continue");
    assert!(
        cont.starts_with(b"HTTP/1.1 100"),
        "{:?}",
        String::from_utf8_lossy(&cont)
    );
    let stopping = tokio::spawn(h.running.take().expect("running").stop());
    // New connections are refused once the listener is closed...
    let deadline = Instant::now() + crate::common::DEADLINE;
    while TcpStream::connect(&addr).await.is_ok() {
        assert!(Instant::now() < deadline, "still accepting after stop");
        tokio::task::yield_now().await;
    }
    // ...while the request in flight completes, durably.
    writer.write_all(body.as_bytes()).await.expect("body");
    let (answer, _) = read_until_closed(&mut reader, Duration::from_secs(15)).await;
    assert!(answer.starts_with("HTTP/1.1 204"), "{answer:?}");
    tokio::time::timeout(Duration::from_secs(30), stopping)
        .await
        .expect("stop finished")
        .expect("stop task");
    // A fresh consumer group reads the topic from the start: the record is in
    // Kafka. (Rejoining the stopped group would wait out its session on tansu.)
    let mut replay = h.cfg.clone();
    replay.kafka.group_prefix = format!("{}-replay", h.cfg.kafka.group_prefix);
    let consumers = runtime::start(
        &replay,
        Parts {
            edge: false,
            consumers: true,
        },
    )
    .await
    .expect("consumers");
    let sql = "SELECT count() FROM events WHERE org = ?";
    assert_eq!(h.wait_count(sql, "acme", 1).await, 1);
    consumers.stop().await;
    h.stop().await;
}
