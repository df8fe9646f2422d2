"""The pool models' fidelity suite: each workload runs through the real library (asyncpg,
SQLAlchemy, psycopg_pool, versions pinned in requirements.txt) and through `stress` with the
matching `pool.model` (and bb8 for reference), on the same server, and the figures are compared:

  saturation  20 tasks, pool of 2 (min 1), acquire timeout 50 ms, SELECT pg_sleep(0.005):
              the fraction of acquires that time out (asyncpg, psycopg_pool), within 25%;
  overflow    40 tasks, pool_size=5, max_overflow=10, pool_timeout=1, 0.5 s holds: the
              fraction of checkouts that time out (SQLAlchemy), within 25%;
  bursts      15 / 2 / 15 / 2 tasks, 20 ms holds, 5 + 10: connections opened (SQLAlchemy
              closes overflow connections on return and reopens them), within 25%;
  order       a pool of 1 held while 5 clients arrive one after another: the order they are
              served in (the real library's; the model's is unit-tested in
              src/access/models/tests.rs);
  close       psycopg_pool closed while a client waits: what the waiter meets, then a later
              client (the text, exactly).

Run by tests/fidelity/run.sh (which makes the virtual environment); prints a table, exits 1 when
a figure is off.
"""

import argparse
import asyncio
import json
import os
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


def stress_saturation(args):
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

[[variant]]
name = "bb8"
pool = {{ min_idle = 1, max_size = 2, connection_timeout = "50ms" }}
"""
    vs = run_stress(args, "fidelity-saturation", load, "SELECT pg_sleep(0.005)")
    return {k: timeout_fraction(v) for k, v in vs.items()}


def stress_overflow(args):
    load = f"""
[load]
tasks = {OVERFLOW_TASKS}
duration = "{OVERFLOW_SECONDS}s"
warmup = "0s"

[[variant]]
name = "sqlalchemy"
pool = {{ model = "sqlalchemy", pool_size = 5, max_overflow = 10, pool_timeout = "1s" }}

[[variant]]
name = "bb8"
pool = {{ min_idle = 5, max_size = 15, connection_timeout = "1s" }}
"""
    vs = run_stress(args, "fidelity-overflow", load, "SELECT pg_sleep(0.5)")
    return {k: timeout_fraction(v) for k, v in vs.items()}


def stress_bursts(args):
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

[[variant]]
name = "bb8"
pool = {{ min_idle = 5, max_size = 15 }}
"""
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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--stress", required=True)
    parser.add_argument("--work", required=True)
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    rows, ok = [], True

    known = set()
    with open(os.path.join(os.path.dirname(__file__), "known-deviations.txt")) as f:
        known = {line.strip() for line in f if line.strip() and not line.startswith("#")}

    # Figures of timing (timeouts, connections opened) move with the machine's load: on a
    # loaded shared machine the real library's own figure varies by more than the tolerance
    # from run to run, so they fail the suite only with FIDELITY_STRICT=1; texts and orders
    # always do.
    strict = os.environ.get("FIDELITY_STRICT") == "1"
    loose_off = []

    def row(workload, library, real, model, bb8, good, timing=True):
        nonlocal ok
        verdict = "ok" if good else "KNOWN" if f"{workload}|{library}" in known else "OFF"
        if verdict == "OFF" and timing and not strict:
            loose_off.append(f"{workload}|{library}")
        else:
            ok &= verdict != "OFF"
        rows.append((workload, library, real, model, bb8, verdict))

    sat = stress_saturation(args)
    for lib, fn in [("asyncpg", saturation_asyncpg), ("psycopg", saturation_psycopg)]:
        real = asyncio.run(fn(args.url))
        row("saturation: timeouts", lib, f"{real:.1%}", f"{sat[lib]:.1%}", f"{sat['bb8']:.1%}",
            within(real, sat[lib]))
    over = stress_overflow(args)
    real = asyncio.run(overflow_sqlalchemy(args.url))
    row("overflow: timeouts", "sqlalchemy", f"{real:.1%}", f"{over['sqlalchemy']:.1%}",
        f"{over['bb8']:.1%}", within(real, over["sqlalchemy"]))
    bursts = stress_bursts(args)
    real = asyncio.run(bursts_sqlalchemy(args.url))
    row("bursts: connections opened", "sqlalchemy", str(real), str(bursts["sqlalchemy"]),
        str(bursts["bb8"]), within(real, bursts["sqlalchemy"]))
    for lib, fn in [("asyncpg", order_asyncpg), ("psycopg", order_psycopg),
                    ("sqlalchemy", order_sqlalchemy)]:
        served = asyncio.run(fn(args.url))
        fifo = served == sorted(served)
        row("order: served", lib, "arrival" if fifo else f"{served}", "arrival (unit tests)",
            "not guaranteed", fifo, timing=False)
    real = asyncio.run(close_psycopg(args.url))
    waiter, later = stress_close(args)
    row("close: waiter meets", "psycopg", real.get("waiter", "-"), waiter, "-",
        waiter == real.get("waiter"), timing=False)
    row("close: later client meets", "psycopg", real.get("later", "-"), later, "-",
        later == real.get("later"), timing=False)

    widths = [max(len(str(r[i])) for r in rows + [HEADER]) for i in range(6)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()
             for r in [HEADER] + rows]
    lines.append(f"(tolerance ±{TOLERANCE:.0%}; asyncpg {asyncpg.__version__}, SQLAlchemy "
                 f"{sqlalchemy.__version__}, psycopg_pool {psycopg_pool.__version__})")
    if loose_off:
        lines.append(f"timing figures outside tolerance, not failing without FIDELITY_STRICT=1: "
                     f"{', '.join(loose_off)}")
    table = "\n".join(lines) + "\n"
    print(table, end="")
    with open(os.path.join(args.work, "table.txt"), "w") as f:
        f.write(table)
    sys.exit(0 if ok else 1)


HEADER = ("workload", "library", "real library", "stress model", "stress bb8", "")

if __name__ == "__main__":
    main()
