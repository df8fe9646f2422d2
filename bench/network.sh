#!/usr/bin/env bash
# The network proxy's cost (src/network/): SELECT 1 direct vs through the proxy with no toxic,
# $ROUNDS times on one embedded server per round; prints each variant's median ok/s and
# operation p50 over the rounds, and the p50 the proxy adds per round trip (goal: < 30 µs).
#
# Usage: bench/network.sh        (ROUNDS=3 DURATION=10s to change)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
cargo build --release --quiet
OUT=$(mktemp -d /tmp/stress-netbench-XXXXXX)
trap 'rm -rf "$OUT"' EXIT
for r in $(seq 1 "$ROUNDS"); do
  ./target/release/stress run -q bench/network.toml --set "load.duration=\"$DURATION\"" \
    --out "$OUT/round$r.json" >/dev/null
done
python3 - "$OUT" <<'PY'
import json, glob, statistics, sys
runs = [json.load(open(f)) for f in sorted(glob.glob(sys.argv[1] + "/round*.json"))]
names = [v["name"] for v in runs[0]["variants"]]
med = {}
for n in names:
    vs = [v for r in runs for v in r["variants"] if v["name"] == n]
    ops = statistics.median(v["throughput_ops_s"] for v in vs)
    p50 = statistics.median(v["latency_ms"]["operation"]["p50"] for v in vs)
    med[n] = (ops, p50)
    print(f"{n:18} {ops:10.0f} ok/s   p50 {p50 * 1000:8.1f} µs")
for t in ["1 task", "8 tasks"]:
    d, p = med[f"direct, {t}"], med[f"proxy, {t}"]
    print(f"{t}: the proxy adds {(p[1] - d[1]) * 1000:.1f} µs at the median, "
          f"ops/s {p[0] / d[0]:.2f}x of direct")
PY
