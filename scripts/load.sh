#!/usr/bin/env bash
# End-to-end load in one command (README, docs/PERFORMANCE.md): builds the
# release binary, starts a private ClickHouse + tansu pair under .run/load,
# runs `downpour edge` and `downpour consumer` as separate processes (so each
# one's CPU is measured alone), drives the edge with `downpour load "$@"`,
# then prints the consumer's CPU-seconds per million rows and stops it all.
#
#   scripts/load.sh --mix batch100 --duration 20
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${DOWNPOUR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/downpour}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$CACHE/target}
export DOWNPOUR_RUN_DIR=$PWD/.run/load

scripts/components.sh install
cargo build --release --locked
scripts/components.sh stop >/dev/null 2>&1 || true
scripts/components.sh start
BIN=$CARGO_TARGET_DIR/release/downpour
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  scripts/components.sh stop
}
trap cleanup EXIT
# shellcheck disable=SC1091
source "$DOWNPOUR_RUN_DIR/env"
export DOWNPOUR_CLICKHOUSE_DATABASE=load
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export DOWNPOUR_LISTEN=127.0.0.1:$PORT

"$BIN" migrate >&2
KEY=$("$BIN" keys create --org load 2>/dev/null | tail -n 1)
"$BIN" edge >"$DOWNPOUR_RUN_DIR/edge.log" 2>&1 & pids+=($!)
"$BIN" consumer >"$DOWNPOUR_RUN_DIR/consumer.log" 2>&1 & consumer=$!; pids+=($consumer)
until curl -sf "http://$DOWNPOUR_LISTEN/healthz" >/dev/null; do sleep 0.2; done

cpu_of() { # user+system CPU seconds of a pid, from /proc
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat"
}
rows() {
  local n=0
  for t in events signals users partial_events; do
    n=$((n + $(curl -s "$DOWNPOUR_CLICKHOUSE_URL/?database=load" --data-binary "SELECT count() FROM $t")))
  done
  echo "$n"
}
consumer_cpu0=$(cpu_of "$consumer"); rows0=$(rows)
"$BIN" load --url "http://$DOWNPOUR_LISTEN" --key "$KEY" --edge-only-cpu \
  --clickhouse-url "$DOWNPOUR_CLICKHOUSE_URL" --clickhouse-database load --org load "$@"
consumer_cpu1=$(cpu_of "$consumer"); rows1=$(rows)
python3 - "$consumer_cpu0" "$consumer_cpu1" "$rows0" "$rows1" <<'PY'
import sys
c0, c1, r0, r1 = map(float, sys.argv[1:])
rows = r1 - r0
per = (c1 - c0) / rows * 1e6 if rows else float("nan")
print(f"consumer: {rows:.0f} rows written, {c1 - c0:.2f} CPU-s, {per:.2f} CPU-s per million rows")
PY
