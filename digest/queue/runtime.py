"""A worker's long-lived parts and the send job's body. Orchestrates; I/O through them.

Built once per worker process (``build_runtime``): the store's engine (in ``ops``), the
templates, one provider per message stream on the one shared HTTP client, and each
edition's renderer, compiled once for the jobs that ask at the same time and kept while its
plan stands (a re-plan moves ``planned_at`` and compiles it again). A job then costs its
claim, its copies, the provider's call and the record, not a set-up.

The job's body is the in-process send path itself (``Sender.send_range`` shares
``_send_claimed`` with ``Sender.run``), and what it leaves decides the job's fate
(``verdict``): done, wait (paused, awaiting approval, rows in another sender's lease), or
back off (rows released for a retry). A job whose batch paused the edition (the run of
failed batches, counted in the store across jobs, reached ``pause_after_failures``; or the
provider refused the key) raises the dispatcher's ``edition_paused`` alert, once: only the
job that paused it does.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import Engine

from digest.deliver.base import Provider
from digest.deliver.dispatch import alert_paused
from digest.deliver.providers import make_provider
from digest.deliver.sender import RangeReport, Sender, SendOptions, worker_name
from digest.newsletters import NewsletterConfig
from digest.observe.logs import AlertCounter
from digest.ops import Operations
from digest.queue.app import Unfinished, Waiting
from digest.render.links import LinkBuilder
from digest.render.templates import TemplateSet
from digest.render.variants import EditionRenderer
from digest.settings import Settings
from digest.store.editions import Edition
from digest.store.ledger import IdSpan
from digest.store.worker_stats import WorkerStats
from digest.wiring import Parts

RENDERERS_KEPT = 8
"""Editions whose compiled variants a worker keeps (a few megabytes each)."""

PAUSED_RETRY_SECONDS = 30.0
"""How soon a job of a paused (or unapproved) edition looks again the first time (then
less and less often: ``SendRetry``), so a resumed edition waits up to a few minutes."""


@dataclass
class Providers:
    """One provider per message stream (Postmark's differ by newsletter), one HTTP client,
    and the rate limit shared through the store by every worker on every machine."""

    settings: Settings
    client: httpx.AsyncClient
    config: NewsletterConfig
    engine: Engine
    name: str | None = None
    _made: dict[str | None, Provider] = field(default_factory=dict)

    def for_edition(self, edition: Edition) -> Provider:
        newsletter = self.config.get_or_none(edition.newsletter)
        stream = newsletter.message_stream if newsletter else None
        if stream not in self._made:
            self._made[stream] = make_provider(
                self.settings, self.client, self.name, stream, shared_limit_engine=self.engine
            )
        return self._made[stream]

    async def close(self) -> None:
        for provider in self._made.values():
            await provider.close()
        self._made.clear()


@dataclass
class WorkerRuntime:
    """What every send job of one worker process shares; ``send_batch`` is the job."""

    ops: Operations
    renderer_for: Callable[[Edition], EditionRenderer]
    links_for: Callable[[Edition], LinkBuilder]
    provider_for: Callable[[Edition], Provider]
    stats: WorkerStats
    options: SendOptions
    name: str = field(default_factory=worker_name)
    paused_retry_seconds: float = PAUSED_RETRY_SECONDS
    alerts: AlertCounter | None = None
    _renderers: OrderedDict[str, tuple[datetime, asyncio.Future[EditionRenderer]]] = field(
        default_factory=OrderedDict, repr=False
    )

    async def send_batch(self, edition_id: str, span: IdSpan) -> dict[str, Any]:
        """The job: send the range's due rows once; raise to be tried again later."""
        edition = await asyncio.to_thread(self.ops.editions.get_by_id, edition_id)
        if edition is None:
            return {"edition_id": edition_id, "sent": 0, "note": "no such edition"}
        reason = await asyncio.to_thread(self.ops.paused_reason, edition)
        if reason is not None:
            raise Waiting(reason, self.paused_retry_seconds, growing=True)
        sender = Sender(
            self.ops.ledger,
            self.ops.audience,
            self.provider_for(edition),
            await self._renderer(edition),
            self.links_for(edition),
            self.options,
            paused_check=lambda: self.ops.paused_reason(edition),
        )
        report = await sender.send_range(span)
        if report.paused_here and report.paused is not None:
            alert_paused(edition, report.paused, self.alerts)
        if report.claims:
            await asyncio.to_thread(self.stats.count, self.name, report.claims, report.sent)
        return verdict(edition_id, report, datetime.now(UTC), self.paused_retry_seconds)

    async def _renderer(self, edition: Edition) -> EditionRenderer:
        """The edition's renderer, compiled once (in a thread) however many jobs ask at once."""
        cached = self._renderers.get(edition.id)
        if cached is None or cached[0] != edition.planned_at:
            compiling = asyncio.ensure_future(asyncio.to_thread(self.renderer_for, edition))
            cached = (edition.planned_at, compiling)
            self._renderers[edition.id] = cached
        self._renderers.move_to_end(edition.id)
        while len(self._renderers) > RENDERERS_KEPT:
            self._renderers.popitem(last=False)
        try:
            return await asyncio.shield(cached[1])
        except Exception:
            if self._renderers.get(edition.id) is cached:  # not kept: the next job tries again
                del self._renderers[edition.id]
            raise


def verdict(
    edition_id: str, report: RangeReport, now: datetime, paused_seconds: float
) -> dict[str, Any]:
    """The job's result when its range is done; otherwise the exception that retries it."""
    left = report.left
    if report.paused is not None:
        raise Waiting(report.paused, paused_seconds, growing=True)
    if left.due:
        raise Unfinished(f"edition {edition_id}: {left.due} deliveries to try again")
    if left.sending:
        seconds = _until(left.lease_until or now, now)
        raise Waiting(f"{left.sending} deliveries are in another sender's lease", seconds)
    if left.next_due is not None:
        # the database's clock (which released the job) is ahead of this machine's, or the
        # range spans rows of a later hour (retried failures among them): wait for them
        raise Waiting("deliveries of this batch are not due yet", _until(left.next_due, now))
    return {"edition_id": edition_id, "claims": report.claims, "sent": report.sent}


def _until(moment: datetime, now: datetime) -> float:
    """Seconds to wait for ``moment``, a second's margin included."""
    return max(1.0, (moment - now).total_seconds() + 1.0)


def build_runtime(
    parts: Parts,
    config: NewsletterConfig,
    providers: Providers,
    templates: TemplateSet,
    alerts: AlertCounter | None = None,
) -> WorkerRuntime:
    """The runtime over parts built once for the worker process; ``alerts`` counts its
    alerts (``digest run --with-worker --metrics-port``)."""
    return WorkerRuntime(
        ops=parts.operations(config),
        renderer_for=lambda edition: parts.renderer(templates, edition.snapshot),
        links_for=lambda edition: parts.links(edition.snapshot),
        provider_for=providers.for_edition,
        stats=WorkerStats(parts.engine),
        options=parts.send_options(),
        alerts=alerts,
    )
