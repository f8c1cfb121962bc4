//! The holes a security review found (issue 16), each shown closed against
//! the real broker and ClickHouse:
//! - a request that declares a `Content-Length` but is sent chunked is
//!   counted by the bytes it sends, not by the length it claims;
//! - a chunked body holds only what it sent, and one org's slow uploads
//!   cannot take the whole budget from the others (`max_inflight_body_share`);
//! - a project-scoped key acts only on its project in the admin API.

use crate::common::{DEADLINE, Harness, private_config};
use downpour::registry::keys::Role;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn event(id: &str, pad: usize) -> String {
    format!(
        r#"{{"event_id":"{id}","user_id":"u1","event":"e","properties":{{"pad":"{}"}}}}"#,
        "x".repeat(pad)
    )
}

/// Reads until the status line of an answer has arrived.
async fn status_line(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(DEADLINE, async {
        while !got.windows(2).any(|w| w == b"\r\n") {
            let n = stream.read(&mut buf).await.expect("read");
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    assert!(read.is_ok(), "no answer within the deadline");
    String::from_utf8_lossy(&got)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

#[tokio::test]
async fn a_chunked_body_is_counted_by_what_it_sends_whatever_its_content_length_says() {
    let mut cfg = private_config("sec_framing");
    cfg.edge.max_inflight_body_bytes = 1024 * 1024;
    cfg.edge.max_inflight_body_share = 1.0;
    // The waiting request must outlive the polling below (a 408 would give
    // its share back and the poll would never see the budget held).
    cfg.edge.request_timeout_ms = 3 * DEADLINE.as_millis() as u64;
    let h = Harness::start_cfg(cfg).await;
    let sender = h.write_key("sender").await;
    let other = h.write_key("other").await;
    let addr = h.base.trim_start_matches("http://").to_string();
    // `Content-Length: 2` and a chunked body: the report was a 204 and 1,000
    // rows with 2 bytes reserved. hyper reads such a request as chunked
    // (RFC 9112 §6.1, Transfer-Encoding wins) and drops the length; the
    // budget counts what the chunks bring.
    let items: Vec<String> = (0..1000)
        .map(|i| event(&format!("chunked-{i}"), 300))
        .collect();
    let body = format!("[{}]", items.join(","));
    let (head_part, tail_part) = body.split_at(body.len() - 10);
    let request = format!(
        "POST /v1/events/track HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {sender}\r\n\
         content-type: application/json\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\n\
         {:x}\r\n{head_part}\r\n",
        head_part.len()
    );
    let send_head = || async {
        let mut stream = TcpStream::connect(&addr).await.expect("connect");
        stream.write_all(request.as_bytes()).await.expect("sent");
        stream
    };
    let mut stream = send_head().await;

    // While ~330 kB of it wait (~660 KiB held), another 300 kB body (600 KiB)
    // does not fit the 1 MiB budget: 503 — it would fit if 2 bytes were held.
    let other_body = format!("[{}]", event("other-1", 300_000));
    let started = std::time::Instant::now();
    loop {
        let r = h
            .post("/v1/events/track", Some(&other), None, &other_body)
            .await;
        if r.status == 503 {
            break;
        }
        assert_eq!(r.status, 204, "{}", r.body);
        assert!(
            started.elapsed() < DEADLINE,
            "the chunked body held nothing"
        );
        // The other body may have been first to the budget: then the chunked
        // request was the one refused (503, connection closed). Send it again.
        let mut answer = [0u8; 512];
        match stream.try_read(&mut answer) {
            Ok(n) => {
                let text = String::from_utf8_lossy(&answer[..n]);
                assert!(text.starts_with("HTTP/1.1 503"), "{text}");
                stream = send_head().await;
            }
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock, "{e}"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // The chunked request completes as chunked: all 1,000 rows, one 204.
    let rest = format!("{:x}\r\n{tail_part}\r\n0\r\n\r\n", tail_part.len());
    stream.write_all(rest.as_bytes()).await.expect("sent");
    let status = status_line(&mut stream).await;
    assert!(status.starts_with("HTTP/1.1 204"), "{status}");
    let n = h
        .wait_count(
            "SELECT count() FROM events_view WHERE org = ? AND event_id LIKE 'chunked-%'",
            "sender",
            1000,
        )
        .await;
    assert_eq!(n, 1000);
    // And the budget it held is back.
    let r = h
        .post("/v1/events/track", Some(&other), None, &other_body)
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    h.stop().await;
}

#[tokio::test]
async fn one_orgs_stalled_uploads_cannot_take_the_budget_from_another() {
    let mut cfg = private_config("sec_share");
    // 1 MiB, a quarter of it per org.
    cfg.edge.max_inflight_body_bytes = 1024 * 1024;
    cfg.edge.max_inflight_body_share = 0.25;
    let h = Harness::start_cfg(cfg).await;
    let greedy = h.write_key("greedy").await;
    let other = h.write_key("other").await;
    let addr = h.base.trim_start_matches("http://").to_string();
    let head = |extra: &str| {
        format!(
            "POST /v1/events/track HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {greedy}\r\n\
             content-type: application/json\r\n{extra}\r\n"
        )
    };

    // A chunked upload that sent one small chunk and stalls: it holds what
    // it sent (one 64 KiB step), not the largest body it could send.
    let mut chunked = TcpStream::connect(&addr).await.expect("connect");
    chunked
        .write_all(format!("{}2\r\n[{{\r\n", head("transfer-encoding: chunked\r\n")).as_bytes())
        .await
        .expect("sent");
    // Six uploads that declare 200 kB and stall: six × 400 KiB would be
    // more than the whole budget; the org's share admits none beyond it.
    let mut declared = Vec::new();
    for _ in 0..6 {
        let mut s = TcpStream::connect(&addr).await.expect("connect");
        s.write_all(format!("{}[{{", head("content-length: 200000\r\n")).as_bytes())
            .await
            .expect("sent");
        declared.push(s);
    }
    let mut refused = 0;
    for s in &mut declared {
        // Those past the share are answered at once; the others wait for their body.
        if let Ok(status) =
            tokio::time::timeout(std::time::Duration::from_secs(2), status_line(s)).await
        {
            assert!(status.starts_with("HTTP/1.1 503"), "{status}");
            refused += 1;
        }
    }
    assert!(
        refused >= 5,
        "only {refused} of 6 refused past the org's share"
    );

    // Another org's 200 kB request still fits while the greedy org stalls.
    let body = format!("[{}]", event("other-1", 200_000));
    let r = h.post("/v1/events/track", Some(&other), None, &body).await;
    assert_eq!(r.status, 204, "{}", r.body);
    drop(chunked);
    drop(declared);
    h.stop().await;
}

#[tokio::test]
async fn a_project_scoped_admin_key_acts_only_on_its_project() {
    let h = Harness::start("sec_scoped").await;
    let owner = h.key("acme", None, Role::Owner).await;
    for slug in ["aa", "bb"] {
        let r = h
            .call(
                "POST",
                "/v1/projects",
                &owner,
                Some(json!({ "slug": slug })),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let admin_aa = h.key("acme", Some("aa"), Role::Admin).await;
    let owner_aa = h.key("acme", Some("aa"), Role::Owner).await;

    // Its own project: read and rename.
    let r = h.call("GET", "/v1/projects/aa", &admin_aa, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = h
        .call(
            "PATCH",
            "/v1/projects/aa",
            &admin_aa,
            Some(json!({ "name": "A" })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Anything else is a 403, and nothing changes.
    for (method, path, body) in [
        ("DELETE", "/v1/projects/bb", None),
        ("POST", "/v1/projects/bb/archive", None),
        ("PATCH", "/v1/projects/bb", Some(json!({ "name": "B" }))),
        ("GET", "/v1/projects/bb", None),
        ("POST", "/v1/projects", Some(json!({ "slug": "cc" }))),
        ("GET", "/v1/projects/pending", None),
    ] {
        let r = h.call(method, path, &admin_aa, body).await;
        assert_eq!(r.status, 403, "{method} {path}: {}", r.body);
        assert_eq!(r.error()["type"], "permission_error");
    }
    let r = h
        .call(
            "PUT",
            "/v1/org/settings",
            &owner_aa,
            Some(json!({ "pending_limit": 500 })),
        )
        .await;
    assert_eq!(
        r.status, 403,
        "a scoped owner changed org settings: {}",
        r.body
    );

    let listed = h.call("GET", "/v1/projects", &admin_aa, None).await;
    assert_eq!(listed.status, 200);
    let slugs: Vec<String> = listed.json()["projects"]
        .as_array()
        .expect("projects")
        .iter()
        .map(|p| p["slug"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(slugs, vec!["aa"], "a scoped key lists its project only");

    let bb = h.call("GET", "/v1/projects/bb", &owner, None).await;
    assert_eq!(bb.json()["status"], "active", "bb was not archived");
    assert_eq!(bb.json()["name"], "bb", "bb was not renamed");
    let cc = h.call("GET", "/v1/projects/cc", &owner, None).await;
    assert_eq!(cc.status, 404, "cc was not created");
    h.stop().await;
}

#[tokio::test]
async fn org_settings_and_project_counts_stop_at_the_operators_ceilings() {
    let mut cfg = private_config("sec_ceilings");
    cfg.registry.max_pending_limit = 100;
    cfg.registry.max_projects_per_org = 2;
    let h = Harness::start_cfg(cfg).await;
    let owner = h.key("acme", None, Role::Owner).await;

    let r = h
        .call(
            "PUT",
            "/v1/org/settings",
            &owner,
            Some(json!({ "pending_limit": 101 })),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error()["param"], "pending_limit");
    let r = h
        .call(
            "PUT",
            "/v1/org/settings",
            &owner,
            Some(json!({ "pending_limit": 100 })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    for slug in ["p1", "p2"] {
        let r = h
            .call(
                "POST",
                "/v1/projects",
                &owner,
                Some(json!({ "slug": slug })),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let r = h
        .call(
            "POST",
            "/v1/projects",
            &owner,
            Some(json!({ "slug": "p3" })),
        )
        .await;
    assert_eq!(
        r.status, 403,
        "a third project past the ceiling: {}",
        r.body
    );
    let p3 = h.call("GET", "/v1/projects/p3", &owner, None).await;
    assert_eq!(p3.status, 404);
    h.stop().await;
}
