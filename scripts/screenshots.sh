#!/usr/bin/env bash
# Refreshes the README's dashboard screenshots (docs/dashboard/*.png): runs
# the dashboard's browser tests (tests/it/dashboard.rs, headless Chromium)
# against a private ClickHouse + broker pair, writing the screenshots they
# take into docs/dashboard instead of .run/test/screenshots.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${DOWNPOUR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/downpour}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$CACHE/target}
export DOWNPOUR_RUN_DIR=$PWD/.run/screenshots

scripts/components.sh install
scripts/components.sh browser
cargo build --tests --locked
scripts/components.sh start
trap 'scripts/components.sh stop' EXIT
# shellcheck disable=SC1091
source "$DOWNPOUR_RUN_DIR/env"
DOWNPOUR_SCREENSHOTS=$PWD/docs/dashboard cargo test --locked --test it dashboard::
ls -l docs/dashboard
