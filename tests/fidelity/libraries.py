"""The fidelity suite's workloads through the real libraries (asyncpg, SQLAlchemy,
psycopg_pool; see fidelity.py for what each workload is and what is compared).

The timing workloads also measure what the pool sees of its client (`Holds`): how long each
checkout keeps its connection, and the client's think time between giving it back and asking
again. fidelity.py runs the model at that hold: the real client's hold is the query plus
CPython's own time per operation (and SQLAlchemy's BEGIN and ROLLBACK round trips around each
checkout), which grows with the machine's load; a `stress` user gives their own query durations,
so the comparison is about the pool's semantics at the same hold, not about CPython's speed.
"""

import asyncio
import contextvars
import statistics
import time
import urllib.parse

import asyncpg
import psycopg_pool
import sqlalchemy
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import create_async_engine

MAX_QUERIES, MAX_QUERIES_ITERATIONS = 10, 57
WAITING_CLIENTS, MAX_WAITING = 6, 2
SATURATION_TASKS, SATURATION_ITERATIONS = 40, 50
SATURATION_SLEEP, SATURATION_TIMEOUT = 0.005, 0.05
OVERFLOW_TASKS, OVERFLOW_SECONDS = 40, 4.0
OVERFLOW_SLEEP, OVERFLOW_TIMEOUT = 0.5, 0.75
BURSTS, BURST_SECONDS, BURST_SLEEP = [15, 2, 15, 2], 1.5, 0.1


def spread_sleep(seconds):
    """`SELECT pg_sleep(s)` with s uniform in [0.5, 1.5] x `seconds` (the mean is `seconds`),
    drawn by the server, so the real client and the model draw alike. The bursts workload uses
    it: with one fixed hold the 15 tasks of a burst, started together, return their connections
    in step, and how many of those returns CPython's event loop runs before the next checkouts
    (finding 5 idle, SQLAlchemy closes an overflow connection) followed the machine's load: the
    real library opened 28 connections on a quiet machine and 30 to 35 on a loaded CI runner
    (the model 24 to 28). Spread holds return one at a time, as a service's requests do, and the
    figure measures the pool's rule, overflow connections closed on return and reopened at the
    next burst."""
    return f"SELECT pg_sleep({seconds:.6f} * (0.5 + random()))"
# The client (timed_loop) a pool event is for: SQLAlchemy closes in a task of its own, which
# copies the client's context, so the dict is the client's own.
CLIENT = contextvars.ContextVar("fidelity_client")


def sqlalchemy_url(url):
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(scheme="postgresql+asyncpg"))


class Holds:
    """What the pool sees of its client, in seconds: per checkout the hold (acquire returned ->
    release called; for SQLAlchemy the pool's `checkout` -> `checkin` events, so its BEGIN and
    ROLLBACK are in it, which `stress` does not send) and the think time (release returned, or
    the acquire failed -> the next acquire called)."""

    def __init__(self):
        self.holds, self.thinks = [], []

    def mean(self):
        return statistics.fmean(self.holds)

    def p50(self):
        return statistics.median(self.holds)

    def think(self):
        return statistics.fmean(self.thinks) if self.thinks else 0.0


async def timed_loop(holds, acquire, sql, timeout_error, more, time_body=True):
    """One client: acquire, run `sql`, release, while `more(tries)`; returns (tries,
    timeouts). Its think times go to `holds`, and its holds unless the pool's events time them."""
    tries, timeouts, released = 0, 0, None
    CLIENT.set({})
    while more(tries):
        asked = time.monotonic()
        if released is not None:
            holds.thinks.append(asked - released)
        tries += 1
        try:
            async with acquire() as conn:
                got = time.monotonic()
                await conn.execute(sql)
                if time_body:
                    holds.holds.append(time.monotonic() - got)
        except timeout_error:
            timeouts += 1
        released = time.monotonic()
    return tries, timeouts


