"""Which send jobs a set of ledger rows needs: one per run of rows due together. Pure.

A job names a range of ledger ids of one edition and waits in the queue until the rows are
due (a subscriber's local hour), so rows due at 07:00 Paris and 07:00 New York are sent by
different jobs at different times, each as soon as its hour comes. A run is cut at the
provider's batch size, so one job is one provider batch (one call for the batch APIs), and
a worker that dies holds at most one batch of uncertain rows per job.

A range is a range of ids, not a list: a job's arguments stay three numbers however big the
batch, and the job claims by ``id BETWEEN first AND last``. Ids between those of the rows
(another edition's rows enrolled at the same moment, or rows already sent when failed rows
are retried) are harmless: the claim takes only this edition's pending rows, and a row
claimed by one job is not claimable by another.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from digest.store.ledger import Enqueued

TASK_NAME = "digest.send_batch"
QUEUE_NAME = "digest_sends"


@dataclass(frozen=True, slots=True)
class BatchJob:
    edition_id: str
    first_id: int
    last_id: int
    due_at: datetime

    def args(self) -> dict[str, Any]:
        """The task's keyword arguments, as stored in the job (JSON)."""
        return {"edition_id": self.edition_id, "first_id": self.first_id, "last_id": self.last_id}


def plan_jobs(edition_id: str, rows: Sequence[Enqueued], batch_size: int) -> list[BatchJob]:
    """Jobs for ``rows`` (id order): a new job where the due time changes or a batch is full."""
    if batch_size < 1:
        raise ValueError(f"batch size {batch_size}: must be at least 1")
    jobs: list[BatchJob] = []
    start = 0
    for index in range(1, len(rows) + 1):
        ends = index == len(rows) or rows[index][1] != rows[start][1] or index - start >= batch_size
        if ends:
            jobs.append(BatchJob(edition_id, rows[start][0], rows[index - 1][0], rows[start][1]))
            start = index
    return jobs
