"""What ops see of the send queue: its jobs, its workers, their throughput. I/O (reads only).

One read model for ``digest queue``, ``GET /api/queue`` and ``/metrics``, so the three say
the same thing. Everything is read from the tables at the moment of asking, through the
store's engine: procrastinate's ``procrastinate_jobs``, ``procrastinate_events`` and
``procrastinate_workers``, and the project's ``worker_stats``.

- Jobs waiting (``todo``) are *due* when the database's clock has reached their
  ``scheduled_at`` (what procrastinate's fetch compares), *scheduled* otherwise: a
  subscriber's later hour, a retry's backoff, a paused edition's next look. A queue whose
  due jobs grow while workers are live is a queue short of workers.
- Running jobs (``doing``) with the worker holding them and when they started (the job's
  last ``started`` event); failed jobs with when they failed. procrastinate 3 keeps no
  error text for a job: the worker logs it (an ERROR line naming the job) and the ledger
  keeps each delivery's own error (``digest edition show``).
- Workers by their heartbeat: live when heard from within ``live_within`` seconds.
- Throughput per worker from ``worker_stats`` (one row per worker and minute): batches and
  recipients per minute over the last ``minutes`` minutes, the current one included and
  counted for the part of it that has passed.

The queue is off on SQLite and with ``DIGEST_QUEUE=none``; the read model then says so
(``enabled`` false, with the reason) and reads nothing, so no caller meets a missing table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, RowMapping, func, select, text

from digest.queue.jobs import QUEUE_NAME
from digest.store.queue_schema import worker_stats

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


LISTED = 20
"""Running and failed jobs listed at most (the counts give the totals)."""
LIVE_WITHIN = 30.0
"""Seconds since a worker's heartbeat within which it is live: ``digest worker``'s default
``--stalled-after``, after which its jobs are re-queued."""
MINUTES = 5
"""The throughput window's default length in minutes."""
OFF_SETTING = "the queue is off (DIGEST_QUEUE=none): `digest run` sends in-process"
OFF_SQLITE = (
    "the queue is off: it needs the store on PostgreSQL (DIGEST_DATABASE_URL) and "
    "DIGEST_QUEUE=procrastinate"
)
OFF_SCHEMA = "the queue's tables are not in the store: run `digest db upgrade`"

COUNTS = text(
    """
    SELECT count(*) FILTER (WHERE status = 'todo'
                              AND (scheduled_at IS NULL OR scheduled_at <= now())),
           count(*) FILTER (WHERE status = 'todo' AND scheduled_at > now()),
           count(*) FILTER (WHERE status = 'doing'),
           count(*) FILTER (WHERE status = 'failed')
      FROM procrastinate_jobs
     WHERE queue_name = :queue
    """
)
JOBS = """
    SELECT job.id, job.args, job.attempts, job.worker_id,
           (SELECT max(event.at) FROM procrastinate_events AS event
             WHERE event.job_id = job.id AND event.type = :event) AS at
      FROM procrastinate_jobs AS job
     WHERE job.queue_name = :queue AND job.status = :status
     ORDER BY job.id {order}
     LIMIT :limit
"""
WORKERS = text(
    """
    SELECT worker.id, worker.last_heartbeat,
           EXTRACT(EPOCH FROM now() - worker.last_heartbeat) AS silent,
           (SELECT count(*) FROM procrastinate_jobs AS job
             WHERE job.worker_id = worker.id AND job.status = 'doing') AS running
      FROM procrastinate_workers AS worker
     ORDER BY worker.id
    """
)


@dataclass(frozen=True, slots=True)
class JobCounts:
    due: int = 0
    """Waiting and due now: the next free worker takes them."""
    scheduled: int = 0
    """Waiting for a later time (a subscriber's hour, a retry, a paused edition's look)."""
    running: int = 0
    failed: int = 0
    """Given up after repeated unexpected errors; their rows stay pending in the ledger."""

    def by_status(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class QueuedJob:
    """A running or failed send job: its edition's rows ``first_id`` to ``last_id``."""

    id: int
    edition_id: str | None
    first_id: int | None
    last_id: int | None
    attempts: int
    worker_id: int | None
    at: str | None
    """When it started (running) or failed (failed), by the queue's events."""


@dataclass(frozen=True, slots=True)
class QueueWorker:
    id: int
    last_heartbeat: str
    seconds_since_heartbeat: float
    live: bool
    running: int


@dataclass(frozen=True, slots=True)
class Throughput:
    worker: str
    """The worker's name in the logs and ``worker_stats``: host, process id, a random tag."""
    batches: int
    recipients: int
    batches_per_minute: float
    recipients_per_minute: float
    last_minute: str
    """The latest minute it sent in."""


@dataclass(frozen=True, slots=True)
class QueueStatus:
    enabled: bool
    note: str | None = None
    """Why the queue is off; None when it is on."""
    minutes: int = MINUTES
    jobs: JobCounts = field(default_factory=JobCounts)
    running: list[QueuedJob] = field(default_factory=list)
    failed: list[QueuedJob] = field(default_factory=list)
    workers: list[QueueWorker] = field(default_factory=list)
    throughput: list[Throughput] = field(default_factory=list)

    @property
    def live_workers(self) -> int:
        return sum(1 for worker in self.workers if worker.live)

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "live_workers": self.live_workers}


