"""The shared rate limit: one token bucket in the database for every worker process.

First its arithmetic, on SQLite and PostgreSQL, with a clock the test moves and the waits
recorded rather than slept: refill, the cap at ``burst``, a debt and the wait it costs the
next callers, a provider's hold, and no update lost when many callers take at once.

Then the real thing: separate processes (multiprocessing's spawn, each with its own
engine, as on separate machines) spending one bucket for a few seconds. What they started
together is measured in sliding one-second windows and must stay within what the bucket
promises, ``rate + burst`` messages in any second, plus a tolerance. The bucket bounds when
calls are *allowed* to start; a call observed later than that (its process woke late from
its wait, on 2 cores shared by the workers and the database; or, at the sink, its request
took longer on the way) lands in a later window, on top of that window's own calls. A
lateness of up to 0.1 s is allowed, ``0.1 × rate`` messages. The same
processes with the per-process ``RateLimit`` go about three times over, which shows the
measurement can fail. Last, two Postmark adapters in two processes send into the local
sink, and the rate the sink *received* is measured (on PostgreSQL, where the queue's
workers run; SQLite's sharing between processes is measured by the test before).
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from conftest import make_settings, url_of
from rate_workers import (
    AcquireJob,
    SendJob,
    acquire_worker,
    peak_per_window,
    send_worker,
    warm_up,
)
from sink import running
from sqlalchemy import Engine, select

from digest.deliver.http import HttpProvider, RateLimit
from digest.deliver.providers import make_provider
from digest.deliver.shared_rate import SharedRateLimit
from digest.errors import DeliveryError
from digest.store.engine import create_store_engine
from digest.store.queue_schema import rate_buckets

START = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
LATENESS = 0.1  # seconds a worker may wake late from its wait; see the module docstring
RESULT_SECONDS = 60.0
START_DELAY = 0.5  # seconds from handing out the jobs to their common start
T = TypeVar("T")


class Clock:
    """The bucket's time, moved by the test."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Waits:
    """A ``sleep`` that records each wait and returns at once."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(round(seconds, 6))


def limiter(
    engine: Engine,
    clock: Clock,
    waits: Waits,
    *,
    rate: float = 100.0,
    burst: float = 50.0,
    provider: str = "postmark",
) -> SharedRateLimit:
    return SharedRateLimit(engine, provider, rate, burst, clock=clock, sleep=waits)


def bucket(engine: Engine, provider: str = "postmark") -> tuple[float, datetime]:
    """The row as stored: its balance and the time it was last brought up to date."""
    query = select(rate_buckets.c.tokens, rate_buckets.c.updated_at).where(
        rate_buckets.c.provider == provider
    )
    with engine.connect() as conn:
        tokens, updated_at = conn.execute(query).one()
    return round(float(tokens), 6), updated_at


# -- the arithmetic ----------------------------------------------------------------------


def test_a_full_bucket_lets_the_burst_through_then_each_call_waits_its_debt(
    engine: Engine,
) -> None:
    clock, waits = Clock(), Waits()
    limit = limiter(engine, clock, waits)

    async def run() -> None:
        await limit.acquire(30)  # the bucket starts full: 50
        await limit.acquire(20)  # down to 0, still no wait
        await limit.acquire(10)  # 10 in debt: a tenth of a second at 100/s
        await limit.acquire(10)  # and the next caller inherits it: 20 in debt

    asyncio.run(run())
    assert waits.seconds == [0.1, 0.2]
    assert bucket(engine) == (-20.0, START)


def test_the_bucket_refills_at_the_rate_and_never_past_the_burst(engine: Engine) -> None:
    clock, waits = Clock(), Waits()
    limit = limiter(engine, clock, waits)

    async def run() -> None:
        await limit.acquire(50)
        await limit.acquire(20)  # 20 in debt
        clock.advance(0.1)  # 10 back: 10 in debt
        await limit.acquire(5)  # 15 in debt
        clock.advance(60)  # 6,000 messages' worth of time, but the bucket holds 50
        await limit.acquire(10)

    asyncio.run(run())
    assert waits.seconds == [0.2, 0.15]
    assert bucket(engine) == (40.0, START + timedelta(seconds=60.1))


def test_a_hold_stops_every_worker_and_never_shortens_a_longer_one(engine: Engine) -> None:
    clock = Clock()
    waits_a, waits_b = Waits(), Waits()
    worker_a = limiter(engine, clock, waits_a)
    worker_b = limiter(engine, clock, waits_b)  # another process, as far as the bucket knows

    async def run() -> None:
        worker_a.hold(2.0)  # a 429 with Retry-After: 2, seen by worker a
        await worker_a.acquire(10)  # the hold, then its own 10 messages
        await worker_b.acquire(10)  # worker b never saw the 429, and waits all the same
        worker_b.hold(0.5)  # a shorter hold inside a longer debt changes nothing
        await worker_b.acquire(10)

    asyncio.run(run())
    assert waits_a.seconds == [2.1]
    assert waits_b.seconds == [2.2, 2.3]
    worker_a.hold(5.0)  # outside an event loop, the hold is written at once
    assert bucket(engine)[0] == -500.0


def test_each_provider_has_its_own_bucket(engine: Engine) -> None:
    clock, waits = Clock(), Waits()
    postmark = limiter(engine, clock, waits)
    resend = limiter(engine, clock, waits, provider="resend")

    async def run() -> None:
        await postmark.acquire(50)
        await resend.acquire(50)  # Postmark's spent budget is not Resend's
        await postmark.acquire(10)

    asyncio.run(run())
    assert waits.seconds == [0.1]
    assert bucket(engine, "resend")[0] == 0.0


def test_a_statement_that_read_an_earlier_time_adds_nothing(engine: Engine) -> None:
    """A caller that read the time, then waited for the lock behind a later caller."""
    clock, waits = Clock(), Waits()
    limit = limiter(engine, clock, waits)

    async def run() -> None:
        await limit.acquire(50)
        clock.advance(-5)  # five seconds "ago": no refill, and no negative one either
        await limit.acquire(10)
        clock.advance(5.1)  # a tenth of a second after the row's time, not 5.1 s
        await limit.acquire(10)

    asyncio.run(run())
    assert waits.seconds == [0.1, 0.1]
    assert bucket(engine) == (-10.0, START + timedelta(seconds=0.1))


def test_without_a_clock_the_database_keeps_the_time(engine: Engine) -> None:
    waits = Waits()
    limit = SharedRateLimit(engine, "postmark", 10.0, 10.0, sleep=waits)

    async def run() -> None:
        await limit.acquire(10)
        await limit.acquire(10)  # a second of debt, less the moment between the two

    asyncio.run(run())
    (wait,) = waits.seconds
    assert 0.5 < wait <= 1.0
    _, updated_at = bucket(engine)
    assert abs(updated_at - datetime.now(UTC)) < timedelta(seconds=5)


def test_callers_taking_at_once_each_take_exactly_once(engine: Engine) -> None:
    limit = limiter(engine, Clock(), Waits(), burst=1000.0)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: limit.take(1, limit.burst), range(200)))
    assert bucket(engine)[0] == 800.0


def test_a_database_without_the_table_is_a_delivery_error(tmp_path: Path) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'unmigrated.sqlite3'}")
    limit = SharedRateLimit(engine, "postmark", 100.0, 100.0)
    with pytest.raises(DeliveryError, match=r"digest db upgrade"):
        asyncio.run(limit.acquire(1))
    engine.dispose()


@pytest.mark.parametrize(
    ("rate", "burst", "message"),
    [(0.0, 10.0, "rate"), (math.inf, 10.0, "rate"), (10.0, 0.5, "burst")],
)
def test_a_budget_must_be_finite_and_positive(
    tmp_path: Path, rate: float, burst: float, message: str
) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    with pytest.raises(ValueError, match=message):
        SharedRateLimit(engine, "postmark", rate, burst)
    engine.dispose()


def test_make_provider_shares_the_limit_only_when_given_the_engine(
    engine: Engine, tmp_path: Path
) -> None:
    settings = make_settings(
        tmp_path, provider="postmark", postmark_server_token="pm-token", send_rate=250
    )

    async def build(**options: Any) -> HttpProvider:
        async with httpx.AsyncClient() as client:
            provider = make_provider(settings, client, **options)
        assert isinstance(provider, HttpProvider)
        return provider

    alone = asyncio.run(build())
    assert type(alone.transport.rate_limit) is RateLimit
    shared = asyncio.run(build(shared_limit_engine=engine)).transport.rate_limit
    assert isinstance(shared, SharedRateLimit)
    assert (shared.provider_name, shared.rate, shared.burst) == ("postmark", 250.0, 250.0)
    assert shared.concurrency == settings.send_calls
    assert shared.engine is engine


# -- separate processes ------------------------------------------------------------------

RATE = 300.0  # messages per second, for all the processes together
BURST = 60.0
SECONDS = 2.0  # each process's run; spawning the processes costs about as much again


@dataclass(frozen=True)
class Measured:
    peak: int  # most messages started in any one second, all processes together
    total: int
    per_process: list[int]


@pytest.fixture(scope="module")
def processes() -> Iterator[ProcessPoolExecutor]:
    """Three spawned processes for the module's tests, warmed up once (imports, compiling)."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=3, mp_context=context) as pool:
        warmed = [pool.submit(warm_up) for _ in range(3)]
        assert len({future.result(timeout=RESULT_SECONDS) for future in warmed}) == 3
        yield pool


