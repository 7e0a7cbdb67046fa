"""The procrastinate App of a process: its connector, the send task and its retry strategy.

Built by a function, per process, from the store's URL: nothing here reads the settings,
and no App exists at import time. The task is registered on the App being built, around the
worker's own ``send`` (its long-lived parts), so no module-level registry is needed either;
a process that only looks at the queue (ops views, the stalled-job sweep) builds an App
without the task.

Retrying: a job raises ``Waiting`` when it may not send yet (the edition is paused or
awaits approval: every 30 s at first, then less and less often, down to every 5 minutes;
or another sender's lease still holds rows of its range, or rows are not yet due by this
machine's clock: at that time): it is tried again, however many times, and that is not a
failure. It raises
``Unfinished`` when rows came back for a retry (throttled, server errors): tried again with
exponential backoff, without limit (the ledger pauses the edition after repeated failures,
and the job then waits). Any other error (the database went away, a bug) is retried with
the same backoff ``MAX_ERROR_ATTEMPTS`` times, then the job fails for ops to see; its rows
stay pending in the ledger.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from procrastinate import App, BaseRetryStrategy, PsycopgConnector, RetryDecision
from procrastinate.jobs import Job
from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import make_url

from digest.queue.jobs import QUEUE_NAME, TASK_NAME
from digest.store.ledger import IdSpan

SendBatch = Callable[[str, IdSpan], Awaitable[dict[str, Any]]]

MAX_ERROR_ATTEMPTS = 12
"""Attempts of a job failing with an unexpected error: with the backoff, about an hour."""


class Waiting(Exception):
    """The job may not send now; it runs again in ``seconds`` (not counted as a failure).

    ``growing``: ``seconds`` is the first wait of a doubling one (up to ``SendRetry``'s
    ``waiting_cap_seconds``): a paused edition's thousands of jobs must not all look again
    every minute for hours.
    """

    def __init__(self, reason: str, seconds: float, growing: bool = False) -> None:
        more = ", then longer" if growing else ""
        super().__init__(f"{reason}; trying again in {seconds:.0f} s{more}")
        self.seconds = seconds
        self.growing = growing


class Unfinished(Exception):
    """Rows of the job's range came back for a retry: back off and claim them again."""


def backoff_seconds(attempts: int, base: float, cap: float) -> float:
    """``base``, doubled per earlier attempt, at most ``cap``."""
    return min(cap, base * 2.0 ** min(attempts, 30))


@dataclass(frozen=True)
class SendRetry(BaseRetryStrategy):
    """When a send job runs again: see the module's docstring."""

    base_seconds: float = 2.0
    cap_seconds: float = 600.0
    waiting_cap_seconds: float = 300.0

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if isinstance(exception, Waiting):
            wait = exception.seconds
            if exception.growing:
                wait = backoff_seconds(job.attempts, wait, max(wait, self.waiting_cap_seconds))
            return RetryDecision(retry_at=_in(wait))
        if not isinstance(exception, Unfinished) and job.attempts + 1 >= MAX_ERROR_ATTEMPTS:
            return None
        wait = backoff_seconds(job.attempts, self.base_seconds, self.cap_seconds)
        return RetryDecision(retry_at=_in(wait))


def conninfo(url: str) -> str:
    """A libpq connection string from the store's SQLAlchemy URL (``postgresql+psycopg://``).

    Built field by field rather than by editing the URL, so that query options (a
    ``search_path`` in ``options``, ``sslmode``) reach libpq quoted as it expects.
    """
    parsed = make_url(url)
    fields: dict[str, Any] = {
        "host": parsed.host,
        "port": parsed.port,
        "dbname": parsed.database,
        "user": parsed.username,
        "password": parsed.password,
    }
    for name, value in parsed.query.items():
        fields[name] = value if isinstance(value, str) else value[-1]
    return make_conninfo(**{name: value for name, value in fields.items() if value is not None})


def make_app(url: str, send: SendBatch | None = None, connections: int = 4) -> App:
    """An App on the store's database; with ``send``, able to run the send task.

    ``connections`` bounds procrastinate's own pool (fetching, finishing, heartbeats and
    the listener); the ledger's work goes through the store's engine.
    """
    connector = PsycopgConnector(conninfo=conninfo(url), min_size=1, max_size=connections)
    app = App(connector=connector)
    if send is not None:
        _register(app, send)
    return app


def _register(app: App, send: SendBatch) -> None:
    async def send_batch(edition_id: str, first_id: int, last_id: int) -> dict[str, Any]:
        return await send(edition_id, IdSpan(first_id, last_id))

    app.task(name=TASK_NAME, queue=QUEUE_NAME, retry=SendRetry())(send_batch)


def _in(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)