@dataclass(frozen=True)
class QueueView:
    """Reads the queue's status from the store; ``enabled``: ``DIGEST_QUEUE=procrastinate``."""

    engine: Engine
    enabled: bool
    clock: Clock = utc_now
    live_within: float = LIVE_WITHIN
    listed: int = LISTED

    def off_reason(self) -> str | None:
        """Why there is no queue to read, or None."""
        if not self.enabled:
            return OFF_SETTING
        if self.engine.dialect.name != "postgresql":
            return OFF_SQLITE
        with self.engine.connect() as conn:
            found = conn.execute(text("SELECT to_regclass('procrastinate_jobs')")).scalar()
        return None if found is not None else OFF_SCHEMA

    def status(self, minutes: int = MINUTES) -> QueueStatus:
        """Everything ops see of the queue, read now (in one snapshot of the database)."""
        off = self.off_reason()
        if off is not None:
            return QueueStatus(enabled=False, note=off, minutes=minutes)
        snapshot = self.engine.connect().execution_options(isolation_level="REPEATABLE READ")
        with snapshot as conn, conn.begin():
            return QueueStatus(
                enabled=True,
                minutes=minutes,
                jobs=job_counts(conn),
                running=self._jobs(conn, "doing", "started", "ASC"),
                failed=self._jobs(conn, "failed", "failed", "DESC"),
                workers=self._workers(conn),
                throughput=throughput(conn, self.clock(), minutes),
            )

    def _jobs(self, conn: Connection, status: str, event: str, order: str) -> list[QueuedJob]:
        """Running jobs oldest first, failed ones newest first, ``listed`` at most."""
        params = {"queue": QUEUE_NAME, "status": status, "event": event, "limit": self.listed}
        rows = conn.execute(text(JOBS.format(order=order)), params)
        return [_job(row._mapping) for row in rows]

    def _workers(self, conn: Connection) -> list[QueueWorker]:
        return [
            QueueWorker(
                id=int(worker_id),
                last_heartbeat=heartbeat.isoformat(),
                seconds_since_heartbeat=round(max(0.0, float(silent)), 1),
                live=float(silent) <= self.live_within,
                running=int(running),
            )
            for worker_id, heartbeat, silent, running in conn.execute(WORKERS)
        ]


def job_counts(conn: Connection) -> JobCounts:
    due, scheduled, running, failed = conn.execute(COUNTS, {"queue": QUEUE_NAME}).one()
    return JobCounts(int(due), int(scheduled), int(running), int(failed))


def throughput(conn: Connection, now: datetime, minutes: int) -> list[Throughput]:
    """Each worker's batches and recipients per minute over the window ending ``now``.

    The window starts ``minutes - 1`` whole minutes before the current one, whose rows are
    counted for the seconds of it that have passed: a rate over the time it covers.
    """
    current = now.replace(second=0, microsecond=0)
    start = current - timedelta(minutes=minutes - 1)
    span = max((now - start).total_seconds() / 60.0, 1 / 60)
    query = (
        select(
            worker_stats.c.worker,
            func.sum(worker_stats.c.batches),
            func.sum(worker_stats.c.recipients),
            func.max(worker_stats.c.minute),
        )
        .where(worker_stats.c.minute >= start, worker_stats.c.minute <= now)
        .group_by(worker_stats.c.worker)
        .order_by(worker_stats.c.worker)
    )
    return [
        Throughput(
            worker=name,
            batches=int(batches),
            recipients=int(recipients),
            batches_per_minute=round(int(batches) / span, 2),
            recipients_per_minute=round(int(recipients) / span, 2),
            last_minute=last.isoformat(),
        )
        for name, batches, recipients, last in conn.execute(query)
    ]


def _job(row: RowMapping) -> QueuedJob:
    args = row["args"] if isinstance(row["args"], dict) else {}
    at = row["at"]
    return QueuedJob(
        id=int(row["id"]),
        edition_id=args.get("edition_id"),
        first_id=args.get("first_id"),
        last_id=args.get("last_id"),
        attempts=int(row["attempts"]),
        worker_id=row["worker_id"],
        at=at.isoformat() if at is not None else None,
    )
