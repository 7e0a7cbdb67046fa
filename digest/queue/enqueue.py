"""Deferring send jobs in the transaction that writes their ledger rows. I/O.

procrastinate keeps its jobs in tables of the same PostgreSQL database as the ledger, and
its own deferring goes through its own connection pool: a job deferred that way commits on
its own, so a crash between the rows and the jobs would leave rows nobody sends (or jobs
for rows that were rolled back). Here the jobs are written by procrastinate's SQL function
``procrastinate_defer_jobs_v1`` (what its ``defer`` calls) on the ledger's connection,
inside the chunk's transaction: both commit, or neither does.

The batch size is the provider's, by name, so that planning (the scheduler, the ops API,
``digest send``) needs neither the provider's keys nor a client to cut the jobs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import orjson
from sqlalchemy import Connection, text

from digest.deliver.mailgun import MailgunProvider
from digest.deliver.outbox import OutboxProvider
from digest.deliver.postmark import PostmarkProvider
from digest.deliver.resend import ResendProvider
from digest.deliver.sendgrid import SendGridProvider
from digest.queue.jobs import QUEUE_NAME, TASK_NAME, BatchJob, plan_jobs
from digest.store.ledger import Enqueued, OnRows

SMTP_BATCH = 50
"""The SMTP adapter's batch (its constructor's default: the relay takes one message a time)."""

BATCH_SIZES = {
    "outbox": OutboxProvider.max_batch,
    "smtp": SMTP_BATCH,
    "postmark": PostmarkProvider.max_batch,
    "sendgrid": SendGridProvider.max_batch,
    "mailgun": MailgunProvider.max_batch,
    "resend": ResendProvider.max_batch,
}

DEFER = text(
    """
    SELECT unnest(procrastinate_defer_jobs_v1(ARRAY(
        SELECT CAST(
            ROW(:queue, :task, 0, NULL, NULL, job.args, job.scheduled_at)
            AS procrastinate_job_to_defer_v1
        )
        FROM unnest(CAST(:args AS jsonb[]), CAST(:at AS timestamptz[]))
            WITH ORDINALITY AS job(args, scheduled_at, n)
        ORDER BY job.n
    )))
    """
)


def batch_size(provider: str) -> int:
    """The provider's batch, which bounds one job's rows (an unknown name: the smallest)."""
    return BATCH_SIZES.get(provider, min(BATCH_SIZES.values()))


@dataclass(frozen=True, slots=True)
class JobQueue:
    """Defers the send jobs of rows made pending, on the connection that made them."""

    batch_size: int
    queue_name: str = QUEUE_NAME
    task_name: str = TASK_NAME

    def for_edition(self, edition_id: str) -> OnRows:
        """The ledger's hook for one edition's rows (``Ledger.create``'s ``on_chunk``)."""

        def defer(conn: Connection, rows: Sequence[Enqueued]) -> None:
            self.defer(conn, plan_jobs(edition_id, rows, self.batch_size))

        return defer

    def defer(self, conn: Connection, jobs: Sequence[BatchJob]) -> list[int]:
        """Write the jobs in ``conn``'s transaction; their ids in the queue."""
        if not jobs:
            return []
        params = {
            "queue": self.queue_name,
            "task": self.task_name,
            "args": [orjson.dumps(job.args()).decode() for job in jobs],
            "at": [job.due_at for job in jobs],
        }
        return [int(job_id) for job_id in conn.execute(DEFER, params).scalars()]
