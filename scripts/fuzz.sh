#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer) of what untrusted bytes reach: the
# edge's JSON validation (`validate`), its OTLP body handling (`otlp`) and the consumer's walk of a Kafka
# record it did not write (`record_walk`); targets in fuzz/fuzz_targets/.
#
#   scripts/fuzz.sh                # each target 15 s (what scripts/test.sh runs)
#   scripts/fuzz.sh --time 600     # each target 10 minutes
#
# Runs on the stable toolchain: the coverage instrumentation cargo-fuzz
# would add is made of stable `-C` flags, given here (no sanitizer: the code
# is safe Rust; a panic is the finding). Each run starts from the committed
# corpus (fuzz/corpus/<target>, read only) and writes what it discovers
# under .run/fuzz/; a crash fails the run and leaves its input in
# .run/fuzz/crash-*. To keep a discovery, copy it into fuzz/corpus/<target>.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${DOWNPOUR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/downpour}
TIME=15
while [ $# -gt 0 ]; do
  case $1 in
    --time) TIME=$2; shift 2 ;;
    *) echo "usage: $0 [--time SECONDS]" >&2; exit 2 ;;
  esac
done
# Its own target dir: every crate is built instrumented.
export CARGO_TARGET_DIR=$CACHE/fuzz-target
TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
# As cargo-fuzz builds (`--target` keeps build scripts and proc macros
# uninstrumented).
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
(cd fuzz && cargo fmt --check && cargo build --locked --bins --target "$TRIPLE")
RUN=$PWD/.run/fuzz
for target in validate record_walk otlp; do
  mkdir -p "$RUN/$target"
  echo "fuzz: $target for $TIME s"
  "$CARGO_TARGET_DIR/$TRIPLE/debug/$target" -max_total_time="$TIME" -max_len=65536 \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$RUN/" \
    "$RUN/$target" "fuzz/corpus/$target" 2>"$RUN/$target.log" || {
      tail -40 "$RUN/$target.log" >&2
      echo "fuzz: $target failed; its input is in $RUN/crash-* (see $RUN/$target.log)" >&2
      exit 1
    }
  grep -E "^stat::number_of_executed_units|^stat::new_units_added|Done [0-9]+ runs" "$RUN/$target.log" | tr '\n' ' '
  echo
done
