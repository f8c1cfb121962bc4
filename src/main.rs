//! The `downpour` binary: subcommands over [`downpour::runtime`].

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use downpour::config::Config;
use downpour::registry::keys::Role;
use downpour::registry::slug::Slug;
use downpour::runtime::{self, Parts};

/// mimalloc rather than glibc malloc (Cargo.toml says why).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// downpour: Raindrop-compatible ingest. SDK events over HTTP → Kafka → ClickHouse,
/// partitioned by project.
///
/// Configuration: defaults, then the TOML file given by --config, then DOWNPOUR_*
/// environment variables (DOWNPOUR_KAFKA_BROKERS, DOWNPOUR_CLICKHOUSE_URL,
/// DOWNPOUR_CLICKHOUSE_DATABASE, DOWNPOUR_LISTEN, ...).
#[derive(Parser)]
#[command(name = "downpour", version)]
struct Cli {
    /// TOML configuration file.
    #[arg(long, short, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the ingest HTTP server: /v1/events/track, /v1/signals/track, /v1/users/identify,
    /// /v1/events/track_partial, plus /healthz and /readyz (and /metrics on edge.ops_listen). Answers 204 only once
    /// Kafka acknowledged the request's records.
    Edge,
    /// Run the Kafka → ClickHouse consumers (one consumer group per pipeline). Offsets are
    /// committed only after ClickHouse accepted the rows.
    Consumer,
    /// Apply the sql/ migrations (recorded in schema_migrations; safe to re-run) and create
    /// the Kafka topics the pipelines need.
    Migrate,
    /// Local main job: migrate, then run the edge and the consumers in one process. Prints
    /// the base URL, a usable write key, the dashboard's URL, an admin key to sign in
    /// with, and a curl example.
    Dev,
    /// Run one retention sweep now, as a consumer process does on its intervals
    /// where ClickHouse has no TTL (18.16), and wait for its mutations: `bodies` empties
    /// the bodies past their expiry, `rows` deletes the rows past theirs. Prints what
    /// each table did and how long the server took.
    Sweep {
        /// What expires: `bodies` are emptied, `rows` deleted.
        what: SweepWhat,
        /// Sweep as if it were this time (seconds since the epoch); now when unset.
        #[arg(long)]
        at: Option<u32>,
        /// How long to wait for the mutations before naming those still running and
        /// failing.
        #[arg(long, default_value_t = 600)]
        wait_secs: u64,
    },
    /// Manage API keys (stored hashed; the full value is printed once).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Drive an edge with realistic SDK traffic; prints requests/s, events/s, latency
    /// percentiles and the edge's CPU-seconds per million events.
    #[cfg(feature = "load")]
    Load(downpour::load::LoadArgs),
    /// The Query API's latency on a large project: p50/p99 per operation against its
    /// target, with exactly-once checks (`scripts/query_bench.sh` builds the data set).
    #[cfg(feature = "load")]
    QueryBench(downpour::load::query_bench::QueryBenchArgs),
}

