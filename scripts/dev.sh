#!/usr/bin/env bash
# downpour's main job on real components (README, Quick start): installs
# ClickHouse and tansu if missing, starts them under .run/dev, then runs
# `downpour dev` (migrate + edge + consumers), which prints the base URL, a
# write key and a curl example. Ctrl-C stops downpour and the components.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${DOWNPOUR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/downpour}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$CACHE/target}
export DOWNPOUR_RUN_DIR=$PWD/.run/dev

scripts/components.sh install
cargo build --release --locked
scripts/components.sh start
trap 'scripts/components.sh stop' EXIT
# shellcheck disable=SC1091
source "$DOWNPOUR_RUN_DIR/env"
export DOWNPOUR_LISTEN=${DOWNPOUR_LISTEN:-127.0.0.1:8080}
"$CARGO_TARGET_DIR/release/downpour" dev
