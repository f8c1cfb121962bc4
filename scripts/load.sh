#!/usr/bin/env bash
# End-to-end load in one command (README, docs/PERFORMANCE.md): builds the
# release binary, starts a private ClickHouse + tansu pair under .run/load,
# runs `downpour edge` and `downpour consumer` as separate processes (so each
# one's CPU is measured alone), drives the edge with `downpour load "$@"`,
# then prints the consumer's CPU-seconds per million rows and stops it all.
#
#   scripts/load.sh --mix batch100 --duration 20
#   scripts/load.sh --stall-broker 10 --mix batch100 --duration 25   # overload: tansu SIGSTOPped
#                                                                    # for 10 s, 5 s into the run
#   scripts/load.sh --sweep --mix batch100 --duration 20   # then the retention sweeps of
#                                                          # ClickHouse 18.16 over what it wrote
#   scripts/load.sh --unknown-key --mix single --connections 8   # the HTTP exchange alone:
#                                                          # every request refused 401 at authentication
#
# Besides `downpour load`'s report it prints the consumer's CPU-seconds per
# million rows and peak RSS, and the consumer's INSERTs per second per table
# (from its /metrics).
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${DOWNPOUR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/downpour}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$CACHE/target}
export DOWNPOUR_RUN_DIR=$PWD/.run/load

STALL=
SWEEP=
UNKNOWN_KEY=
CONSUMERS=1
args=()
while [ $# -gt 0 ]; do
  case $1 in
    --stall-broker) STALL=$2; shift 2 ;;
    --sweep) SWEEP=1; shift ;;
    --unknown-key) UNKNOWN_KEY=1; shift ;;
    --consumers) CONSUMERS=$2; shift 2 ;;
    --partitions) export DOWNPOUR_KAFKA_PARTITIONS=$2; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
[ -n "$STALL$UNKNOWN_KEY" ] && args+=(--allow-failures)
[[ "$CONSUMERS" =~ ^[1-9][0-9]*$ ]] || { echo "load: --consumers takes a positive number" >&2; exit 2; }

scripts/components.sh install
cargo build --release --locked
scripts/components.sh stop >/dev/null 2>&1 || true
scripts/components.sh start
BIN=$CARGO_TARGET_DIR/release/downpour
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  # A --stall-broker run cut short must not leave the broker stopped.
  kill -CONT "$(cat "$DOWNPOUR_RUN_DIR/tansu/pid" 2>/dev/null)" 2>/dev/null || true
  wait 2>/dev/null || true
  scripts/components.sh stop
}
trap cleanup EXIT
# shellcheck disable=SC1091
source "$DOWNPOUR_RUN_DIR/env"
export DOWNPOUR_CLICKHOUSE_DATABASE=load
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export DOWNPOUR_LISTEN=127.0.0.1:$PORT
PORT3=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export DOWNPOUR_EDGE_OPS_LISTEN=127.0.0.1:$PORT3
# `--projects N` sends N slugs that nobody created: let the load org hold them all pending.
export DOWNPOUR_REGISTRY_DEFAULT_PENDING_LIMIT=${DOWNPOUR_REGISTRY_DEFAULT_PENDING_LIMIT:-100000}

"$BIN" migrate >&2
KEY=$("$BIN" keys create --org load 2>/dev/null | tail -n 1)
"$BIN" edge >"$DOWNPOUR_RUN_DIR/edge.log" 2>&1 & edge=$!; pids+=($edge)
# `--consumers N` processes in the group, each with its own metrics port (and
# so its own static instance id); the first logs to consumer.log.
consumers=() consumer_ports=()
for i in $(seq "$CONSUMERS"); do
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  log=$DOWNPOUR_RUN_DIR/consumer.log
  [ "$i" = 1 ] || log=$DOWNPOUR_RUN_DIR/consumer-$i.log
  DOWNPOUR_CONSUMER_METRICS_LISTEN=127.0.0.1:$port "$BIN" consumer >"$log" 2>&1 &
  consumers+=($!) consumer_ports+=("$port"); pids+=($!)
done
until curl -sf "http://$DOWNPOUR_LISTEN/healthz" >/dev/null; do sleep 0.2; done