def sqlalchemy_holds(engine, pool_gaps=False):
    """`Holds` of an engine's pool, from its checkout and checkin events. With `pool_gaps`, the
    think times are the pool's: from a task's checkin to its next checkout (CPython's time in
    SQLAlchemy's connect and close around the pool included), leaving out a checkout that opened
    a connection; only where no checkout waits (else the wait would count)."""
    holds = Holds()

    def connect(_dbapi, record):
        record.info["fidelity_new"] = True

    def checkout(_dbapi, record, _proxy):
        now = record.info["fidelity_out"] = time.monotonic()
        checked_in = CLIENT.get({}).pop("in", None)
        if pool_gaps and checked_in is not None and not record.info.pop("fidelity_new", False):
            holds.thinks.append(now - checked_in)
        record.info.pop("fidelity_new", None)

    def checkin(_dbapi, record):
        now = time.monotonic()
        out = record.info.pop("fidelity_out", None)
        if out is not None:
            holds.holds.append(now - out)
        CLIENT.get({})["in"] = now

    event.listen(engine.sync_engine, "connect", connect)
    event.listen(engine.sync_engine, "checkout", checkout)
    event.listen(engine.sync_engine, "checkin", checkin)
    return holds


async def saturation(pool, acquire, timeout_error):
    """SATURATION_TASKS clients of SATURATION_ITERATIONS tries each; the fraction timed out."""
    holds = Holds()
    sql = f"SELECT pg_sleep({SATURATION_SLEEP})"

    def more(tries):
        return tries < SATURATION_ITERATIONS

    try:
        counts = await asyncio.gather(
            *(timed_loop(holds, acquire, sql, timeout_error, more)
              for _ in range(SATURATION_TASKS)))
    finally:
        await pool.close()
    return sum(t for _, t in counts) / sum(n for n, _ in counts), holds


async def saturation_asyncpg(url):
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    return await saturation(
        pool, lambda: pool.acquire(timeout=SATURATION_TIMEOUT), asyncio.TimeoutError)


async def saturation_psycopg(url):
    pool = psycopg_pool.AsyncConnectionPool(
        url, min_size=1, max_size=2, timeout=SATURATION_TIMEOUT, open=False, name="pool-1",
        kwargs={"autocommit": True},
    )
    await pool.open(wait=True)
    return await saturation(pool, pool.connection, psycopg_pool.PoolTimeout)


async def overflow_sqlalchemy(url):
    engine = create_async_engine(
        sqlalchemy_url(url), pool_size=5, max_overflow=10, pool_timeout=OVERFLOW_TIMEOUT
    )
    holds = sqlalchemy_holds(engine)
    deadline = time.monotonic() + OVERFLOW_SECONDS
    sql = text(f"SELECT pg_sleep({OVERFLOW_SLEEP})")

    def more(_tries):
        return time.monotonic() < deadline

    try:
        counts = await asyncio.gather(
            *(timed_loop(holds, engine.connect, sql, sqlalchemy.exc.TimeoutError, more, False)
              for _ in range(OVERFLOW_TASKS)))
    finally:
        await engine.dispose()
    return sum(t for _, t in counts) / sum(n for n, _ in counts), holds


async def bursts_sqlalchemy(url):
    engine = create_async_engine(sqlalchemy_url(url), pool_size=5, max_overflow=10)
    holds = sqlalchemy_holds(engine, pool_gaps=True)
    opened = [0]
    event.listen(engine.sync_engine, "connect", lambda *_: opened.__setitem__(0, opened[0] + 1))
    sql = text(spread_sleep(BURST_SLEEP))

    try:
        for tasks in BURSTS:
            until = time.monotonic() + BURST_SECONDS
            await asyncio.gather(*(
                timed_loop(Holds(), engine.connect, sql, (), lambda _: time.monotonic() < until)
                for _ in range(tasks)))
    finally:
        await engine.dispose()
    return opened[0], holds


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
