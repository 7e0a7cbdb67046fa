"""A provider's rate limit kept in the database, so every worker on every machine shares it. I/O.

``RateLimit`` (``digest.deliver.http``) keeps its budget in one process's memory: ten workers
would each spend the provider's whole rate. ``SharedRateLimit`` keeps it in one row of
``rate_buckets`` per provider instead, a token bucket that may run into debt:

- each acquisition is one atomic statement (``INSERT ... ON CONFLICT DO UPDATE ...
  RETURNING``): refill the bucket by ``rate`` × the seconds since its last update, cap it at
  ``burst``, subtract the call's messages, return the balance. Two processes never read the
  same balance: the row lock (PostgreSQL) or the writer lock (SQLite) puts them in a line;
- a negative balance is a debt: the caller sleeps ``-balance / rate`` seconds, then sends,
  and the next caller inherits the debt and waits longer. Nobody polls or retries, so a
  crowd of workers makes one statement per call, whatever the load (no thundering herd);
- the time is the database's: PostgreSQL's ``clock_timestamp()``, so the machines' own
  clocks never enter into it. SQLite lives on one machine, where every process reads the
  same system clock; its ``julianday('now')`` is read inside the statement, under the
  writer lock (millisecond resolution). The refill never goes backwards: a statement
  whose time is earlier than the row's (it waited for the lock after reading the time)
  adds nothing and keeps the later time;
- ``hold(seconds)`` (a 429's ``Retry-After``, a spent window) lowers the balance to at
  most ``-rate × seconds``: every worker's next call waits the hold out, then its own
  messages' worth (``cost / rate``).

What holds: messages of calls *started* in any interval of ``w`` seconds, by all workers
together, are at most ``rate × w + burst`` (a call larger than ``burst`` counts as
``burst``'s worth at its start: the bound is ``rate × w + max(burst, largest call)``).
A worker that loses time between the statement and its send (a slow answer from the
database, a busy CPU) only starts later; a late start can squeeze into a window at most
``rate × lateness`` more than the bound. Unlike ``RateLimit``, which lets a call start as
soon as its *start* fits the budget and makes the next one pay, a call here pays before
it starts: a first call bigger than ``burst`` waits for the difference.

Calls in flight stay per process (``concurrency``): that cap protects this process's HTTP
client and connection pool, not the provider, so it is not shared.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, TextClause, text
from sqlalchemy.exc import DBAPIError

from digest.deliver.http import Sleep
from digest.errors import DeliveryError

WallClock = Callable[[], datetime]

_POSTGRES = """
INSERT INTO rate_buckets AS b (provider, tokens, updated_at)
VALUES (:provider, :cap - :cost, {now})
ON CONFLICT (provider) DO UPDATE SET
    tokens = LEAST(
        :cap,
        b.tokens + :rate * GREATEST(
            0.0, EXTRACT(EPOCH FROM EXCLUDED.updated_at - b.updated_at)::float8
        )
    ) - :cost,
    updated_at = GREATEST(b.updated_at, EXCLUDED.updated_at)
RETURNING tokens
"""
_POSTGRES_NOW = "clock_timestamp()"
_POSTGRES_GIVEN_NOW = "CAST(:now AS timestamptz)"

_SQLITE = """
INSERT INTO rate_buckets (provider, tokens, updated_at)
VALUES (:provider, :cap - :cost, strftime('%Y-%m-%d %H:%M:%f', :now))
ON CONFLICT (provider) DO UPDATE SET
    tokens = MIN(
        :cap,
        tokens + :rate * MAX(
            0.0, ROUND((julianday(excluded.updated_at) - julianday(updated_at)) * 86400.0, 3)
        )
    ) - :cost,
    updated_at = MAX(updated_at, excluded.updated_at)
