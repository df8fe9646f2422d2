"""The pool models' fidelity suite: each workload runs through the real library (asyncpg,
SQLAlchemy, psycopg_pool, versions pinned in requirements.txt) and through `stress` with the
matching `pool.model` (and bb8 for reference), on the same server, and the figures are compared:

  saturation  40 tasks, pool of 2 (min 1), acquire timeout 50 ms, SELECT pg_sleep(0.005):
              the fraction of acquires that time out (asyncpg, psycopg_pool), within 25%;
  overflow    40 tasks, pool_size=5, max_overflow=10, pool_timeout=0.75, 0.5 s sleeps: the
              fraction of checkouts that time out (SQLAlchemy), within 25%;
  bursts      15 / 2 / 15 / 2 tasks, sleeps of 50 to 150 ms (libraries.spread_sleep), 5 + 10:
              connections opened (SQLAlchemy closes overflow connections on return and
              reopens them), within 25%;
  max_queries one task, 57 acquires of SELECT 1 on asyncpg's pool of 1 with max_queries=10:
              connections opened (the reset on release counts as a query: one connection
              serves 6 acquires, so 1 + 9), within 25%;
  max_waiting 6 clients at once on psycopg_pool's pool of 1 (min_size=0) with max_waiting=2:
              how many meet TooManyRequests, within 25%;
  order       a pool of 1 held while 5 clients arrive one after another: the order they are
              served in (the real library's; the model's is unit-tested in
              src/access/models/tests.rs);
  close       psycopg_pool closed while a client waits: what the waiter meets, then a later
              client (the text, exactly).

What is calibrated, and why: the real client holds each connection longer than its query, by
CPython's own time per operation on its one event loop and, for SQLAlchemy, the BEGIN and
ROLLBACK round trips around each checkout (which `stress` does not send); that extra time grows
with the machine's load, and a saturated pool's timeout fraction follows the hold closely. The
models reproduce the pool, not CPython's speed, and a `stress` user gives their own query
durations. So each timing workload (saturation, overflow, bursts) measures what the pool sees of
the real client (libraries.Holds: the hold per checkout, the think time between checkouts), and
the model runs at that hold: its step is `SELECT pg_sleep(s)`, s the real client's mean hold
less the model's own time per checkout beyond its sleep (run again, up to MODEL_TRIES runs,
while the model's mean hold is more than HOLD_MATCH off; the closest counts), with `think_time` the real think time when it is 1 ms or
more. The comparison is then of the pools' semantics (queue discipline, timeout accounting,
overflow close) at the same hold; the table prints both holds.

Each timing workload sits away from a knife edge (issue 16's first figures did not): saturation
runs 40 tasks (it ran 20), where about 60% of the acquires time out and a hold 10% off moves the
fraction about 7% (at 20 tasks, about 30%, it moved it about 24%, the whole tolerance);
overflow's pool_timeout is 0.75 s (it was 1 s: a waiter served by the second round of returns
got its connection after two holds of 0.5 s plus a few ms, so those few ms decided whether it
timed out); bursts hold 100 ms on average, spread from 50 to 150 ms (at a fixed 20 ms, 35 to 45
of the 58 to 70 connections opened were opened inside a 15-task burst, after returns found 5
idle connections and closed theirs, most likely as CPython's one event loop runs a batch of
returns before the next checkouts; the model opened 32 to 58; at a fixed 100 ms it still swung
with the machine's load, 28 to 35 real against 24 to 28, see libraries.spread_sleep).

The timing workloads run REPEATS rounds, each the real library then the model at the hold just
measured; the medians are compared. Every row is strict: the suite fails when one is off.
A row may be excused in known-deviations.txt, except the acceptance rows (ACCEPTANCE).

Run by tests/fidelity/run.sh (which makes the virtual environment); prints a table, exits 1 when
a figure is off.
"""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys

import asyncpg
import psycopg_pool
import sqlalchemy

from libraries import (
    BURST_SECONDS, BURSTS, MAX_QUERIES, MAX_QUERIES_ITERATIONS, MAX_WAITING, OVERFLOW_SECONDS,
    OVERFLOW_TASKS, OVERFLOW_TIMEOUT, SATURATION_ITERATIONS, SATURATION_TASKS, SATURATION_TIMEOUT,
    WAITING_CLIENTS, bursts_sqlalchemy, close_psycopg, max_queries_asyncpg, max_waiting_psycopg,
    order_asyncpg, order_psycopg, order_sqlalchemy, overflow_sqlalchemy, saturation_asyncpg,
    saturation_psycopg, spread_sleep,
)

