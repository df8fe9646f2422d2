"""The pool models' fidelity suite: each workload runs through the real library (asyncpg,
SQLAlchemy, psycopg_pool, versions pinned in requirements.txt) and through `stress` with the
matching `pool.model` (and bb8 for reference), on the same server, and the figures are compared:

  saturation  20 tasks, pool of 2 (min 1), acquire timeout 50 ms, SELECT pg_sleep(0.005):
              the fraction of acquires that time out (asyncpg, psycopg_pool), within 25%;
  overflow    40 tasks, pool_size=5, max_overflow=10, pool_timeout=1, 0.5 s holds: the
              fraction of checkouts that time out (SQLAlchemy), within 25%;
  bursts      15 / 2 / 15 / 2 tasks, 20 ms holds, 5 + 10: connections opened (SQLAlchemy
              closes overflow connections on return and reopens them), within 25%;
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

The timing workloads (saturation, overflow, bursts) run REPEATS times, the real library and the
model alternating (real first, then model first, ...) so that a change in the machine's load
falls on both; the medians are compared. Every row is strict: the suite fails when one is off.
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
import time
import urllib.parse

import asyncpg
import psycopg_pool
import sqlalchemy
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import create_async_engine

TOLERANCE = 0.25
REPEATS = int(os.environ.get("FIDELITY_REPEATS", "3"))
ACCEPTANCE = {
    "saturation: timeouts|asyncpg", "saturation: timeouts|psycopg",
    "overflow: timeouts|sqlalchemy", "bursts: connections opened|sqlalchemy",
}
MAX_QUERIES, MAX_QUERIES_ITERATIONS = 10, 57
WAITING_CLIENTS, MAX_WAITING = 6, 2
SATURATION_TASKS, SATURATION_ITERATIONS = 20, 50
OVERFLOW_TASKS, OVERFLOW_SECONDS = 40, 4.0
BURSTS, BURST_SECONDS = [15, 2, 15, 2], 1.5


def sqlalchemy_url(url):
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(scheme="postgresql+asyncpg"))


# ---- the real libraries --------------------------------------------------------------------


async def saturation_asyncpg(url):
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)

    async def task():
        timeouts = 0
        for _ in range(SATURATION_ITERATIONS):
            try:
                async with pool.acquire(timeout=0.05) as conn:
                    await conn.execute("SELECT pg_sleep(0.005)")
            except asyncio.TimeoutError:
                timeouts += 1
        return timeouts

    try:
        counts = await asyncio.gather(*(task() for _ in range(SATURATION_TASKS)))
    finally:
        await pool.close()
    return sum(counts) / (SATURATION_TASKS * SATURATION_ITERATIONS)


async def saturation_psycopg(url):
    pool = psycopg_pool.AsyncConnectionPool(
        url, min_size=1, max_size=2, timeout=0.05, open=False, name="pool-1",
        kwargs={"autocommit": True},
    )
    await pool.open(wait=True)

    async def task():
        timeouts = 0
        for _ in range(SATURATION_ITERATIONS):
            try:
                async with pool.connection() as conn:
                    await conn.execute("SELECT pg_sleep(0.005)")
            except psycopg_pool.PoolTimeout:
                timeouts += 1
        return timeouts

    try:
        counts = await asyncio.gather(*(task() for _ in range(SATURATION_TASKS)))
    finally:
        await pool.close()
    return sum(counts) / (SATURATION_TASKS * SATURATION_ITERATIONS)


async def overflow_sqlalchemy(url):
    engine = create_async_engine(
        sqlalchemy_url(url), pool_size=5, max_overflow=10, pool_timeout=1
    )
    deadline = time.monotonic() + OVERFLOW_SECONDS
    counts = [0, 0]

    async def task():
        while time.monotonic() < deadline:
            counts[0] += 1
            try:
                async with engine.connect() as conn:
                    await conn.execute(text("SELECT pg_sleep(0.5)"))
            except sqlalchemy.exc.TimeoutError:
                counts[1] += 1

    try:
        await asyncio.gather(*(task() for _ in range(OVERFLOW_TASKS)))
    finally:
        await engine.dispose()
    return counts[1] / counts[0]


async def bursts_sqlalchemy(url):
    engine = create_async_engine(sqlalchemy_url(url), pool_size=5, max_overflow=10)
    opened = [0]
    event.listen(engine.sync_engine, "connect", lambda *_: opened.__setitem__(0, opened[0] + 1))

    async def task(until):
        while time.monotonic() < until:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT pg_sleep(0.02)"))

    try:
        for tasks in BURSTS:
            until = time.monotonic() + BURST_SECONDS
            await asyncio.gather(*(task(until) for _ in range(tasks)))
    finally:
        await engine.dispose()
    return opened[0]


async def max_queries_asyncpg(url):
    opened = [0]

    async def init(_conn):
        opened[0] += 1

    pool = await asyncpg.create_pool(
        url, min_size=1, max_size=1, max_queries=MAX_QUERIES, init=init
    )
    try:
        for _ in range(MAX_QUERIES_ITERATIONS):
            async with pool.acquire(timeout=5) as conn:
                await conn.execute("SELECT 1")
    finally:
        await pool.close()
    return opened[0]


async def max_waiting_psycopg(url):
    pool = psycopg_pool.AsyncConnectionPool(
        url, min_size=0, max_size=1, max_waiting=MAX_WAITING, timeout=5, open=False,
        name="pool-1", kwargs={"autocommit": True},
    )
    await pool.open()

    async def client():
        try:
            async with pool.connection() as conn:
                await conn.execute("SELECT pg_sleep(0.2)")
            return 0
        except psycopg_pool.TooManyRequests:
            return 1

    try:
        return sum(await asyncio.gather(*(client() for _ in range(WAITING_CLIENTS))))
    finally:
        await pool.close()


async def order_of_service(acquire_cm):
    """A holder keeps the only connection 300 ms; clients 0..4 arrive 20 ms apart."""
    served = []

    async def holder():
        async with acquire_cm() as conn:
            await asyncio.sleep(0.3)

    async def client(i):
        await asyncio.sleep(0.02 * (i + 1))
        async with acquire_cm() as conn:
            served.append(i)
            await asyncio.sleep(0.01)

    await asyncio.gather(holder(), *(client(i) for i in range(5)))
    return served


async def order_asyncpg(url):
    pool = await asyncpg.create_pool(url, min_size=1, max_size=1)
    try:
        return await order_of_service(lambda: pool.acquire(timeout=5))
    finally:
        await pool.close()


async def order_psycopg(url):
    pool = psycopg_pool.AsyncConnectionPool(
        url, min_size=1, max_size=1, open=False, name="pool-1", kwargs={"autocommit": True}
    )
    await pool.open(wait=True)
    try:
        return await order_of_service(pool.connection)
    finally:
        await pool.close()


async def order_sqlalchemy(url):
    engine = create_async_engine(sqlalchemy_url(url), pool_size=1, max_overflow=0)
    try:
        return await order_of_service(engine.connect)
    finally:
        await engine.dispose()


async def close_psycopg(url):
    pool = psycopg_pool.AsyncConnectionPool(
        url, min_size=0, max_size=1, open=False, name="pool-1", kwargs={"autocommit": True}
    )
    await pool.open()
    seen = {}

    async def holder():
        async with pool.connection() as conn:
            await conn.execute("SELECT pg_sleep(0.3)")

    async def waiter():
        await asyncio.sleep(0.05)
        try:
            async with pool.connection():
                pass
        except psycopg_pool.PoolClosed as e:
            seen["waiter"] = str(e)

    async def closer():
        await asyncio.sleep(0.15)
        await pool.close()
        try:
            async with pool.connection():
                pass
        except psycopg_pool.PoolClosed as e:
            seen["later"] = str(e)

    await asyncio.gather(holder(), waiter(), closer())
    return seen


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


def stress_saturation(args, bb8):
    load = f"""
