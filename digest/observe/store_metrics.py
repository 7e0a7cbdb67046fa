"""The store as a ``MetricsSource``: the ledger, the editions and the scheduler's record,
and the job queue when there is one. I/O.

Each method is one grouped query (the queue's, a few in one snapshot), run at scrape time;
nothing is cached, so a scrape shows what every process has written, and the figures
survive any restart. The queue is read through ``QueueView``, which says "off" without
touching a table on SQLite, with ``DIGEST_QUEUE=none``, or before the queue's migration:
a scrape never fails for want of procrastinate's tables.
"""

from __future__ import annotations

from sqlalchemy import Engine

from digest.observe.metrics import QueueFigures
from digest.queue.status import QueueView
from digest.store.edition_counts import editions_per_newsletter
from digest.store.ledger import Status
from digest.store.ledger_ops import LedgerOps
from digest.store.runs import ScheduleRuns


class StoreMetricsSource:
    def __init__(self, engine: Engine, queue: QueueView | None = None) -> None:
        self.engine = engine
        self.ledger = LedgerOps(engine)
        self.runs = ScheduleRuns(engine)
        self.queue_view = queue

    def editions_planned(self) -> dict[str, int]:
        return editions_per_newsletter(self.engine)

    def deliveries_by_status(self) -> dict[str, int]:
        """Every status, zero included: a series that appears only once it is non-zero
        breaks rate() and alert rules on it."""
        totals = dict.fromkeys((status.value for status in Status), 0)
        for counts in self.ledger.overview().values():
            totals[Status.PENDING.value] += counts.pending
            totals[Status.SENDING.value] += counts.sending
            totals[Status.SENT.value] += counts.sent
            totals[Status.FAILED.value] += counts.failed
            totals[Status.SKIPPED.value] += counts.skipped
        return totals

    def last_success(self) -> dict[str, float]:
        return {name: slot.timestamp() for name, slot in self.runs.last_success().items()}

    def slot_outcomes(self) -> dict[tuple[str, str], int]:
        return self.runs.outcome_counts()

    def queue(self) -> QueueFigures | None:
        if self.queue_view is None:
            return None
        status = self.queue_view.status()
        if not status.enabled:
            return None
        return QueueFigures(
            jobs=status.jobs.by_status(),
            live_workers=status.live_workers,
            recipients_per_minute={t.worker: t.recipients_per_minute for t in status.throughput},
        )