TOLERANCE = 0.25
HOLD_MATCH, MODEL_TRIES = 0.1, 3
REPEATS = int(os.environ.get("FIDELITY_REPEATS", "3"))
ACCEPTANCE = {
    "saturation: timeouts|asyncpg", "saturation: timeouts|psycopg",
    "overflow: timeouts|sqlalchemy", "bursts: connections opened|sqlalchemy",
}


# ---- stress --------------------------------------------------------------------------------

WORKLOAD = """
[[workload]]
name = "hold"
[[workload.step]]
sql = "{sql}"
"""


def run_stress(args, name, body, sql):
    path = os.path.join(args.work, f"{name}.toml")
    out = os.path.join(args.work, f"{name}.json")
    with open(path, "w") as f:
        f.write(f'name = "{name}"\nseed = 1\n' + body + WORKLOAD.format(sql=sql))
    done = subprocess.run(
        [args.stress, "run", path, "--database-url", args.url, "--out", out, "--quiet"],
        capture_output=True, text=True,
    )
    if not os.path.exists(out):
        sys.exit(f"stress run {path} wrote no report ({done.returncode}):\n{done.stderr}")
    with open(out) as f:
        report = json.load(f)
    return {v["name"]: v for v in report["variants"]}


def errors(v, cls):
    return v["errors"].get(cls, {}).get("count", 0)


def timeout_fraction(v):
    return errors(v, "pool_timeout") / max(1, v["operations"]["total"])


def bb8_variant(wanted, pool):
    """bb8's variant, for reference (its figure is not compared), in the first round only."""
    return f'\n[[variant]]\nname = "bb8"\npool = {{ {pool} }}\n' if wanted else ""


def stress_max_queries(args):
    load = f"""
[load]
tasks = 1
iterations = {MAX_QUERIES_ITERATIONS}
warmup = "0s"

[pool]
model = "asyncpg"
min_size = 1
max_size = 1
max_queries = {MAX_QUERIES}

[[variant]]
name = "asyncpg"
"""
    vs = run_stress(args, "fidelity-max-queries", load, "SELECT 1")
    return vs["asyncpg"]["pool"]["connections_created"]


def stress_max_waiting(args):
    load = f"""
[load]
tasks = {WAITING_CLIENTS}
iterations = 1
warmup = "0s"

[pool]
model = "psycopg"
min_size = 0
max_size = 1
max_waiting = {MAX_WAITING}
timeout = "5s"

[[variant]]
name = "psycopg"
"""
    vs = run_stress(args, "fidelity-max-waiting", load, "SELECT pg_sleep(0.2)")
    return errors(vs["psycopg"], "pool_timeout")


def think_line(pace):
    """`think_time` when the real client's gap between release and the next acquire is 1 ms or
    more (below, tokio's timer, 1 ms, would lengthen it instead)."""
    return f'think_time = "{round(pace.think * 1e6)}us"\n' if pace.think >= 0.001 else ""


def timed_result(vs, figure):
    """{variant: (figure, the model's mean hold in seconds)}."""
    return {k: (figure(v), v["latency_ms"]["hold"]["mean"] / 1000) for k, v in vs.items()}


def stress_saturation(args, lib, pace, bb8):
    """One library's saturation model at `pace` (hold, think) measured on the real library."""
    ms = round(SATURATION_TIMEOUT * 1000)
    pool = {
        "asyncpg": f'model = "asyncpg", min_size = 1, max_size = 2, acquire_timeout = "{ms}ms"',
        "psycopg": f'model = "psycopg", min_size = 1, max_size = 2, timeout = "{ms}ms"',
    }[lib]
    load = f"""
[load]
tasks = {SATURATION_TASKS}
iterations = {SATURATION_ITERATIONS}
warmup = "0s"
{think_line(pace)}
[[variant]]
name = "{lib}"
pool = {{ {pool} }}
""" + bb8_variant(bb8, f'min_idle = 1, max_size = 2, connection_timeout = "{ms}ms"')
    vs = run_stress(args, f"fidelity-saturation-{lib}", load, pace.sql)
    return timed_result(vs, timeout_fraction)


def stress_overflow(args, pace, bb8):
    timeout = f"{round(OVERFLOW_TIMEOUT * 1000)}ms"
    load = f"""
[load]
tasks = {OVERFLOW_TASKS}
duration = "{OVERFLOW_SECONDS}s"
warmup = "0s"
{think_line(pace)}
[[variant]]
name = "sqlalchemy"
pool = {{ model = "sqlalchemy", pool_size = 5, max_overflow = 10, pool_timeout = "{timeout}" }}
""" + bb8_variant(bb8, f'min_idle = 5, max_size = 15, connection_timeout = "{timeout}"')
    vs = run_stress(args, "fidelity-overflow", load, pace.sql)
    return timed_result(vs, timeout_fraction)


