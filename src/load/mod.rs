//! The end-to-end load command (placeholder until the generator lands).

/// Load command arguments.
#[derive(Debug, clap::Args)]
pub struct LoadArgs {}

/// Runs the load.
pub async fn run(_args: LoadArgs) -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}
