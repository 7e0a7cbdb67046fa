"""Work for the shared rate limit's tests, run in processes started with multiprocessing's spawn.

Each job builds its own engine (as a worker on another machine would), waits for the start
time the test gave every job so all of them run together, spends its budget for a few
seconds and returns what it did: a list of (wall-clock time, messages) per call started.
All processes run on this machine, so their ``time.time()`` readings make one timeline.
``warm_up`` is run first in each process, so the imports and the edition's compilation are
done before any clock starts.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from batches import make_batch
from sqlalchemy import Engine, text

from digest.deliver.base import Outcome
from digest.deliver.http import Limiter, RateLimit
from digest.deliver.providers import make_provider
from digest.deliver.shared_rate import SharedRateLimit
from digest.settings import Settings
from digest.store.engine import create_store_engine

Stamps = list[tuple[float, int]]


@dataclass(frozen=True)
class AcquireJob:
    """Acquire ``cost`` messages at a time, from ``tasks`` coroutines, for ``seconds``.

    ``shared`` False gives each process its own ``RateLimit`` (the per-process limiter),
    to show what the measurement sees when the limit is *not* shared.
    """

    url: str
    provider: str
    rate: float
    burst: float
    seconds: float
    cost: int = 10
    tasks: int = 2
    shared: bool = True


@dataclass(frozen=True)
class SendJob:
    """Send batches of ``per_call`` messages through a real Postmark adapter into the sink."""

    url: str
    sink_url: str
    data_dir: Path
    rate: float
    seconds: float
    first_id: int
    per_call: int = 10
    tasks: int = 3


def warm_up() -> int:
    """Import and compile what the jobs need; the process's id, to tell processes apart.

    It keeps its process a second longer, so that three warm-ups go to three processes.
    """
    make_batch(1)
    time.sleep(1.0)
    return os.getpid()


def acquire_worker(job: AcquireJob, start_at: float) -> Stamps:
    """From ``start_at`` (wall clock), spend the bucket for ``job.seconds``; the calls made."""
    engine = create_store_engine(job.url)
    try:
        with engine.connect() as conn:  # the connection is made before the clock starts
            conn.execute(text("SELECT 1"))
        limiter: Limiter
        if job.shared:
            limiter = SharedRateLimit(engine, job.provider, job.rate, job.burst)
        else:
            limiter = RateLimit(job.rate, 4)
        _wait_until(start_at)
        return asyncio.run(_spend(limiter, job))
    finally:
        engine.dispose()


async def _spend(limiter: Limiter, job: AcquireJob) -> Stamps:
    stamps: Stamps = []
    deadline = time.monotonic() + job.seconds

    async def one() -> None:
        while time.monotonic() < deadline:
            await limiter.acquire(job.cost)
            stamps.append((time.time(), job.cost))

    await asyncio.gather(*(one() for _ in range(job.tasks)))
    return stamps


def send_worker(job: SendJob, start_at: float) -> int:
    """From ``start_at``, send into the sink for ``job.seconds``; the messages sent."""
    values: dict[str, Any] = {
        "_env_file": None,
        "data_dir": job.data_dir,
        "provider": "postmark",
        "postmark_server_token": "pm-token",
        "provider_base_url": job.sink_url,
        "send_rate": job.rate,
        "send_calls": job.tasks,
    }
    settings = Settings(**values)
    engine = create_store_engine(job.url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return asyncio.run(_send_for(settings, job, engine, start_at))
    finally:
        engine.dispose()


async def _send_for(settings: Settings, job: SendJob, engine: Engine, start_at: float) -> int:
    next_id = job.first_id
    sent = 0
    async with httpx.AsyncClient(trust_env=False) as client:
        provider = make_provider(settings, client, shared_limit_engine=engine)
        # the connections are opened before the clock starts, as in a worker that has
        # been sending for a while: a first call's connect is not the limiter's doing
        await asyncio.gather(*(client.get(f"{job.sink_url}/_counts") for _ in range(job.tasks)))
        await asyncio.sleep(max(0.0, start_at - time.time()))
        deadline = time.monotonic() + job.seconds

        async def one() -> None:
            nonlocal next_id, sent
            while time.monotonic() < deadline:
                batch = make_batch(job.per_call, start=next_id)
                next_id += job.per_call
                outcomes = {result.outcome for result in await provider.send(batch)}
                if outcomes != {Outcome.SENT}:
                    raise AssertionError(f"the sink did not take a batch: {outcomes}")
                sent += job.per_call

        await asyncio.gather(*(one() for _ in range(job.tasks)))
    return sent


def _wait_until(start_at: float) -> None:
    time.sleep(max(0.0, start_at - time.time()))


def peak_per_window(stamps: Stamps, window: float = 1.0, *, after: float = -math.inf) -> int:
    """The most messages started in any ``window`` seconds (a sliding window), counting
    only windows that open at a call's start no earlier than ``after``."""
    ordered = sorted(stamps)
    peak = total = 0
    end = 0
    for start, (opened, _) in enumerate(ordered):
        while end < len(ordered) and ordered[end][0] < opened + window:
            total += ordered[end][1]
            end += 1
        if opened >= after:
            peak = max(peak, total)
        total -= ordered[start][1]
    return peak