def run_together(
    pool: ProcessPoolExecutor, work: Callable[[Any, float], T], jobs: list[Any]
) -> list[T]:
    """Each job in a process of its own, all starting at the same moment."""
    start_at = time.time() + START_DELAY
    futures = [pool.submit(work, job, start_at) for job in jobs]
    return [future.result(timeout=RESULT_SECONDS) for future in futures]


def measure(pool: ProcessPoolExecutor, job: AcquireJob) -> Measured:
    stamps = run_together(pool, acquire_worker, [job] * 3)
    merged = [stamp for one in stamps for stamp in one]
    return Measured(
        peak=peak_per_window(merged),
        total=sum(cost for _, cost in merged),
        per_process=[sum(cost for _, cost in one) for one in stamps],
    )


def test_three_processes_together_keep_one_rate(
    processes: ProcessPoolExecutor, engine: Engine
) -> None:
    job = AcquireJob(url_of(engine), "postmark", RATE, BURST, SECONDS)
    measured = measure(processes, job)
    bound = RATE + BURST + LATENESS * RATE
    print(
        f"\n{engine.dialect.name}: 3 processes, shared bucket: peak {measured.peak} messages"
        f" in one second (limit {RATE:.0f}/s + burst {BURST:.0f} = {RATE + BURST:.0f},"
        f" tolerance {LATENESS * RATE:.0f}); {measured.total} in all over {SECONDS} s,"
        f" per process {measured.per_process}"
    )
    assert measured.peak <= bound
    # the limit is spent, not starved: about rate x seconds went through, shared by all three
    assert measured.total >= 0.8 * RATE * SECONDS
    assert min(measured.per_process) >= 0.1 * measured.total


