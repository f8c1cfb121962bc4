#!/usr/bin/env bash
# The whole test suite against real components (README, Quick start):
# installs ClickHouse, tansu and the Raindrop clients (Python SDK, JS SDKs,
# browser SDK + Chromium) if missing, starts a
# private ClickHouse + broker pair and a ClickHouse cluster (2 shards x 2
# replicas, ZooKeeper) under .run/test, runs lints, unit and
# integration tests and the benches in test mode, then stops the pair.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${DOWNPOUR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/downpour}
# Dependencies build once per machine, whatever clone runs the tests.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$CACHE/target}
export DOWNPOUR_RUN_DIR=$PWD/.run/test

scripts/components.sh install
scripts/components.sh sdk
scripts/components.sh chdb
scripts/components.sh browser
# The TS SDK and the AI SDK integration, pinned (tests/it/js_clients.rs).
DOWNPOUR_JS_CLIENTS=$(scripts/components.sh clients | tail -n 1)
export DOWNPOUR_JS_CLIENTS
# Compile before starting servers so they are not idle during the build.
cargo build --all-targets --locked
scripts/components.sh stop >/dev/null 2>&1 || true
scripts/components.sh start
trap 'scripts/components.sh stop; scripts/components.sh stop-cluster' EXIT
# ZooKeeper + 2 shards x 2 replicas of ClickHouse (tests/it/cluster.rs).
scripts/components.sh stop-cluster >/dev/null 2>&1 || true
scripts/components.sh start-cluster
# SASL/SCRAM + TLS broker and ClickHouse HTTPS (tests/it/secure_transport.rs).
scripts/components.sh start-secure
# shellcheck disable=SC1091
source "$DOWNPOUR_RUN_DIR/env"
# shellcheck disable=SC1091
source "$DOWNPOUR_RUN_DIR/secure.env"
# shellcheck disable=SC1091
source "$DOWNPOUR_RUN_DIR/cluster/env"
export DOWNPOUR_SDK_PYTHON=$CACHE/venv-sdk/bin/python
export DOWNPOUR_BROWSER_SDK=$CACHE/npm/browser-sdk-0.0.2/package/dist/index.js

# docker-compose.yml holds no password: it reads them from .env (docs/RELIABILITY.md, "Security").
if grep -nE '^[[:space:]]*[A-Za-z_]*(PASSWORD|password):[[:space:]]+[^$[:space:]]' docker-compose.yml; then
  echo "test.sh: docker-compose.yml must not hold a password" >&2
  exit 1
fi
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
# The production build (Dockerfile): no load generator, no HTTP client.
cargo clippy --no-default-features --locked -- -D warnings
cargo test --all-targets --locked
# The Query API, the Query SDK and the dashboard again, on the ClickHouse
# cluster (docs/ARCHITECTURE.md "A ClickHouse cluster"): the same SQL reads
# Distributed tables there.
DOWNPOUR_CLICKHOUSE_CLUSTER=downpour DOWNPOUR_CLICKHOUSE_SHARDS="$DOWNPOUR_TEST_CLUSTER_SHARDS" \
  DOWNPOUR_CLICKHOUSE_URL="${DOWNPOUR_TEST_CLUSTER_URLS%% *}" \
  cargo test --locked --test it -- query:: query_sdk dashboard::
# The fuzz targets, 15 s each from their committed corpus (docs/RELIABILITY.md, "Security").
scripts/fuzz.sh
