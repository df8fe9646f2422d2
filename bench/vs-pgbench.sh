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

# CPU per operation in microseconds: each client's own (user + system), and the server's
# backends' during each tool's run (on a shared machine the two compete for the same cores).
printf '%-4s %11s %12s %6s %16s %16s %9s %10s %6s\n' N pgbench_tps stress_ops/s ratio \
  client_cpu_us server_cpu_us stress_rss tp_alone ratio
printf '%-4s %11s %12s %6s %16s %16s %9s %10s %6s\n' '' '' '' '' pgbench/stress pgbench/stress '' ops/s ''
for n in $CLIENTS; do
  : > "$WORK/pg.$n"; : > "$WORK/st.$n"; : > "$WORK/rss.$n"; : > "$WORK/pgcpu.$n"; : > "$WORK/stcpu.$n"
  : > "$WORK/pgsrv.$n"; : > "$WORK/stsrv.$n"; : > "$WORK/tp.$n"
  for _ in $(seq "$ROUNDS"); do
    # Client CPU (user + system) of each tool, divided by what it completed.
    s0=$(server_cpu)
    PGPASSWORD= /usr/bin/time -f '%U %S' -o "$WORK/time" pgbench -n -M prepared -c "$n" -j 2 \
      -T "$DURATION" -f "$WORK/select1.sql" -h 127.0.0.1 -p "$PORT" -U postgres postgres \
      > "$WORK/pgbench.out" 2>/dev/null
    awk -F'= ' '/^tps/ {split($2, a, " "); print a[1]}' "$WORK/pgbench.out" >> "$WORK/pg.$n"
    tx=$(awk -F': ' '/actually processed/ {print $2}' "$WORK/pgbench.out")
    awk -v tx="$tx" '{printf "%.2f\n", ($1 + $2) * 1e6 / tx}' "$WORK/time" >> "$WORK/pgcpu.$n"
    settle; s1=$(server_cpu); per_op "$s0" "$s1" "$tx" >> "$WORK/pgsrv.$n"
    /usr/bin/time -f '%U %S %M' -o "$WORK/time" "$STRESS" run "$WORK/select1.toml" --quiet \
      --database-url "$URL" --out "$WORK/report.json" \
      --set "load.tasks=$n" --set "pool.max_size=$n" >/dev/null
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["variants"][0]["throughput_ops_s"])' \
      "$WORK/report.json" >> "$WORK/st.$n"
    ops=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["variants"][0]["operations"]["total"])' "$WORK/report.json")
    awk -v ops="$ops" '{printf "%.2f\n", ($1 + $2) * 1e6 / ops}' "$WORK/time" >> "$WORK/stcpu.$n"
    awk '{print $3}' "$WORK/time" >> "$WORK/rss.$n"
    settle; s2=$(server_cpu); per_op "$s1" "$s2" "$ops" >> "$WORK/stsrv.$n"
    "$CEILING" "$URL" "$n" 2 "$DURATION" | awk '{print $2}' >> "$WORK/tp.$n"
    settle
  done
  pg=$(median < "$WORK/pg.$n"); st=$(median < "$WORK/st.$n"); rss=$(sort -n "$WORK/rss.$n" | tail -n 1)
  pgcpu=$(median < "$WORK/pgcpu.$n"); stcpu=$(median < "$WORK/stcpu.$n")
  pgsrv=$(median < "$WORK/pgsrv.$n"); stsrv=$(median < "$WORK/stsrv.$n")
  tp=$(median < "$WORK/tp.$n")
  ratio=$(python3 -c "print(f'{$st / $pg:.2f}')")
  tpratio=$(python3 -c "print(f'{$tp / $pg:.2f}')")
  printf '%-4s %11.0f %12.0f %5sx %16s %16s %6.1f MB %10.0f %5sx\n' "$n" "$pg" "$st" "$ratio" \
    "$pgcpu / $stcpu" "$pgsrv / $stsrv" "$(python3 -c "print($rss / 1024)")" "$tp" "$tpratio"
done