cpu_of() { # user+system CPU seconds of a pid, from /proc
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat"
}
rows() {
  local n=0
  for t in events signals users partial_events spans; do
    n=$((n + $(curl -s "$DOWNPOUR_CLICKHOUSE_URL/?database=load" --data-binary "SELECT count() FROM $t")))
  done
  echo "$n"
}
consumer_metrics() { local p; for p in "${consumer_ports[@]}"; do curl -s "http://127.0.0.1:$p/metrics"; done; }
inserts() { # INSERTs the consumers sent so far, per table, from their /metrics
  consumer_metrics |
    awk -F'[{}"]' '/^downpour_consumer_write_seconds_count/ && /what="insert"/ { n[$3] += $NF } END { for (t in n) printf "%s=%d ", t, n[t] }'
}
consumers_cpu() { local p s=0; for p in "${consumers[@]}"; do s=$(python3 -c "print($s + $(cpu_of "$p"))"); done; echo "$s"; }
peak_rss_mb() { awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
consumers_peak_rss_mb() { local p; for p in "${consumers[@]}"; do peak_rss_mb "$p"; echo; done | sort -n | tail -n 1; }
stall() { # SIGSTOP the broker 5 s into the run for $STALL s, sampling the edge's RSS
  local tansu max=0 rss
  tansu=$(cat "$DOWNPOUR_RUN_DIR/tansu/pid")
  sleep 5
  kill -STOP "$tansu"
  local end=$(( $(date +%s) + STALL ))
  while [ "$(date +%s)" -lt "$end" ]; do
    rss=$(awk '/VmRSS/ { print $2 }' "/proc/$edge/status")
    [ "$rss" -gt "$max" ] && max=$rss
    sleep 0.2
  done
  kill -CONT "$tansu"
  echo "overload: broker stopped (SIGSTOP) for $STALL s; edge RSS peak during the stall $((max / 1024)) MB" \
    "(bound: kafka.queue_max_kbytes + in-flight bodies, see docs/PERFORMANCE.md)"
}
# Warm-up before the clock starts: rounds of one event to each of 16
# projects (so every partition, whichever consumer holds it), until a whole
# round is readable within 3 s of its 204s. tansu's group joins and
# rebalances take seconds; the 204 -> visible figures must measure the
# pipeline, not the joins.
warm() { # ROUND: sends the round's events, then polls up to 3 s for all 16
  local i
  for i in $(seq 0 15); do
    curl -sf -o /dev/null -X POST "http://$DOWNPOUR_LISTEN/v1/events/track" -H "Authorization: Bearer $KEY" \
      -H "X-Raindrop-Project-Id: warmup-$i" -H 'Content-Type: application/json' \
      --data "{\"event_id\": \"warmup-$1-$i\", \"user_id\": \"u\", \"event\": \"warmup\"}"
  done
  for _ in $(seq 15); do
    [ "$(curl -s "$DOWNPOUR_CLICKHOUSE_URL/?database=load" --data-binary \
      "SELECT count() FROM events WHERE event_id LIKE 'warmup-$1-%'")" = 16 ] && return 0
    sleep 0.2
  done
  return 1
}
warmed=
for round in $(seq 60); do warm "$(date +%s%N)-$round" && { warmed=1; break; }; done
[ -n "$warmed" ] || { echo "load: the pipeline never delivered a warm-up round within 3 s; see $DOWNPOUR_RUN_DIR/consumer*.log" >&2; exit 1; }
consumer_cpu0=$(consumers_cpu); rows0=$(rows); inserts0=$(inserts); t0=$(date +%s.%N)
# Not a key: the edge answers 401 before reading the body or looking anything up.
[ -n "$UNKNOWN_KEY" ] && KEY=dp_not_a_key
[ -n "$STALL" ] && { stall & pids+=($!); }
"$BIN" load --url "http://$DOWNPOUR_LISTEN" --metrics-url "http://$DOWNPOUR_EDGE_OPS_LISTEN" --key "$KEY" --edge-only-cpu \
  --clickhouse-url "$DOWNPOUR_CLICKHOUSE_URL" --clickhouse-database load --org load "${args[@]}"
consumer_cpu1=$(consumers_cpu); rows1=$(rows); inserts1=$(inserts); t1=$(date +%s.%N)
# The consumer's and the edge's metrics at the end (INSERT durations, batch sizes, the
# edge's own request durations), for a look afterwards.
consumer_metrics >"$DOWNPOUR_RUN_DIR/consumer.metrics" || true
curl -s "http://$DOWNPOUR_EDGE_OPS_LISTEN/metrics" >"$DOWNPOUR_RUN_DIR/edge.metrics" || true
echo "ClickHouse active parts per table at the end (partitions): $(curl -s "$DOWNPOUR_CLICKHOUSE_URL/?database=load" --data-binary \
  "SELECT arrayStringConcat(groupArray(concat(table, ' ', toString(n), ' (', toString(p), ')')), ', ') FROM (SELECT table, count() AS n, uniqExact(partition) AS p FROM system.parts WHERE active AND database = 'load' AND table IN ('events', 'events_by_time', 'events_by_user', 'signals', 'users', 'partial_events', 'spans') GROUP BY table ORDER BY table)")"
python3 - "$consumer_cpu0" "$consumer_cpu1" "$rows0" "$rows1" "$t0" "$t1" \
  "$(consumers_peak_rss_mb)" "$inserts0" "$inserts1" "$CONSUMERS" <<'PY'
import sys
c0, c1, r0, r1, t0, t1, rss = map(float, sys.argv[1:8])
parse = lambda s: {k: float(v) for k, v in (kv.split("=") for kv in s.split())}
i0, i1 = parse(sys.argv[8]), parse(sys.argv[9])
rows = r1 - r0
per = (c1 - c0) / rows * 1e6 if rows else float("nan")
n = sys.argv[10]
print(f"consumer ({n} process{'es' if n != '1' else ''}): {rows:.0f} rows written, {c1 - c0:.2f} CPU-s, {per:.2f} CPU-s per million rows; peak RSS {rss:.1f} MB")
rates = ", ".join(f"{t} {(i1[t] - i0.get(t, 0)) / (t1 - t0):.2f}" for t in sorted(i1))
print(f"consumer INSERTs per second, by table, over {t1 - t0:.1f} s: {rates} (budget: consumer.max_inserts_per_second_per_table)")
PY
# The retention sweeps (src/sink/retention.rs) over what the run wrote, on
# a clock moved past every body's expiry (48 h), then every row's (90 d):
# ClickHouse's CPU-seconds (its merges included) and the table bytes.
if [ -n "$SWEEP" ]; then
  ch=$(cat "$DOWNPOUR_RUN_DIR/clickhouse/pid")
  q() { curl -s "$DOWNPOUR_CLICKHOUSE_URL/?database=load" --data-binary "$1"; }
  until [ "$(rows)" = "$(sleep 2; rows)" ]; do :; done   # the consumer has drained
  disk() { q "SELECT round(sum(bytes_on_disk) / 1e6, 1) FROM system.parts WHERE active AND database = 'load'"; }
  now=$(date +%s)
  for step in "bodies $((now + 49 * 3600))" "bodies $((now + 49 * 3600 + 60))" "rows $((now + 91 * 86400))"; do
    set -- $step
    total=$(rows); mb0=$(disk); cpu0=$(cpu_of "$ch"); s0=$(date +%s.%N)
    "$BIN" sweep "$1" --at "$2" | tr '\n' ' ' >"$DOWNPOUR_RUN_DIR/sweep.out"
    cpu1=$(cpu_of "$ch"); s1=$(date +%s.%N); mb1=$(disk)
    python3 - "$1" "$total" "$cpu0" "$cpu1" "$s0" "$s1" "$mb0" "$mb1" "$(cat "$DOWNPOUR_RUN_DIR/sweep.out")" <<'PY'
import re, sys
what, total, c0, c1, s0, s1, mb0, mb1, out = sys.argv[1], *map(float, sys.argv[2:9]), sys.argv[9]
swept = sum(int(n) for n in re.findall(r"Mutated\((\d+)\)", out))
per = (c1 - c0) / swept * 1e6 if swept else float("nan")
print(f"retention: {what} sweep: {swept:.0f} rows swept (copies of events included; the stream tables hold {total:.0f}), ClickHouse {c1 - c0:.2f} CPU-s "
      f"({per:.2f} per million rows swept), {s1 - s0:.1f} s until settled; tables {mb0:.1f} -> {mb1:.1f} MB")
PY
  done
fi