def test_per_process_limits_would_let_three_times_the_rate_through(
    processes: ProcessPoolExecutor, tmp_path: Path
) -> None:
    """What the shared bucket prevents: each process keeping the whole rate for itself."""
    url = f"sqlite:///{tmp_path / 'unused.sqlite3'}"
    measured = measure(processes, AcquireJob(url, "postmark", RATE, BURST, 1.5, shared=False))
    print(
        f"\nper-process RateLimit, 3 processes: peak {measured.peak} messages in one second"
        f" (the shared limit allows {RATE + BURST:.0f}); per process {measured.per_process}"
    )
    assert measured.peak > 2 * (RATE + BURST + LATENESS * RATE)


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)  # where the queue's workers run
def test_two_postmark_workers_hold_the_rate_the_sink_receives(
    processes: ProcessPoolExecutor, engine: Engine, tmp_path: Path
) -> None:
    rate, per_call = 100.0, 5  # small calls: a late one moves few messages across a window
    burst = rate  # what make_provider gives: one second of the rate
    with running() as sink:
        jobs = [
            SendJob(url_of(engine), sink.url, tmp_path / "data", rate, SECONDS, n, per_call)
            for n in (1, 1_000_001)
        ]
        sent = run_together(processes, send_worker, jobs)
        arrivals = sink.books.arrival_times()
        assert sink.books.total() == sum(sent)
        assert sink.books.twice() == {}
    first = min(when for when, _ in arrivals)
    peak = peak_per_window(arrivals)
    steady = peak_per_window(arrivals, after=first + 1.0)  # once the burst is spent
    tolerance = math.ceil(LATENESS * rate / per_call) * per_call
    print(
        f"\n{engine.dialect.name}: 2 Postmark processes, at the sink: peak {peak} messages"
        f" in one second (limit {rate:.0f}/s + burst {burst:.0f}), {steady} once the burst"
        f" was spent (limit {rate:.0f}, tolerance {tolerance}); sent per process {sent}"
    )
    assert peak <= rate + burst + tolerance
    # Six senders always wait in line, so once the burst is spent the bucket never refills
    # past zero and calls start at the rate: per-process limits would give 100/s *each*.
    assert steady <= rate + tolerance
    assert sum(sent) >= 0.8 * rate * SECONDS
