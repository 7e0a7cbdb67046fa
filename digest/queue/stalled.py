"""Re-queueing the send jobs of workers that died. I/O (procrastinate's job manager).

procrastinate 3 keeps a heartbeat per worker but does not, by itself, give a dead worker's
jobs to anyone: they stay ``doing``. Every worker therefore sweeps, on start and then every
few seconds: jobs of the send task whose worker's heartbeat is older than ``after`` seconds
(or whose worker row was pruned) go back to ``todo``, due now. The job's next run takes its
rows over once their lease has run out (``Ledger.claim_range``): uncertain rows go out again
under the same idempotency key where the provider has one, else as
``DIGEST_UNCERTAIN_POLICY`` says, exactly as after a crash of the in-process loop.

Two workers sweeping at once may both find a job; the second re-queue fails (the job is no
longer ``doing``) and is ignored. In the rare case a job was re-queued and then fetched by
a live worker before the second re-queue, the job runs twice: the ledger's claims and
leases still let every row be sent once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from procrastinate import App
from procrastinate.exceptions import ConnectorException

from digest.queue.jobs import TASK_NAME

log = logging.getLogger(__name__)


async def requeue_stalled(app: App, after: float) -> list[int]:
    """Send jobs of workers silent for ``after`` seconds back to the queue; their ids."""
    manager = app.job_manager
    stalled = await manager.get_stalled_jobs(task_name=TASK_NAME, seconds_since_heartbeat=after)
    requeued: list[int] = []
    for job in stalled:
        try:
            await manager.retry_job(job)
        except ConnectorException:  # another sweep re-queued it first
            continue
        assert job.id is not None
        requeued.append(job.id)
    if requeued:
        log.warning(
            "re-queued %d send jobs of workers silent for %.0f s: %s",
            len(requeued),
            after,
            ", ".join(map(str, requeued)),
        )
    return requeued


async def sweep_stalled(app: App, after: float, every: float, stop: asyncio.Event) -> None:
    """``requeue_stalled`` now and every ``every`` seconds until ``stop``; errors are logged
    and the sweep goes on (the database may be back at the next one)."""
    while not stop.is_set():
        try:
            await requeue_stalled(app, after)
        except Exception:
            log.exception("sweeping stalled send jobs failed; trying again in %.0f s", every)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
