"""The dispatcher of ``digest run``: releases due deliveries to the send loop, edition by
edition, and tells ops when an edition goes wrong.

Each pass asks the ledger which editions have rows due (or leases that ran out after a
crash) and runs the send loop on each until nothing more is due; rows due later (a
subscriber's local hour) wait for a later pass. A paused edition or newsletter is passed
over, its rows left pending. When the stop event is set (SIGTERM), the send loop claims
nothing more and the batches in flight finish and are recorded, so the process leaves
nothing in ``sending``; killed outright, its leases expire and the next pass takes over.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from digest.deliver.base import Provider
from digest.deliver.sender import Clock, Sender, SendOptions, SendReport, utc_now
from digest.observe.logs import AlertCounter, alert
from digest.ops import Operations
from digest.render.links import LinkBuilder
from digest.render.variants import EditionRenderer
from digest.store.editions import Edition

log = logging.getLogger(__name__)

MIN_FINISHED_FOR_RATE = 20
"""Finished deliveries before a failure rate means anything (one failure of three does not)."""

RendererFor = Callable[[Edition], EditionRenderer]
LinksFor = Callable[[Edition], LinkBuilder]
ProviderFor = Callable[[Edition], Provider]


@dataclass
class Dispatcher:
    ops: Operations
    renderer_for: RendererFor
    links_for: LinksFor
    provider_for: ProviderFor
    options: SendOptions = field(default_factory=SendOptions)
    failure_rate_alert: float = 0.05
    clock: Clock = utc_now
    stop: asyncio.Event | None = None
    alerts: AlertCounter | None = None
    _renderers: dict[str, tuple[datetime, EditionRenderer]] = field(
        default_factory=dict, repr=False
    )
    _alerted: set[tuple[str, str]] = field(default_factory=set, repr=False)

    async def dispatch_once(self) -> list[SendReport]:
        """Send everything due now; one report per edition that had work."""
        reports: list[SendReport] = []
        for edition_id in await asyncio.to_thread(self.ops.ledger_ops.due_editions):
            if self.stop is not None and self.stop.is_set():
                break
            edition = await asyncio.to_thread(self.ops.editions.get_by_id, edition_id)
            if edition is None:
                continue
            if await asyncio.to_thread(self.ops.paused_reason, edition) is not None:
                continue
            report = await self._send(edition)
            reports.append(report)
            self._watch(edition, report)
        return reports

    async def _send(self, edition: Edition) -> SendReport:
        provider = self.provider_for(edition)
        sender = Sender(
            self.ops.ledger,
            self.ops.audience,
            provider,
            self._renderer(edition),
            self.links_for(edition),
            self.options,
            clock=self.clock,
            stop=self.stop,
            paused_check=lambda: self.ops.paused_reason(edition),
        )
        try:
            return await sender.run()
        finally:
            await provider.close()

    def _renderer(self, edition: Edition) -> EditionRenderer:
        """An edition's variants are compiled once per process, not once per pass (and
        again after an editor re-planned it: its plan time moves)."""
        cached = self._renderers.get(edition.id)
        if cached is None or cached[0] != edition.planned_at:
            cached = (edition.planned_at, self.renderer_for(edition))
            self._renderers[edition.id] = cached
        return cached[1]

    def _watch(self, edition: Edition, report: SendReport) -> None:
        """Alert once per edition and kind: it paused itself, or too much of it failed."""
        ids = {"edition_id": edition.id, "newsletter": edition.newsletter}
        if report.paused and self._first(edition.id, "edition_paused"):
            alert_paused(edition, report.paused, self.alerts)
        counts = report.counts
        finished = counts.sent + counts.failed
        if finished >= MIN_FINISHED_FOR_RATE:
            rate = counts.failed / finished
            if rate > self.failure_rate_alert and self._first(edition.id, "failure_rate"):
                alert(
                    log,
                    "failure_rate",
                    f"edition {edition.id}: {counts.failed} of {finished} deliveries failed"
                    f" ({rate:.0%}, above {self.failure_rate_alert:.0%});"
                    f" `digest edition show {edition.id}` lists them",
                    counter=self.alerts,
                    **ids,
                )

    def _first(self, edition_id: str, kind: str) -> bool:
        key = (edition_id, kind)
        if key in self._alerted:
            return False
        self._alerted.add(key)
        return True


def alert_paused(edition: Edition, reason: str, counter: AlertCounter | None) -> None:
    """The ``edition_paused`` alert, the same from this dispatcher and from a queue worker."""
    ids = {"edition_id": edition.id, "newsletter": edition.newsletter}
    message = f"edition {edition.id} paused: {reason}"
    alert(log, "edition_paused", message, counter=counter, **ids)
