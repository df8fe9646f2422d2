#!/usr/bin/env bash
# stress vs pgbench on the same server, side by side, in one run.
#
# Starts one throwaway PostgreSQL, then for each N in $CLIENTS runs, alternately,
#   pgbench -M prepared -c N -j 2 -T $DURATION  with `SELECT 1`
#   stress run (pool mode, N tasks, pre-ping off, prepared statements) with `SELECT 1`
#   tokio-postgres alone (bench/ceiling.rs: N clients, 2 threads, a prepared `SELECT 1`)
# $ROUNDS times, and prints the median of each, the ratios to pgbench's tps, the client and
# server CPU per operation, and the peak RSS of stress. The harness must not be the bottleneck
# of what it measures: the bar is 0.95× at N = 8 and 0.85× at N = 32, the goal 1.0× (issue 11;
# these machines are shared: compare ratios, not times). The third column splits the gap: what
# the stack costs (tokio-postgres alone against pgbench), what the harness adds (stress
# against tokio-postgres alone).
#
# Usage: bench/vs-pgbench.sh            (DURATION=10 ROUNDS=3 CLIENTS="8 32" to change)
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CLIENTS=${CLIENTS:-8 32}

BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
[ -x "$BIN/postgres" ] || { echo "no PostgreSQL server binaries (set PG_BIN)" >&2; exit 3; }
command -v pgbench >/dev/null || { echo "pgbench is missing (apt-get install postgresql-contrib)" >&2; exit 3; }

cargo build --release --quiet --bin stress --example tokio-postgres-ceiling
STRESS=$PWD/target/release/stress
CEILING=$PWD/target/release/examples/tokio-postgres-ceiling

WORK=$(mktemp -d /tmp/stress-bench-XXXXXX)
chmod 755 "$WORK"
AS=()
if [ "$(id -u)" = 0 ]; then chown postgres: "$WORK"; AS=(runuser -u postgres --); fi
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

cleanup() {
  "${AS[@]}" "$BIN/pg_ctl" -D "$WORK/data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

"${AS[@]}" "$BIN/initdb" -D "$WORK/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >/dev/null
# The same throwaway settings as stress's embedded server.
"${AS[@]}" "$BIN/pg_ctl" -D "$WORK/data" -w -l "$WORK/server.log" \
  -o "-p $PORT -k $WORK -h 127.0.0.1 -c max_connections=100 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
  start >/dev/null
URL="postgres://postgres@127.0.0.1:$PORT/postgres"

echo 'SELECT 1;' > "$WORK/select1.sql"
cat > "$WORK/select1.toml" <<TOML
name = "bench-select-1"
[load]
tasks = 8
duration = "${DURATION}s"
[access]
mode = "pool"
query_mode = "prepared"
[pool]
max_size = 8
test_on_check_out = false   # pgbench does not ping
[[workload]]
name = "select_1"
[[workload.step]]
sql = "SELECT 1"
TOML

# CPU seconds of the server's backends that ended so far (the postmaster's reaped children).
server_cpu() {
  awk -v tk="$(getconf CLK_TCK)" '{print ($16 + $17) / tk}' "/proc/$(head -n 1 "$WORK/data/postmaster.pid")/stat"
}
# Waits until the run's backends are gone (reaped), so their CPU is counted.
settle() {
  for _ in $(seq 50); do
    [ "$(psql -Atq -h 127.0.0.1 -p "$PORT" -U postgres -c \
      "select count(*) from pg_stat_activity where backend_type = 'client backend' and pid <> pg_backend_pid()" postgres)" = 0 ] && break
    sleep 0.1
  done
}
per_op() { python3 -c "import sys; print(f'{($2 - $1) * 1e6 / $3:.2f}')" "$@"; }

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# One round of one contender: runs "$@" under /usr/bin/time, then appends to $WORK/<name>.*
# its ops/s, its own CPU per operation (user + system) and the server backends' CPU per
# operation. `ops_of` prints "ops/s count" from what the command printed.
measure() {
  local name=$1 ops_of=$2; shift 2
  local s0 s1 line
  s0=$(server_cpu)
  /usr/bin/time -f '%U %S %M' -o "$WORK/time" "$@" > "$WORK/out" 2>/dev/null
  line=$("$ops_of")
  settle; s1=$(server_cpu)
  echo "${line% *}" >> "$WORK/$name.ops"
  awk -v n="${line#* }" '{printf "%.2f\n", ($1 + $2) * 1e6 / n}' "$WORK/time" >> "$WORK/$name.cpu"
  per_op "$s0" "$s1" "${line#* }" >> "$WORK/$name.srv"
  awk '{print $3}' "$WORK/time" >> "$WORK/$name.rss"
}
pgbench_ops() {
  awk -F'= ' '/^tps/ {split($2, a, " "); tps = a[1]} /actually processed/ {split($0, b, ": "); n = b[2]}
    END {print tps, n}' "$WORK/out"
}
stress_ops() {
  python3 -c 'import json,sys; v = json.load(open(sys.argv[1]))["variants"][0]
print(v["throughput_ops_s"], v["operations"]["total"])' "$WORK/report.json"
}
ceiling_ops() { awk '{print $2, $4}' "$WORK/out"; }

# Per N, one row per contender (medians): ops/s, its ratio to pgbench's tps, the client's own
# CPU per operation and the server backends' (µs; on a shared machine both compete for the
# same cores), and the peak RSS. `stress pool` is the bar's; `stress per_task` holds one
# connection per task for the run, as pgbench holds one per client; `tokio-postgres alone` is
# bench/ceiling.rs, the stack without the harness.
printf '%-4s %-22s %10s %7s %14s %14s %10s\n' N contender ops/s ratio client_cpu_us \
  server_cpu_us rss_MB
for n in $CLIENTS; do
  rm -f "$WORK"/*.ops "$WORK"/*.cpu "$WORK"/*.srv "$WORK"/*.rss
  for _ in $(seq "$ROUNDS"); do
    measure pgbench pgbench_ops env PGPASSWORD= pgbench -n -M prepared -c "$n" -j 2 \
      -T "$DURATION" -f "$WORK/select1.sql" -h 127.0.0.1 -p "$PORT" -U postgres postgres
    for mode in pool per_task; do
      measure "$mode" stress_ops "$STRESS" run "$WORK/select1.toml" --quiet --database-url "$URL" \
        --out "$WORK/report.json" --set "load.tasks=$n" --set "pool.max_size=$n" \
        --set "access.mode=$mode"
    done
    measure alone ceiling_ops "$CEILING" "$URL" "$n" 2 "$DURATION"
  done
  pg=$(median < "$WORK/pgbench.ops")
  for c in "pgbench:pgbench" "pool:stress pool" "per_task:stress per_task" "alone:tokio-postgres alone"; do
    f=${c%%:*}
    ops=$(median < "$WORK/$f.ops")
    printf '%-4s %-22s %10.0f %6.2fx %14.2f %14.2f %10.1f\n' "$n" "${c#*:}" "$ops" \
      "$(python3 -c "print($ops / $pg)")" "$(median < "$WORK/$f.cpu")" "$(median < "$WORK/$f.srv")" \
      "$(python3 -c "print($(sort -n "$WORK/$f.rss" | tail -n 1) / 1024)")"
  done
done