def stress_bursts(args, pace, bb8):
    stages = []
    for tasks in BURSTS:
        stages.append(f'{{ duration = "1ms", target = {tasks} }}')
        stages.append(f'{{ duration = "{BURST_SECONDS}s", target = {tasks} }}')
    load = f"""
[load]
tasks = {max(BURSTS)}
warmup = "0s"
stages = [{", ".join(stages)}]
{think_line(pace)}
[[variant]]
name = "sqlalchemy"
pool = {{ model = "sqlalchemy", pool_size = 5, max_overflow = 10 }}
""" + bb8_variant(bb8, "min_idle = 5, max_size = 15")
    vs = run_stress(args, "fidelity-bursts", load, pace.sql)
    return timed_result(vs, lambda v: v["pool"]["connections_created"])


def stress_close(args):
    """Closed at 150 ms while one task holds the only connection for 300 ms: with 2 tasks the
    second waits when it closes (its error comes first); with 1 task the first error is the
    holder's next acquire, after the close."""
    load = """
[load]
duration = "1s"
warmup = "0s"
on_failure = { backoff = "exponential", base = "50ms", max = "200ms" }

[pool]
model = "psycopg"
min_size = 0
max_size = 1

[[fault]]
kind = "close_pool"
at = "150ms"
drain = true

[[variant]]
name = "waiter"
load.tasks = 2

[[variant]]
name = "later"
load.tasks = 1
"""
    vs = run_stress(args, "fidelity-close", load, "SELECT pg_sleep(0.3)")

    def first(v):
        sample = v["errors"].get("pool_closed", {}).get("sample", "-")
        return sample.removeprefix("psycopg_pool.PoolClosed: ")

    return first(vs["waiter"]), first(vs["later"])


# ---- the comparison ------------------------------------------------------------------------


def within(real, model):
    return abs(model - real) <= TOLERANCE * max(real, 1e-9)


def median_figure(values, fmt):
    """`median (a / b / c)`, in the order measured."""
    return f"{fmt(statistics.median(values))} ({' / '.join(fmt(v) for v in values)})"


def pct(v):
    return f"{v:.1%}"


class Pace:
    """The model's step for one timing workload: `SELECT pg_sleep(s)` with s the real client's
    mean hold less the model's own time per checkout beyond its sleep (`overhead`: the round
    trip, pg_sleep's overshoot; measured on the model's previous run of the workload, 0 at
    first), and the real client's think time."""

    def __init__(self, holds, overhead, spread):
        self.hold, self.p50, self.think = holds.mean(), holds.p50(), holds.think()
        self.sleep = max(0.0, self.hold - overhead)
        self.sql = spread_sleep(self.sleep) if spread else f"SELECT pg_sleep({self.sleep:.6f})"


# key: (row, library, the real library's workload, figure format)
TIMING = {
    "asyncpg": ("saturation: timeouts", "asyncpg", saturation_asyncpg, pct),
    "psycopg": ("saturation: timeouts", "psycopg", saturation_psycopg, pct),
    "overflow": ("overflow: timeouts", "sqlalchemy", overflow_sqlalchemy, pct),
    "bursts": ("bursts: connections opened", "sqlalchemy", bursts_sqlalchemy, str),
}


def run_model(args, key, pace, bb8):
    if key in ("asyncpg", "psycopg"):
        return stress_saturation(args, key, pace, bb8)
    return (stress_overflow if key == "overflow" else stress_bursts)(args, pace, bb8)


def model_at(args, key, holds, overhead, bb8):
    """The model's run at the real client's hold: its sleep is the hold less the model's own
    overhead, which each further run (MODEL_TRIES in all) takes from the run before, until the
    model's mean hold is within HOLD_MATCH of the real one. The run whose mean hold is closest
    counts (one run slowed by a stall of the machine would otherwise set the next one's sleep
    far too short). Returns (pace, variants, overhead)."""
    best = None
    for _ in range(MODEL_TRIES):
        pace = Pace(holds, overhead, key == "bursts")
        vs = run_model(args, key, pace, bb8)
        model_hold = vs[TIMING[key][1]][1]
        off, overhead = abs(model_hold - pace.hold), max(0.0, model_hold - pace.sleep)
        if best is None or off < best[0]:
            best = (off, pace, vs, overhead)
        if off <= HOLD_MATCH * pace.hold:
            break
    return best[1:]


