"""A worker's life: the send jobs of the queue, run until asked to stop. I/O.

``run_worker`` builds the long-lived parts once (``runtime``), opens procrastinate's App on
the store's database and runs its worker on the send queue, with the stalled-job sweep
beside it. When ``stop`` is set (the first SIGTERM, in ``digest worker`` or ``digest run
--with-worker``), the worker fetches nothing more and the jobs in flight finish and are
recorded; a cancellation (the second signal) stops at once, and what was in flight is
taken over by another worker when its leases run out.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from procrastinate import App

from digest.deliver.providers import http_client, make_provider
from digest.newsletters import NewsletterConfig
from digest.observe.logs import AlertCounter
from digest.queue.app import make_app
from digest.queue.jobs import QUEUE_NAME
from digest.queue.runtime import Providers, build_runtime
from digest.queue.stalled import sweep_stalled
from digest.wiring import Parts

POLL_SECONDS = 1.0
"""How often an idle worker looks for jobs: a job deferred for later (a subscriber's hour,
a retry) wakes nobody when it falls due, so this bounds how late it starts."""


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    concurrency: int = 4
    """Jobs (send batches) this process runs at once."""
    stalled_after: float = 30.0
    """Seconds without a heartbeat after which a worker is taken for dead."""
    provider: str | None = None
    """The provider's name, overriding ``DIGEST_PROVIDER``."""


async def run_worker(
    parts: Parts,
    config: NewsletterConfig,
    options: WorkerOptions,
    stop: asyncio.Event,
    alerts: AlertCounter | None = None,
) -> None:
    """Run send jobs until ``stop`` is set; the jobs in flight finish before it returns.

    ``alerts`` counts the worker's alerts where the process serves metrics."""
    settings = parts.settings
    url = settings.queue_url()
    client = http_client(settings)
    await make_provider(settings, client, options.provider).close()  # a bad setting stops us
    providers = Providers(settings, client, config, parts.engine, options.provider)
    runtime = build_runtime(parts, config, providers, parts.templates(), alerts)
    app = make_app(url, runtime.send_batch, connections=options.concurrency + 3)
    try:
        async with app.open_async():
            await _work(app, options, runtime.name, stop)
    finally:
        await providers.close()
        await client.aclose()


async def _work(app: App, options: WorkerOptions, name: str, stop: asyncio.Event) -> None:
    sweeping = asyncio.create_task(
        sweep_stalled(app, options.stalled_after, options.stalled_after / 2, stop)
    )
    working = asyncio.create_task(
        app.run_worker_async(
            queues=[QUEUE_NAME],
            name=name,
            concurrency=options.concurrency,
            install_signal_handlers=False,  # the caller's: a first signal finishes in flight
            fetch_job_polling_interval=POLL_SECONDS,
            update_heartbeat_interval=options.stalled_after / 3,
            stalled_worker_timeout=options.stalled_after,
            delete_jobs="successful",  # done jobs would pile up; worker_stats keeps the counts
        )
    )
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({working, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.set()
        working.cancel()  # procrastinate's worker takes it as "stop": jobs in flight finish
        with contextlib.suppress(asyncio.CancelledError):
            await working
        await sweeping
        stopping.cancel()
