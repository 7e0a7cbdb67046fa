"""Deferring send jobs in the transaction that writes their ledger rows. I/O.

procrastinate keeps its jobs in tables of the same PostgreSQL database as the ledger, and
its own deferring goes through its own connection pool: a job deferred that way commits on
its own, so a crash between the rows and the jobs would leave rows nobody sends (or jobs
for rows that were rolled back). Here the jobs are written by procrastinate's SQL function
``procrastinate_defer_jobs_v1`` (what its ``defer`` calls) on the ledger's connection,
inside the chunk's transaction: both commit, or neither does.

The batch size is the provider's, by name, so that planning (the scheduler, the ops API,
``digest send``) needs neither the provider's keys nor a client to cut the jobs.

``bring_forward`` is for resume and approval: a job of a paused (or unapproved) edition
waits longer and longer, up to five minutes between looks, and would start sending that
late; its waiting jobs are made due now instead, or at their rows' own hour if later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

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


BRING_FORWARD = """
    WITH waiting AS (
        SELECT job.id, GREATEST(now(), COALESCE((
                   SELECT min(d.due_at) FROM deliveries AS d
                    WHERE d.edition_id = job.args->>'edition_id'
                      AND d.id BETWEEN (job.args->>'first_id')::bigint
                                   AND (job.args->>'last_id')::bigint
                      AND d.status = 'pending'
               ), now())) AS at
          FROM procrastinate_jobs AS job
         WHERE job.status = 'todo'
           AND job.queue_name = :queue
           AND job.task_name = :task
           AND job.scheduled_at > now()
           AND job.args->>'edition_id' IN ({editions})
    )
    UPDATE procrastinate_jobs AS job
       SET scheduled_at = waiting.at, attempts = 0
      FROM waiting
     WHERE job.id = waiting.id AND job.status = 'todo' AND waiting.at < job.scheduled_at
    RETURNING job.id
"""
"""Waiting jobs made due now, or when their range's first pending row falls due if that is
later (a subscriber's hour: waking the job sooner would only make it wait again). Their
attempts start again from zero: they counted waits, which are not failures, and left as
they are they would start the next backoff at its cap and leave one error before the job
fails for good (``SendRetry``)."""
EDITIONS_BY_ID = ":edition_id"
EDITIONS_OF_NEWSLETTER = "SELECT id FROM editions WHERE newsletter = :newsletter"


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

    def bring_forward(
        self, conn: Connection, name: str, of: Literal["edition", "newsletter"] = "edition"
    ) -> list[int]:
        """Make the waiting jobs of an edition (or of every edition of a newsletter) due now,
        or at their rows' hour; their ids. For resume and approval, after the state moved."""
        if of == "edition":
            editions, named = EDITIONS_BY_ID, {"edition_id": name}
        else:
            editions, named = EDITIONS_OF_NEWSLETTER, {"newsletter": name}
        statement = text(BRING_FORWARD.format(editions=editions))
        params = {"queue": self.queue_name, "task": self.task_name, **named}
        return sorted(int(job_id) for job_id in conn.execute(statement, params).scalars())
