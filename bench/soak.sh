#!/usr/bin/env bash
# Soak benchmark: does the memory of a `stress` run stay flat however long the run?
#
# Builds the release binary, runs bench/soak.toml (eight tasks, a pool of four, `SELECT 1` and
# a small insert against the embedded server) for DURATION, and samples the resident memory
# (VmRSS in /proc/<pid>/status) of the stress process itself every 10 s (never of any other
# process: not even of its own PostgreSQL server). It prints the samples and the growth from
# the first minute (start-up, pool fill and allocator warm-up are excluded) to the end, and
# fails (exit 1) when that growth is 2 MB or more. Not a test: `cargo test` does not run it.
#
# Usage: bench/soak.sh [DURATION]     (default 10m; <n>s, <n>m or <n>h: 2m, 90s, 1h)
#        INTERVAL=10 LIMIT_KB=2048 bench/soak.sh   (sampling period in s, growth bar in kB)
#        STRESS=/path/to/stress bench/soak.sh 2m   (measure that binary, without building)
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${1:-10m}
INTERVAL=${INTERVAL:-10}
LIMIT_KB=${LIMIT_KB:-2048}
SETTLE_S=60
DURATION_S=$(python3 -c '
import re, sys
m = re.fullmatch(r"(\d+)(s|m|h)", sys.argv[1])
if not m: sys.exit("DURATION must be <n>s, <n>m or <n>h, not " + repr(sys.argv[1]))
print(int(m[1]) * {"s": 1, "m": 60, "h": 3600}[m[2]])' "$DURATION") || exit 2

if [ -z "${STRESS:-}" ]; then
  cargo build --release --quiet
  STRESS=$PWD/target/release/stress
fi

WORK=$(mktemp -d /tmp/stress-soak-XXXXXX)
PID=
cleanup() {
  # Only the stress process started here; it stops its own embedded server on SIGTERM.
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
    kill -TERM "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null; }

"$STRESS" run bench/soak.toml --quiet --set "load.duration=$DURATION" \
  --out "$WORK/report.json" >"$WORK/stdout" 2>"$WORK/stderr" &
PID=$!
START=$(date +%s)

: >"$WORK/samples"
printf '%8s %10s\n' t_s rss_kB
while kill -0 "$PID" 2>/dev/null; do
  sleep "$INTERVAL"
  rss=$(rss_kb "$PID") || true
  [ -n "$rss" ] || break   # the process ended during the sleep
  t=$(($(date +%s) - START))
  echo "$t $rss" >>"$WORK/samples"
  printf '%8s %10s\n' "$t" "$rss"
done
set +e
wait "$PID"
status=$?
set -e
PID=
if [ "$status" -ne 0 ]; then
  echo "stress exited with $status:" >&2
  tail -n 20 "$WORK/stderr" >&2
  exit 3
fi
python3 - "$WORK/report.json" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))["variants"][0]
o = v["operations"]
print("operations: %d ok, %d failed in %.0f s; timeline of %d s"
      % (o["ok"], o["failed"], v["measured_s"], len(v["timeline"])))
PY

# The first sample at or after one minute is the reference; the end is the last sample taken
# while the load ran (at most DURATION after the start: the report built after the load is
# bigger for a longer run, as its per-second timeline is, and is not what is measured here).
read -r t1 rss1 < <(awk -v s="$SETTLE_S" '$1 >= s {print; exit}' "$WORK/samples") || true
read -r tn rssn < <(awk -v e="$DURATION_S" '$1 <= e' "$WORK/samples" | tail -n 1) || true
if [ -z "${t1:-}" ] || [ -z "${tn:-}" ] || [ "$tn" -le "$t1" ]; then
  echo "the run is too short to measure growth after the first minute (DURATION=$DURATION)" >&2
  exit 3
fi
growth=$((rssn - rss1))
rate=$(python3 -c "print(f'{$growth / ($tn - $t1) * 3600 / 1024:.1f}')")
echo "RSS at ${t1} s: ${rss1} kB; at ${tn} s: ${rssn} kB; growth ${growth} kB" \
  "(${rate} MB/hour); bar: under ${LIMIT_KB} kB"
if [ "$growth" -ge "$LIMIT_KB" ]; then
  echo "FAIL: memory grows with run length" >&2
  exit 1
fi
echo "PASS"
