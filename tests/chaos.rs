//! The chaos test's short form (issue 5, "Faults"; docs/RELIABILITY.md): runs
//! `scripts/chaos.sh --short` with this build's binary and asserts it exits 0.
//!
//! The script starts its own ClickHouse + tansu pair under `.run/chaos-ci`
//! (it stops and restarts them, so never the shared `.run/test` pair), runs
//! `downpour edge` and `downpour consumer` as child processes, injects each
//! fault under `downpour load`, and checks after each one that every event id
//! answered 204 is readable exactly once in `events_view`. Its table of
//! figures is printed (visible with `--nocapture`, and on failure).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

#[test]
fn short_chaos_run_keeps_every_acknowledged_event_exactly_once() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut command = Command::new(root.join("scripts/chaos.sh"));
    command.arg("--short");
    // The suite's own DOWNPOUR_* (the shared pair, its run dir) must not leak
    // into the script: it stops the components of the run dir it is given.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("DOWNPOUR_") || key == "CHAOS_RUN_DIR" {
            command.env_remove(&key);
        }
    }
    command
        .env("CHAOS_RUN_DIR", root.join(".run/chaos-ci"))
        .env("DOWNPOUR_BIN", env!("CARGO_BIN_EXE_downpour"));
    let out = command.output().expect("scripts/chaos.sh runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "scripts/chaos.sh --short failed ({}):\n{stdout}\n--- stderr ---\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("fault ") && stdout.lines().count() >= 5,
        "no table of figures:\n{stdout}"
    );
}
