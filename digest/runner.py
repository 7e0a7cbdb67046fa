"""``digest run``'s process: APScheduler firing slots, the slot keeper, the dispatcher, and
a clean stop.

One asyncio loop holds it together. APScheduler (its jobs in the project's database) fires
each newsletter's job at its slots; the job's completion wakes the loop, which catches the
newsletter up (plan the slot, or record it missed) in a worker thread. Between wake-ups
the loop dispatches due deliveries every ``dispatch_seconds``. On start every newsletter is
caught up first, so slots that came while the process was down are handled by the
newsletter's grace rule rather than by whatever APScheduler remembers.

The first SIGTERM or SIGINT stops claiming and lets the batches in flight finish and be
recorded; a second one cancels them (their leases expire, and the next run takes them
over as uncertain).

With a job queue (``DIGEST_QUEUE=procrastinate``) the runner has no dispatcher: planning
enrols the audience and defers the send jobs in the same transactions, and workers (``digest
worker``, or ``digest run --with-worker`` beside the scheduler) send; this process sending
the same rows as well would only race them for claims.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from apscheduler.events import EVENT_JOB_EXECUTED, JobExecutionEvent  # type: ignore[import-untyped]
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore  # type: ignore[import-untyped]
from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
from sqlalchemy import Engine

from digest.deliver.dispatch import Dispatcher, ProviderFor
from digest.deliver.sender import Clock, SendReport, utc_now
from digest.newsletters import NewsletterConfig
from digest.observe.logs import AlertCounter
from digest.schedule import JOB_PREFIX, MissedHook, SlotKeeper, job_options
from digest.store.runs import SlotRun
from digest.wiring import Parts

log = logging.getLogger(__name__)

JOBS_TABLE = "apscheduler_jobs"


@dataclass
class Runner:
    config: NewsletterConfig
    keeper: SlotKeeper
    dispatcher: Dispatcher | None
    """None when a job queue sends (the workers do)."""
    engine: Engine
    dispatch_seconds: float
    stop: asyncio.Event

    async def tick(self) -> tuple[list[SlotRun], list[SendReport]]:
        """One round: every newsletter caught up, then everything due sent."""
        runs = await self.catch_up(self.config.names)
        return runs, await self.dispatch()

    async def dispatch(self) -> list[SendReport]:
        """Send what is due in this process, unless a job queue's workers send it."""
        if self.dispatcher is None:
            return []
        return await self.dispatcher.dispatch_once()

    async def catch_up(self, names: tuple[str, ...] | list[str]) -> list[SlotRun]:
        runs: list[SlotRun] = []
        for name in names:
            runs += await asyncio.to_thread(self.keeper.catch_up, name)
        return runs

    async def run_forever(self) -> None:
        """Until ``stop`` is set: slots fire, deliveries go out as they fall due."""
        loop = asyncio.get_running_loop()
        woken: asyncio.Queue[str] = asyncio.Queue()

        def job_ran(event: JobExecutionEvent) -> None:
            loop.call_soon_threadsafe(woken.put_nowait, str(event.retval))

        store = SQLAlchemyJobStore(engine=self.engine, tablename=JOBS_TABLE)
        scheduler = AsyncIOScheduler(jobstores={"default": store}, timezone=UTC, event_loop=loop)
        scheduler.add_listener(job_ran, EVENT_JOB_EXECUTED)
        scheduler.start(paused=True)
        install_jobs(scheduler, self.config)
        scheduler.resume()
        try:
            await self.tick()
            while not self.stop.is_set():
                await self._wait(woken)
                names = _drain(woken)
                if names and not self.stop.is_set():
                    await self.catch_up(sorted(names))
                if not self.stop.is_set():
                    await self.dispatch()
        finally:
            scheduler.shutdown(wait=False)

    async def _wait(self, woken: asyncio.Queue[str]) -> None:
        """Until a slot fires, the stop is asked for, or it is time to dispatch again."""
        stopping = asyncio.ensure_future(self.stop.wait())
        waking = asyncio.ensure_future(woken.get())
        done, pending = await asyncio.wait(
            {stopping, waking}, timeout=self.dispatch_seconds, return_when="FIRST_COMPLETED"
        )
        for task in pending:
            task.cancel()
        if waking in done:
            woken.put_nowait(waking.result())


def install_jobs(scheduler: AsyncIOScheduler, config: NewsletterConfig) -> None:
    """One job per newsletter in the file; jobs of newsletters removed from it go.

    Called on a started (paused) scheduler, so the jobs go straight to the job store,
    replacing the stored ones: a changed cadence takes effect on restart.
    """
    for newsletter in config.newsletters:
        scheduler.add_job(**job_options(newsletter))
    known = {JOB_PREFIX + name for name in config.names}
    stale = [
        job.id
        for job in scheduler.get_jobs()
        if job.id.startswith(JOB_PREFIX) and job.id not in known
    ]
    for job_id in stale:
        scheduler.remove_job(job_id)


def stop_on_signals(stop: asyncio.Event, main: asyncio.Task[Any]) -> None:
    """First SIGTERM/SIGINT: finish in-flight batches and exit; a second: exit now."""
    loop = asyncio.get_running_loop()

    def signalled(number: int) -> None:
        if stop.is_set():
            log.warning("second %s: stopping now", signal.Signals(number).name)
            main.cancel()
            return
        log.warning(
            "%s: finishing the batches in flight; send it again to stop at once",
            signal.Signals(number).name,
        )
        stop.set()

    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, signalled, number)


def _drain(queue: asyncio.Queue[str]) -> set[str]:
    names: set[str] = set()
    while not queue.empty():
        names.add(queue.get_nowait())
    return names


def build_runner(
    parts: Parts,
    config: NewsletterConfig,
    provider_for: ProviderFor,
    stop: asyncio.Event,
    clock: Clock = utc_now,
    alerts: AlertCounter | None = None,
    on_missed: MissedHook | None = None,
) -> Runner:
    """The runner over these parts; ``clock`` is the time of every part (tests freeze it)."""
    ops = parts.operations(config, clock)
    templates = parts.templates()  # a broken template stops us here, not at the first send
    dispatcher = Dispatcher(
        ops,
        renderer_for=lambda edition: parts.renderer(templates, edition.snapshot),
        links_for=lambda edition: parts.links(edition.snapshot),
        provider_for=provider_for,
        options=parts.send_options(),
        failure_rate_alert=parts.settings.alert_failure_rate,
        clock=clock,
        stop=stop,
        alerts=alerts,
    )
    keeper = SlotKeeper(ops, on_missed=on_missed, alerts=alerts)
    sending = None if ops.queue is not None else dispatcher
    return Runner(config, keeper, sending, parts.engine, parts.settings.dispatch_seconds, stop)