/// What a `downpour sweep` expires.
#[derive(Clone, Copy, clap::ValueEnum)]
enum SweepWhat {
    /// Empty the bodies past `body_expires_at`.
    Bodies,
    /// Delete the rows past `expires_at`.
    Rows,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key; its full value is the last line of stdout.
    Create {
        /// Org the key belongs to.
        #[arg(long)]
        org: String,
        /// Restrict the key to one project (it may write only there).
        #[arg(long)]
        project: Option<String>,
        /// write (SDK write key), owner, admin or member.
        #[arg(long, default_value = "write")]
        role: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    downpour::telemetry::init_logs();
    let cfg = Config::load(cli.config.as_deref()).context("loading configuration")?;
    match cli.command {
        Command::Edge => {
            serve(
                &cfg,
                Parts {
                    edge: true,
                    consumers: false,
                },
            )
            .await
        }
        Command::Consumer => {
            serve(
                &cfg,
                Parts {
                    edge: false,
                    consumers: true,
                },
            )
            .await
        }
        Command::Migrate => {
            let applied = runtime::migrate(&cfg).await?;
            println!(
                "migrations applied: {}",
                if applied.is_empty() {
                    "none (up to date)".into()
                } else {
                    applied.join(", ")
                }
            );
            Ok(())
        }
        Command::Dev => dev(&cfg).await,
        Command::Sweep {
            what,
            at,
            wait_secs,
        } => sweep(&cfg, what, at, wait_secs).await,
        Command::Keys {
            command: KeysCommand::Create { org, project, role },
        } => {
            let key = create_key(&cfg, &org, project.as_deref(), &role).await?;
            println!("{key}");
            Ok(())
        }
        #[cfg(feature = "load")]
        Command::Load(args) => downpour::load::run(args).await,
        #[cfg(feature = "load")]
        Command::QueryBench(args) => downpour::load::query_bench::run(args).await,
    }
}

async fn sweep(
    cfg: &Config,
    what: SweepWhat,
    at: Option<u32>,
    wait_secs: u64,
) -> anyhow::Result<()> {
    use downpour::sink::retention::{Sweep, Sweeper};
    use std::time::{Duration, Instant};
    let sweep = match what {
        SweepWhat::Bodies => Sweep::Bodies,
        SweepWhat::Rows => Sweep::Rows,
    };
    let now = match at {
        Some(at) => at,
        None => u32::try_from(chrono::Utc::now().timestamp())?,
    };
    let started = Instant::now();
    let deadline = started + Duration::from_secs(wait_secs);
    // One server, or each shard of a cluster in turn.
    for sweeper in Sweeper::of(&cfg.clickhouse)? {
        if sweeper.has_ttl().await? {
            println!(
                "this server expires rows by TTL (sql/0011_retention_ttl.sql): nothing to sweep"
            );
            return Ok(());
        }
        for (table, outcome) in sweeper.sweep(sweep, now).await? {
            println!("{table}: {outcome:?}");
        }
        let mut said = Instant::now();
        loop {
            let running = sweeper.unfinished().await?;
            if running.is_empty() {
                break;
            }
            let late = Instant::now() >= deadline;
            if late || said.elapsed() >= Duration::from_secs(10) {
                for (table, id, command) in &running {
                    println!("still running: {table} {id}: {command}");
                }
                said = Instant::now();
            }
            if late {
                anyhow::bail!(
                    "{} mutations unfinished after {wait_secs} s (system.mutations has them; \
                     a table with one is not swept again until it ends)",
                    running.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    println!("settled in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

async fn serve(cfg: &Config, parts: Parts) -> anyhow::Result<()> {
    let running = runtime::start(cfg, parts).await?;
    if let Some(addr) = running.edge_addr {
        tracing::info!(%addr, "edge listening");
    }
    runtime::termination_signal().await;
    tracing::info!("shutting down");
    running.stop().await;
    Ok(())
}

async fn create_key(
    cfg: &Config,
    org: &str,
    project: Option<&str>,
    role: &str,
) -> anyhow::Result<String> {
    Slug::parse(org).map_err(|e| anyhow::anyhow!("--org {e}"))?;
    let Some(role) = Role::parse(role) else {
        bail!("--role must be write, owner, admin or member")
    };
    let project = project
        .map(Slug::parse)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--project {e}"))?;
    let key = runtime::key_store(cfg)?
        .create(org, project.as_ref(), role)
        .await?;
    eprintln!(
        "created {} key {} for org {org}; the full key is shown once:",
        role.as_str(),
        key.principal.key_id
    );
    Ok(key.secret)
}

async fn dev(cfg: &Config) -> anyhow::Result<()> {
    let applied = runtime::migrate(cfg).await.context("migrate")?;
    tracing::info!(?applied, "migrated");
    let running = runtime::start(
        cfg,
        Parts {
            edge: true,
            consumers: true,
        },
    )
    .await?;
    let key = create_key(cfg, "dev", None, "write").await?;
    let admin = create_key(cfg, "dev", None, "admin").await?;
    let addr = running.edge_addr.context("edge address")?;
    println!("downpour dev is running");
    println!("  base URL:   http://{addr}/v1/");
    println!("  write key:  {key}  (org \"dev\")");
    println!("  dashboard:  http://{addr}/dashboard");
    println!("  admin key:  {admin}  (sign in to the dashboard with it)");
    println!(
        "  ClickHouse: {} database {}",
        cfg.clickhouse.url, cfg.clickhouse.database
    );
    println!("try:");
    println!(
        "  curl -i http://{addr}/v1/events/track -H 'Authorization: Bearer {key}' -H 'X-Raindrop-Project-Id: support-prod' \
         -H 'Content-Type: application/json' -d '[{{\"user_id\": \"user_123\", \"event\": \"chat_message\"}}]'"
    );
    runtime::termination_signal().await;
    running.stop().await;
    Ok(())
}