[load]
tasks = {SATURATION_TASKS}
iterations = {SATURATION_ITERATIONS}
warmup = "0s"

[[variant]]
name = "asyncpg"
pool = {{ model = "asyncpg", min_size = 1, max_size = 2, acquire_timeout = "50ms" }}

[[variant]]
name = "psycopg"
pool = {{ model = "psycopg", min_size = 1, max_size = 2, timeout = "50ms" }}
""" + bb8_variant(bb8, 'min_idle = 1, max_size = 2, connection_timeout = "50ms"')
    vs = run_stress(args, "fidelity-saturation", load, "SELECT pg_sleep(0.005)")
    return {k: timeout_fraction(v) for k, v in vs.items()}


def stress_overflow(args, bb8):
    load = f"""
[load]
tasks = {OVERFLOW_TASKS}
duration = "{OVERFLOW_SECONDS}s"
warmup = "0s"

[[variant]]
name = "sqlalchemy"
pool = {{ model = "sqlalchemy", pool_size = 5, max_overflow = 10, pool_timeout = "1s" }}
""" + bb8_variant(bb8, 'min_idle = 5, max_size = 15, connection_timeout = "1s"')
    vs = run_stress(args, "fidelity-overflow", load, "SELECT pg_sleep(0.5)")
    return {k: timeout_fraction(v) for k, v in vs.items()}


def stress_bursts(args, bb8):
    stages = []
    for tasks in BURSTS:
        stages.append(f'{{ duration = "1ms", target = {tasks} }}')
        stages.append(f'{{ duration = "{BURST_SECONDS}s", target = {tasks} }}')
    load = f"""
[load]
tasks = {max(BURSTS)}
warmup = "0s"
stages = [{", ".join(stages)}]

