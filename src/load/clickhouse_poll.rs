//! Optional after-run check: how many events rows of the org ClickHouse
//! shows, and roughly how long after the last 204 the last one appeared.
//!
//! One read-only query over ClickHouse's HTTP interface:
//! `SELECT count() FROM <db>.events WHERE org = '<org>'`. ClickHouse 18.16
//! has no HTTP query parameters (`{org:String}`), so the org and database
//! come from the command line validated against strict patterns
//! (`^[a-z0-9-]{1,63}$`, `^[A-Za-z0-9_]{1,63}$`) before being spliced in.

use std::time::Duration;

use anyhow::{Context, bail};
use tokio::time::Instant;

/// Polling stops once the count has not grown for this long...
pub const STABLE_FOR: Duration = Duration::from_secs(2);
/// ... or after this long.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(60);
const POLL_EVERY: Duration = Duration::from_millis(100);

/// Where to count.
#[derive(Debug, Clone)]
pub struct Target {
    /// ClickHouse HTTP URL, e.g. `http://127.0.0.1:8123`.
    pub url: String,
    /// Database holding the table.
    pub database: String,
    /// The table counted (`events`, or `spans` for the traces mix).
    pub table: &'static str,
    /// Org whose rows to count.
    pub org: String,
}

impl Target {
    /// Validates the parts that end up in SQL.
    pub fn new(
        url: &str,
        database: &str,
        table: &'static str,
        org: &str,
    ) -> anyhow::Result<Target> {
        let org_ok = (1..=63).contains(&org.len())
            && org
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !org_ok {
            bail!("--org must match ^[a-z0-9-]{{1,63}}$");
        }
        let db_ok = (1..=63).contains(&database.len())
            && database
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !db_ok {
            bail!("--clickhouse-database must match ^[A-Za-z0-9_]{{1,63}}$");
        }
        reqwest::Url::parse(url).with_context(|| format!("--clickhouse-url {url}"))?;
        Ok(Target {
            url: url.trim_end_matches('/').to_string(),
            database: database.to_string(),
            table,
            org: org.to_string(),
        })
    }

    fn query(&self) -> String {
        format!(
            "SELECT count() FROM {}.{} WHERE org = '{}'",
            self.database, self.table, self.org
        )
    }
}

/// Rows of the org in the table now.
pub async fn count(client: &reqwest::Client, target: &Target) -> anyhow::Result<u64> {
    let response = client
        .post(format!("{}/", target.url))
        .timeout(Duration::from_secs(10))
        .body(target.query())
        .send()
        .await
        .with_context(|| format!("ClickHouse at {}", target.url))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .context("reading ClickHouse's answer")?;
    if !status.is_success() {
        bail!("ClickHouse answered {status}: {}", text.trim());
    }
    text.trim()
        .parse()
        .with_context(|| format!("ClickHouse answered {:?}, not a count", text.trim()))
}

/// What the poll saw.
#[derive(Debug, Clone, Copy)]
pub struct Visibility {
    /// Rows of the org before the run.
    pub before: u64,
    /// Rows of the org when polling stopped.
    pub after: u64,
    /// The first poll that saw the final count.
    pub last_growth: Instant,
    /// Whether the count stopped growing (false: gave up after 60 s).
    pub settled: bool,
}

impl Visibility {
    /// Rows this run added.
    pub fn new_rows(&self) -> u64 {
        self.after.saturating_sub(self.before)
    }
}

/// Polls until the count has not grown for [`STABLE_FOR`] or [`GIVE_UP_AFTER`] passed.
pub async fn wait_until_stable(
    client: &reqwest::Client,
    target: &Target,
    before: u64,
) -> anyhow::Result<Visibility> {
    let started = Instant::now();
    let mut last = count(client, target).await?;
    let mut last_growth = Instant::now();
    loop {
        let now = Instant::now();
        if now.duration_since(last_growth) >= STABLE_FOR {
            return Ok(Visibility {
                before,
                after: last,
                last_growth,
                settled: true,
            });
        }
        if now.duration_since(started) >= GIVE_UP_AFTER {
            return Ok(Visibility {
                before,
                after: last,
                last_growth,
                settled: false,
            });
        }
        tokio::time::sleep(POLL_EVERY).await;
        let n = count(client, target).await?;
        if n != last {
            last = n;
            last_growth = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_values_that_could_change_the_query() {
        assert!(Target::new("http://127.0.0.1:8123", "downpour", "events", "dev").is_ok());
        assert!(
            Target::new(
                "http://127.0.0.1:8123",
                "downpour",
                "events",
                "dev' OR 1=1 --"
            )
            .is_err()
        );
        assert!(Target::new("http://127.0.0.1:8123", "downpour", "events", "").is_err());
        assert!(Target::new("http://127.0.0.1:8123", "x.events --", "events", "dev").is_err());
        assert!(Target::new("not a url", "downpour", "events", "dev").is_err());
        let t = Target::new("http://h:1/", "load_test", "events", "org-1").expect("valid");
        assert_eq!(
            t.query(),
            "SELECT count() FROM load_test.events WHERE org = 'org-1'"
        );
        assert_eq!(t.url, "http://h:1");
    }
}
