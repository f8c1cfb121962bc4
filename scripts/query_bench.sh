#!/usr/bin/env bash
# The Query API bench (issue 11, docs/PERFORMANCE.md "Query API"): builds the
# release binary, starts a ClickHouse 18.16 + tansu pair under
# .run/query-bench (kept between runs), loads benches/query/dataset.sql once
# (10M events in the analyst's project beside 50M of noisy neighbours; about
# 3 minutes and 5 GB the first time, then cached: the database records the
# data set's version), runs `downpour edge` on it and `downpour query-bench
# "$@"`: p50/p99 of 200 calls per operation against its target, with
# exactly-once checks. Stops everything it started.
#
#   scripts/query_bench.sh                       # every operation, 200 calls each
#   scripts/query_bench.sh --calls 50 --only list
#   scripts/query_bench.sh --rebuild             # drop and load the data set again
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${DOWNPOUR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/downpour}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$CACHE/target}
export DOWNPOUR_RUN_DIR=$PWD/.run/query-bench
export DOWNPOUR_CLICKHOUSE_DATABASE=qbench
# The data set's version: a changed dataset.sql loads it again. A new
# migration does not: `migrate` applies it to the loaded data, as on a
# production server (`--rebuild` loads from scratch).
DATASET_VERSION="dataset-1 $(sha256sum benches/query/dataset.sql | cut -c1-16)"

REBUILD=
args=()
while [ $# -gt 0 ]; do
  case $1 in
    --rebuild) REBUILD=1; shift ;;
    *) args+=("$1"); shift ;;
  esac
done

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
CH=$DOWNPOUR_CLICKHOUSE_URL
sql() { curl -sfS "$CH/?database=$DOWNPOUR_CLICKHOUSE_DATABASE" --data-binary @-; }

have=$(echo "SELECT value FROM bench_dataset WHERE name = 'version'" | sql 2>/dev/null || true)
if [ -n "$REBUILD" ] || [ "$have" != "$DATASET_VERSION" ]; then
  echo "query-bench: loading the data set (once; ~3 min)"
    curl -sfS "$CH/" --data-binary "DROP DATABASE IF EXISTS $DOWNPOUR_CLICKHOUSE_DATABASE" >/dev/null
  "$BIN" migrate
  python3 - "$CH/?database=$DOWNPOUR_CLICKHOUSE_DATABASE" benches/query/dataset.sql <<'PY'
import sys, time, urllib.request
url, path = sys.argv[1], sys.argv[2]
text = "\n".join(l for l in open(path).read().splitlines() if not l.lstrip().startswith("--"))
for stmt in (s.strip() for s in text.split(";\n")):
    if not stmt.strip(";").strip():
        continue
    started = time.time()
    urllib.request.urlopen(urllib.request.Request(url, data=stmt.strip(";").encode()), timeout=3600).read()
    print(f"query-bench: {stmt.split()[2]} {time.time() - started:.0f} s", flush=True)
PY
  echo "CREATE TABLE IF NOT EXISTS bench_dataset (name String, value String) ENGINE = TinyLog" | sql
    echo "INSERT INTO bench_dataset VALUES ('version', '$DATASET_VERSION')" | sql
else
  "$BIN" migrate
fi
echo "query-bench: $(echo "SELECT formatReadableSize(sum(data_compressed_bytes)), sum(rows) FROM system.parts WHERE active AND database = '$DOWNPOUR_CLICKHOUSE_DATABASE'" | sql | tr '\t' ' ') on disk (size, rows)"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
OPS=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export DOWNPOUR_LISTEN=127.0.0.1:$PORT DOWNPOUR_EDGE_OPS_LISTEN=127.0.0.1:$OPS
# The bench calls one at a time; give the org room anyway.
export DOWNPOUR_QUERY_MAX_CONCURRENT_PER_ORG=16
OWNER=$("$BIN" keys create --org bench --role owner | tail -n 1)
DOWNPOUR_QUERY_KEY=$("$BIN" keys create --org bench --role member | tail -n 1)
export DOWNPOUR_QUERY_KEY
"$BIN" edge >"$DOWNPOUR_RUN_DIR/edge.log" 2>&1 &
pids+=($!)
for _ in $(seq 150); do
  curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break
  sleep 0.2
done
curl -sS -o /dev/null -w 'query-bench: project analyst: %{http_code}\n' "http://127.0.0.1:$PORT/v1/projects" \
  -H "Authorization: Bearer $OWNER" -H 'Content-Type: application/json' -d '{"slug": "analyst"}'
"$BIN" query-bench --url "http://127.0.0.1:$PORT" "${args[@]}"