def timing_rounds(args):
    """REPEATS rounds of the timing workloads: each real library's run, then the model's at the
    hold (and think time) just measured. Returns {key: {"real": [...], "model": [...],
    "hold": [(real mean, real p50, think, model mean)], "bb8": figure}}."""
    out = {k: {"real": [], "model": [], "hold": []} for k in TIMING}
    overhead = {k: 0.0 for k in TIMING}
    for r in range(REPEATS):
        for key, (_, lib, real_workload, _) in TIMING.items():
            figure, holds = asyncio.run(real_workload(args.url))
            pace, vs, overhead[key] = model_at(args, key, holds, overhead[key], r == 0)
            modelled, model_hold = vs[lib]
            out[key]["real"].append(figure)
            out[key]["model"].append(modelled)
            out[key]["hold"].append((pace.hold, pace.p50, pace.think, model_hold))
            if r == 0:
                out[key]["bb8"] = vs["bb8"][0]
    return out


def hold_figure(holds):
    """The medians over the rounds: real mean hold (p50), think time; the model's mean hold."""
    real, p50, think, model = (statistics.median(h[i] for h in holds) for i in range(4))
    return f"{real * 1e3:.1f} (p50 {p50 * 1e3:.1f}) / {model * 1e3:.1f}, think {think * 1e3:.2f}"


def timing_rows(args, row):
    """The timing rows; returns a line per row with each round's holds (real / model, ms)."""
    rounds = []
    for key, figures in timing_rounds(args).items():
        workload, lib, _, fmt = TIMING[key]
        holds = " ".join(f"{h[0] * 1e3:.1f}/{h[3] * 1e3:.1f}" for h in figures["hold"])
        rounds.append(f"  {workload} {lib}: holds by round (real/model ms) {holds}")
        real, model = statistics.median(figures["real"]), statistics.median(figures["model"])
        row(workload, lib, median_figure(figures["real"], fmt),
            median_figure(figures["model"], fmt), hold_figure(figures["hold"]),
            fmt(figures["bb8"]), within(real, model))
    return rounds


def deterministic_rows(args, row):
    opened, modelled = asyncio.run(max_queries_asyncpg(args.url)), stress_max_queries(args)
    row("max_queries: connections opened", "asyncpg", str(opened), str(modelled), "-", "-",
        within(opened, modelled))
    refused, modelled = asyncio.run(max_waiting_psycopg(args.url)), stress_max_waiting(args)
    row("max_waiting: TooManyRequests", "psycopg", str(refused), str(modelled), "-", "-",
        within(refused, modelled))
    for lib, fn in [("asyncpg", order_asyncpg), ("psycopg", order_psycopg),
                    ("sqlalchemy", order_sqlalchemy)]:
        served = asyncio.run(fn(args.url))
        fifo = served == sorted(served)
        row("order: served", lib, "arrival" if fifo else f"{served}", "arrival (unit tests)",
            "-", "not guaranteed", fifo)
    close = asyncio.run(close_psycopg(args.url))
    waiter, later = stress_close(args)
    row("close: waiter meets", "psycopg", close.get("waiter", "-"), waiter, "-", "-",
        waiter == close.get("waiter"))
    row("close: later client meets", "psycopg", close.get("later", "-"), later, "-", "-",
        later == close.get("later"))


def known_deviations():
    with open(os.path.join(os.path.dirname(__file__), "known-deviations.txt")) as f:
        known = {line.strip() for line in f if line.strip() and not line.startswith("#")}
    if known & ACCEPTANCE:
        sys.exit(f"known-deviations.txt may not excuse an acceptance row: {known & ACCEPTANCE}")
    return known


def table(rows, rounds):
    widths = [max(len(str(r[i])) for r in rows + [HEADER]) for i in range(len(HEADER))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()
             for r in [HEADER] + rows]
    lines.append(f"(tolerance ±{TOLERANCE:.0%} on the medians of {REPEATS} rounds, each the real "
                 f"library then the model at the hold just measured; hold in ms: the real "
                 f"client's mean (p50) / the model's mean, and the real client's think time; "
                 f"bb8 from the first round, not compared; asyncpg {asyncpg.__version__}, "
                 f"SQLAlchemy {sqlalchemy.__version__}, psycopg_pool "
                 f"{psycopg_pool.__version__})")
    return "\n".join(lines + rounds) + "\n"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--stress", required=True)
    parser.add_argument("--work", required=True)
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    rows, known = [], known_deviations()

    def row(workload, library, real, model, hold, bb8, good):
        verdict = "ok" if good else "KNOWN" if f"{workload}|{library}" in known else "OFF"
        rows.append((workload, library, real, model, hold, bb8, verdict))

    rounds = timing_rows(args, row)
    deterministic_rows(args, row)
    text = table(rows, rounds)
    print(text, end="")
    with open(os.path.join(args.work, "table.txt"), "w") as f:
        f.write(text)
    sys.exit(0 if all(r[-1] != "OFF" for r in rows) else 1)


HEADER = ("workload", "library", "real library", "stress model", "hold real / model (ms)",
          "stress bb8", "")

if __name__ == "__main__":
    main()