[[variant]]
name = "sqlalchemy"
pool = {{ model = "sqlalchemy", pool_size = 5, max_overflow = 10 }}
""" + bb8_variant(bb8, "min_idle = 5, max_size = 15")
    vs = run_stress(args, "fidelity-bursts", load, "SELECT pg_sleep(0.02)")
    return {k: v["pool"]["connections_created"] for k, v in vs.items()}


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


def timing_rounds(args):
    """REPEATS rounds of the timing workloads, real library and model alternating."""
    real = {k: [] for k in ("asyncpg", "psycopg", "overflow", "bursts")}
    model = {k: [] for k in real}
    bb8 = {}
    for r in range(REPEATS):
        def run_real():
            real["asyncpg"].append(asyncio.run(saturation_asyncpg(args.url)))
            real["psycopg"].append(asyncio.run(saturation_psycopg(args.url)))
            real["overflow"].append(asyncio.run(overflow_sqlalchemy(args.url)))
            real["bursts"].append(asyncio.run(bursts_sqlalchemy(args.url)))

        def run_model():
            sat = stress_saturation(args, r == 0)
            over = stress_overflow(args, r == 0)
            bursts = stress_bursts(args, r == 0)
            model["asyncpg"].append(sat["asyncpg"])
            model["psycopg"].append(sat["psycopg"])
            model["overflow"].append(over["sqlalchemy"])
            model["bursts"].append(bursts["sqlalchemy"])
            if r == 0:
                bb8.update(saturation=sat["bb8"], overflow=over["bb8"], bursts=bursts["bb8"])

        for run in (run_real, run_model) if r % 2 == 0 else (run_model, run_real):
            run()
    return real, model, bb8


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--stress", required=True)
    parser.add_argument("--work", required=True)
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    rows, ok = [], True

    with open(os.path.join(os.path.dirname(__file__), "known-deviations.txt")) as f:
        known = {line.strip() for line in f if line.strip() and not line.startswith("#")}
    if known & ACCEPTANCE:
        sys.exit(f"known-deviations.txt may not excuse an acceptance row: {known & ACCEPTANCE}")

    def row(workload, library, real, model, bb8, good):
        nonlocal ok
        verdict = "ok" if good else "KNOWN" if f"{workload}|{library}" in known else "OFF"
        ok &= verdict != "OFF"
        rows.append((workload, library, real, model, bb8, verdict))

    real, model, bb8 = timing_rounds(args)
    med = {k: statistics.median(v) for k, v in real.items()}
    mod = {k: statistics.median(v) for k, v in model.items()}
    for lib in ("asyncpg", "psycopg"):
        row("saturation: timeouts", lib, median_figure(real[lib], pct),
            median_figure(model[lib], pct), pct(bb8["saturation"]), within(med[lib], mod[lib]))
    row("overflow: timeouts", "sqlalchemy", median_figure(real["overflow"], pct),
        median_figure(model["overflow"], pct), pct(bb8["overflow"]),
        within(med["overflow"], mod["overflow"]))
    row("bursts: connections opened", "sqlalchemy", median_figure(real["bursts"], str),
        median_figure(model["bursts"], str), str(bb8["bursts"]),
        within(med["bursts"], mod["bursts"]))
    opened, modelled = asyncio.run(max_queries_asyncpg(args.url)), stress_max_queries(args)
    row("max_queries: connections opened", "asyncpg", str(opened), str(modelled), "-",
        within(opened, modelled))
    refused, modelled = asyncio.run(max_waiting_psycopg(args.url)), stress_max_waiting(args)
    row("max_waiting: TooManyRequests", "psycopg", str(refused), str(modelled), "-",
        within(refused, modelled))
    for lib, fn in [("asyncpg", order_asyncpg), ("psycopg", order_psycopg),
                    ("sqlalchemy", order_sqlalchemy)]:
        served = asyncio.run(fn(args.url))
        fifo = served == sorted(served)
        row("order: served", lib, "arrival" if fifo else f"{served}", "arrival (unit tests)",
            "not guaranteed", fifo)
    close = asyncio.run(close_psycopg(args.url))
    waiter, later = stress_close(args)
    row("close: waiter meets", "psycopg", close.get("waiter", "-"), waiter, "-",
        waiter == close.get("waiter"))
    row("close: later client meets", "psycopg", close.get("later", "-"), later, "-",
        later == close.get("later"))

    widths = [max(len(str(r[i])) for r in rows + [HEADER]) for i in range(6)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()
             for r in [HEADER] + rows]
    lines.append(f"(tolerance ±{TOLERANCE:.0%} on the medians of {REPEATS} rounds, real library "
                 f"and model alternating; bb8 from the first round, not compared; asyncpg "
                 f"{asyncpg.__version__}, SQLAlchemy {sqlalchemy.__version__}, psycopg_pool "
                 f"{psycopg_pool.__version__})")
    table = "\n".join(lines) + "\n"
    print(table, end="")
    with open(os.path.join(args.work, "table.txt"), "w") as f:
        f.write(table)
    sys.exit(0 if ok else 1)


HEADER = ("workload", "library", "real library", "stress model", "stress bb8", "")

if __name__ == "__main__":
    main()