RETURNING tokens
"""
# SQLAlchemy's SQLite DateTime writes "YYYY-MM-DD HH:MM:SS.ffffff"; strftime's %f gives
# "SS.SSS", which it reads back as well, and which compares as text in time order. Both
# times are whole milliseconds, so the elapsed time is rounded to them: a julianday is a
# float of some 2.46 million days, exact to only ~40 µs.
_SQLITE_NOW = "now"


class SharedRateLimit:
    """One provider's budget, in messages per second, shared through ``rate_buckets``.

    ``burst`` is the most messages that may start at once after a quiet spell (the bucket's
    size). ``clock`` replaces the database's clock (tests); ``sleep`` is how a debt is
    waited out. ``concurrency`` caps this process's calls in flight, as ``RateLimit`` does.
    """

    def __init__(
        self,
        engine: Engine,
        provider_name: str,
        rate: float,
        burst: float,
        *,
        concurrency: int = 4,
        clock: WallClock | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not (rate > 0 and math.isfinite(rate)):
            raise ValueError(f"rate must be a positive number of messages per second, not {rate}")
        if not (burst >= 1 and math.isfinite(burst)):
            raise ValueError(f"burst must be at least one message, not {burst}")
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {concurrency}")
        self.engine = engine
        self.provider_name = provider_name
        self.rate = float(rate)
        self.burst = float(burst)
        self.concurrency = concurrency
        self._clock = clock
        self._sleep = sleep
        self._statement = _statement(engine.dialect.name, given_clock=clock is not None)
        self._slots = asyncio.Semaphore(concurrency)
        self._holds: set[asyncio.Task[float]] = set()

    async def acquire(self, cost: int = 1) -> None:
        """Take ``cost`` messages from the shared bucket; sleep out any debt, then return.

        A hold this process asked for is written first, so its own next call waits it out.
        """
        if self._holds:
            await asyncio.gather(*self._holds)
        balance = await asyncio.to_thread(self.take, cost, self.burst)
        if balance < 0:
            await self._sleep(-balance / self.rate)

    def hold(self, seconds: float) -> None:
        """No call of any worker starts for ``seconds``: the provider said so.

        The transport calls this from its event loop without awaiting, so the write runs in
        a thread and the next ``acquire`` waits for it; outside a loop it is written at once.
        """
        if not seconds > 0:
            return
        ceiling = -self.rate * seconds
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.take(0, ceiling)
            return
        task = loop.create_task(asyncio.to_thread(self.take, 0, ceiling))
        self._holds.add(task)
        task.add_done_callback(self._holds.discard)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """One of this process's ``concurrency`` calls in flight (not shared: see above)."""
        async with self._slots:
            yield

    def take(self, cost: float, cap: float) -> float:
        """The one statement: refill, cap at ``cap``, subtract ``cost``; the new balance.

        Blocking (a database round trip): ``acquire`` and ``hold`` run it in a thread.
        """
        params: dict[str, Any] = {
            "provider": self.provider_name,
            "rate": self.rate,
            "cap": float(cap),
            "cost": float(cost),
        }
        if self.engine.dialect.name == "sqlite":
            params["now"] = _sqlite_time(self._clock()) if self._clock else _SQLITE_NOW
        elif self._clock is not None:
            params["now"] = self._clock()
        try:
            with self.engine.begin() as conn:
                return float(conn.execute(self._statement, params).scalar_one())
        except DBAPIError as exc:
            raise DeliveryError(
                f"{self.provider_name}: the shared rate limit in the database could not be "
                f"updated ({type(exc.orig).__name__}); nothing was sent. Check that the "
                "database in DIGEST_DATABASE_URL is reachable and migrated (digest db upgrade)"
            ) from exc


def _statement(dialect: str, *, given_clock: bool) -> TextClause:
    if dialect == "sqlite":
        return text(_SQLITE)
    if dialect == "postgresql":
        now = _POSTGRES_GIVEN_NOW if given_clock else _POSTGRES_NOW
        return text(_POSTGRES.format(now=now))
    raise ValueError(f"no shared rate limit on {dialect}: use PostgreSQL or SQLite")


def _sqlite_time(moment: datetime) -> str:
    """An aware time as the UTC text SQLite's date functions read."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: the clock must give aware times")
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
