//! Kafka over SASL/SCRAM + TLS and ClickHouse over HTTPS (issue 16), against
//! the secure endpoints `scripts/components.sh start-secure` runs: a tansu
//! that requires SCRAM-SHA-512 behind a TLS terminator, and ClickHouse's
//! HTTPS port, both with certificates from a CA only the tests trust.
//!
//! Shown: an event goes edge → broker → consumer → ClickHouse with every hop
//! authenticated and encrypted; a wrong password gets nothing through (503,
//! no row); a server certificate the client was not told to trust is
//! refused, and a CA file that cannot be used stops the start instead of
//! falling back.

use std::path::PathBuf;

use crate::common::{Harness, private_config};
use downpour::config::{Config, KafkaProtocol};
use downpour::runtime::Parts;

/// The secure endpoints, from the environment or `.run/test/secure.env`.
struct Secure {
    brokers: String,
    user: String,
    password: String,
    ca: PathBuf,
    clickhouse_https: String,
}

fn secure() -> Secure {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".run/test/secure.env");
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let get = |name: &str| {
        std::env::var(name)
            .ok()
            .or_else(|| {
                text.lines()
                    .filter_map(|l| l.trim_start_matches("export ").split_once('='))
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            })
            .unwrap_or_else(|| panic!("{name}: run scripts/components.sh start-secure"))
    };
    Secure {
        brokers: get("DOWNPOUR_TEST_SECURE_BROKERS"),
        user: get("DOWNPOUR_TEST_SECURE_USER"),
        password: get("DOWNPOUR_TEST_SECURE_PASSWORD"),
        ca: get("DOWNPOUR_TEST_TLS_CA").into(),
        clickhouse_https: get("DOWNPOUR_TEST_CLICKHOUSE_HTTPS_URL"),
    }
}

/// A private configuration that reaches both servers only through TLS,
/// Kafka with SASL/SCRAM-SHA-512 as `password`.
fn secure_config(name: &str, s: &Secure, password: &str) -> Config {
    let mut cfg = private_config(name);
    cfg.kafka.brokers = s.brokers.clone();
    cfg.kafka.security.security_protocol = KafkaProtocol::SaslSsl;
    cfg.kafka.security.ssl_ca_location = Some(s.ca.clone());
    cfg.kafka.security.sasl_mechanism = "SCRAM-SHA-512".into();
    cfg.kafka.security.sasl_username = s.user.clone();
    cfg.kafka.security.sasl_password = password.to_string();
    cfg.clickhouse.url = s.clickhouse_https.clone();
    cfg.clickhouse.ca_file = Some(s.ca.clone());
    cfg
}

const EVENT: &str =
    r#"{"event_id":"sec-1","user_id":"u1","event":"signed_in","properties":{"via":"tls"}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_travels_over_sasl_ssl_kafka_and_https_clickhouse() {
    let s = secure();
    let h = Harness::start_cfg(secure_config("sec_tls", &s, &s.password)).await;
    let key = h.write_key("acme").await;
    let r = h.post("/v1/events/track", Some(&key), None, EVENT).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let sql = "SELECT count() FROM events WHERE org = ? AND event_id = 'sec-1'";
    assert_eq!(
        h.wait_count(sql, "acme", 1).await,
        1,
        "read back over HTTPS"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_kafka_password_gets_nothing_through() {
    let s = secure();
    // Topics and tables made with the right password; then an edge with a wrong one.
    let good = secure_config("sec_badpw", &s, &s.password);
    downpour::runtime::migrate(&good).await.expect("migrate");
    let mut bad = good.clone();
    bad.kafka.security.sasl_password = format!("{}-wrong", s.password);
    bad.kafka.publish_timeout_ms = 3_000;
    let refused = downpour::runtime::migrate(&bad).await;
    assert!(refused.is_err(), "topics created with a wrong password");
    let h = Harness::start_with(
        bad,
        Parts {
            edge: true,
            consumers: false,
        },
        false,
    )
    .await;
    let key = h.write_key("acme").await;
    let r = h.post("/v1/events/track", Some(&key), None, EVENT).await;
    assert_eq!(r.status, 503, "{}", r.body);
    h.wait_ready(&format!("{}/readyz", h.base), 503, "broker")
        .await;
    h.stop().await;
    // Nothing reached the topic: a consumer with the right password sees
    // its high watermark at the start (lag 0 with nothing ever committed).
    let topic = format!("{}downpour.events", good.kafka.topic_prefix);
    let mut reading = good;
    reading.consumer.lag_interval_ms = 200;
    reading.consumer.metrics_listen = Some("127.0.0.1:0".parse().expect("addr"));
    let reader = Harness::start_with(
        reading,
        Parts {
            edge: false,
            consumers: true,
        },
        false,
    )
    .await;
    let lag = format!("downpour_consumer_lag{{topic=\"{topic}\",partition=");
    assert_eq!(
        reader.wait_metric(&lag, |_| true).await,
        0.0,
        "records reached {topic}"
    );
    reader.stop().await;
}

#[tokio::test]
async fn an_untrusted_clickhouse_certificate_is_refused() {
    let s = secure();
    let mut cfg = Config::default().clickhouse;
    cfg.url = s.clickhouse_https.clone();
    // The system's trust store does not hold the tests' CA.
    let untrusted = downpour::sink::clickhouse::server(&cfg).expect("client");
    let err = untrusted
        .query("SELECT 1")
        .fetch_one::<u8>()
        .await
        .expect_err("an unknown CA was trusted");
    assert!(
        format!("{err:?}").to_lowercase().contains("certificate"),
        "{err:?}"
    );
    cfg.ca_file = Some(s.ca.clone());
    let trusted = downpour::sink::clickhouse::server(&cfg).expect("client");
    assert_eq!(
        trusted
            .query("SELECT 1")
            .fetch_one::<u8>()
            .await
            .expect("select"),
        1
    );
}

#[test]
fn a_ca_file_that_cannot_be_used_is_an_error_not_a_fallback() {
    let mut cfg = Config::default().clickhouse;
    cfg.url = "https://127.0.0.1:1".into();
    cfg.ca_file = Some("/nonexistent/ca.pem".into());
    let err = downpour::sink::clickhouse::server(&cfg).expect_err("missing file");
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    let not_pem = std::env::temp_dir().join(format!("not-a-ca-{}.pem", std::process::id()));
    std::fs::write(&not_pem, "not a certificate").expect("write");
    cfg.ca_file = Some(not_pem.clone());
    assert!(
        downpour::sink::clickhouse::server(&cfg).is_err(),
        "garbage CA accepted"
    );
    let _ = std::fs::remove_file(not_pem);
    // A CA for a clear-text URL would not be used: refused, not ignored.
    cfg.url = "http://127.0.0.1:1".into();
    cfg.ca_file = Some(secure().ca);
    let err = downpour::sink::clickhouse::server(&cfg).expect_err("CA without https");
    assert!(err.to_string().contains("not https"), "{err}");
}
