"""``digest send`` with the job queue (``DIGEST_QUEUE=procrastinate``): enrol, and the
workers send. I/O.

Enrolling writes the ledger rows and the send jobs together, so this command only enrols
(and with ``--now`` makes every row due now, deferring jobs due now for them); ``digest
worker`` processes do the sending. ``--wait`` follows the ledger until nothing due is left
(rows due at a subscriber's later hour stay pending, their jobs waiting for it). A dry run
enrols nothing, since enrolling is what queues the sends.
"""

from __future__ import annotations

import time

import click

from digest.cli.progress import progress
from digest.deliver.enroll import enroll
from digest.deliver.sender import SendReport
from digest.ops import Operations
from digest.store.editions import Edition

POLL_SECONDS = 1.0


def send_queued(ops: Operations, edition: Edition, now: bool, wait: bool, show: bool) -> SendReport:
    """Enrol the edition (queueing its sends); with ``wait``, until nothing due is left."""
    assert ops.queue is not None
    started = time.monotonic()
    if not edition.empty:
        enroll(ops.ledger, ops.audience, edition.snapshot, ops.queue)
        if now:
            ops.ledger_ops.make_due_now(edition.id, ops.queue.for_edition(edition.id))
    paused = ops.paused_reason(edition)
    if wait and not edition.empty and paused is None:
        paused = _follow(ops, edition, show)
    counts = ops.ledger.counts(edition.id)
    return SendReport(edition.id, counts, time.monotonic() - started, paused)


def _follow(ops: Operations, edition: Edition, show: bool) -> str | None:
    """Until the workers leave nothing due or sending; why it stopped if it paused."""
    if show:
        click.echo("waiting for `digest worker` to send it (Ctrl-C stops waiting, not sending)")
    with progress("recipients done", None, enabled=show) as shown:
        while True:
            counts = ops.ledger.counts(edition.id)
            shown.update(counts.sent + counts.failed + counts.skipped, counts.total)
            if counts.due == 0 and counts.sending == 0:
                return None
            paused = ops.paused_reason(edition)
            if paused is not None:
                return paused
            time.sleep(POLL_SECONDS)


def describe_queued(report: SendReport, waited: bool) -> str:
    """The line after the counts: who sends what is still to go."""
    left = report.counts.pending + report.counts.sending
    if not left or report.paused:
        return ""
    if waited:
        return f"{left} wait for their local hour; their jobs are queued for then"
    return f"{left} queued for `digest worker` (DIGEST_QUEUE=procrastinate); --wait follows them"
