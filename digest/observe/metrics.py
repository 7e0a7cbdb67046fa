"""Prometheus metrics: what the process counts as it works, and what the store holds.

Two kinds of figure. Events only this process sees (a provider call and its status code,
its latency, an alert, a scheduler misfire) are counters and a histogram updated as they
happen. Facts the store already keeps (editions, deliveries by status, each newsletter's
last good run, slot outcomes; with the job queue, its jobs by state, its live workers and
each worker's recipients per minute) are read from it when Prometheus scrapes, through
``MetricsSource``: every process reports the same truth, nothing is counted twice after a
restart, and a figure cannot drift from the ledger. Without a queue (SQLite, or
``DIGEST_QUEUE=none``) the queue's families are left out rather than reported as zeros.

Every instrument lives in the ``Metrics`` object's own registry, not prometheus_client's
global one, so tests and several apps in one process never share a counter.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = CONTENT_TYPE_LATEST
"""The Content-Type of ``Metrics.render()``'s bytes, for the /metrics route."""

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""Seconds: a healthy API call is tens of milliseconds; a batch near a timeout, tens of s."""

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class QueueFigures:
    """The job queue at scrape time (``digest.queue.status`` reads it)."""

    jobs: Mapping[str, int]
    """due, scheduled, running, failed -> jobs."""
    live_workers: int
    recipients_per_minute: Mapping[str, float]
    """Worker name -> recipients per minute over the status's window."""


class MetricsSource(Protocol):
    """What the store knows that the metrics report, read at scrape time."""

    def editions_planned(self) -> Mapping[str, int]:
        """Newsletter -> editions planned so far."""
        ...

    def deliveries_by_status(self) -> Mapping[str, int]:
        """Ledger status (pending, sending, sent, failed, skipped) -> rows."""
        ...

    def last_success(self) -> Mapping[str, float]:
        """Newsletter -> unix seconds of the newest slot that ran as it should."""
        ...

    def slot_outcomes(self) -> Mapping[tuple[str, str], int]:
        """(newsletter, outcome) -> slots recorded with that outcome."""
        ...

    def queue(self) -> QueueFigures | None:
        """The job queue's figures, or None when there is no queue."""
        ...


class Metrics:
    """The process's instruments and the store's figures, rendered for Prometheus."""

    def __init__(self, source: MetricsSource | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.provider_calls = Counter(
            "digest_provider_calls",
            "Provider API attempts by HTTP status code ('error': no answer).",
            ["provider", "status"],
            registry=self.registry,
        )
        self.send_latency = Histogram(
            "digest_send_latency_seconds",
            "Seconds one provider API call took to answer.",
            ["provider"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.alerts = Counter(
            "digest_alerts", "Ops alerts logged, by kind.", ["kind"], registry=self.registry
        )
        self.misfires = Counter(
            "digest_scheduler_misfires",
            "Slots the scheduler fired late or missed, by newsletter.",
            ["newsletter"],
            registry=self.registry,
        )
        if source is not None:
            self.registry.register(StoreCollector(source))

    def on_call(self, provider: str, status: str, seconds: float) -> None:
        """A ``CallObserver`` for the providers' transport: count, and time the answered."""
        self.provider_calls.labels(provider=provider, status=status).inc()
        if status.isdigit():  # a transport failure's time is the timeout's, not the API's
            self.send_latency.labels(provider=provider).observe(seconds)

    def count_alert(self, kind: str) -> None:
        self.alerts.labels(kind=kind).inc()

    def misfire(self, newsletter: str) -> None:
        self.misfires.labels(newsletter=newsletter).inc()

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric (served as ``CONTENT_TYPE``)."""
        return generate_latest(self.registry)


class StoreCollector(Collector):
    """Reads ``MetricsSource`` at each scrape.

    A store that cannot be read turns into ``digest_store_up 0`` rather than a failed scrape:
    the process's own counters are most needed exactly when the database is in trouble.
    """

    def __init__(self, source: MetricsSource) -> None:
        self.source = source

    def describe(self) -> Iterable[Metric]:
        return []  # no reading of the store at registration

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("digest_store_up", "1 when the store could be read at scrape.")
        try:
            families = self._families()
        except Exception:
            log.warning("metrics: the store could not be read", exc_info=True)
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        return [*families, up]

    def _families(self) -> list[Metric]:
        editions = GaugeMetricFamily(
            "digest_editions_planned", "Editions planned so far.", labels=["newsletter"]
        )
        for newsletter, count in sorted(self.source.editions_planned().items()):
            editions.add_metric([newsletter], count)
        deliveries = GaugeMetricFamily(
            "digest_deliveries", "Ledger rows by status.", labels=["status"]
        )
        for status, count in sorted(self.source.deliveries_by_status().items()):
            deliveries.add_metric([status], count)
        last = GaugeMetricFamily(
            "digest_last_success_timestamp_seconds",
            "Unix time of each newsletter's newest slot that was planned (or empty).",
            labels=["newsletter"],
        )
        for newsletter, moment in sorted(self.source.last_success().items()):
            last.add_metric([newsletter], moment)
        slots = GaugeMetricFamily(
            "digest_slots",
            "Scheduled slots by what became of them.",
            labels=["newsletter", "outcome"],
        )
        for (newsletter, outcome), count in sorted(self.source.slot_outcomes().items()):
            slots.add_metric([newsletter, outcome], count)
        return [editions, deliveries, last, slots, *self._queue_families()]

    def _queue_families(self) -> list[Metric]:
        figures = self.source.queue()
        if figures is None:
            return []
        jobs = GaugeMetricFamily(
            "digest_queue_jobs",
            "Send jobs by state: due (waiting, due now), scheduled (waiting for later),"
            " running, failed.",
            labels=["status"],
        )
        for status, count in sorted(figures.jobs.items()):
            jobs.add_metric([status], count)
        workers = GaugeMetricFamily(
            "digest_queue_workers", "Send workers whose heartbeat is recent (live)."
        )
        workers.add_metric([], figures.live_workers)
        rates = GaugeMetricFamily(
            "digest_worker_recipients_per_minute",
            "Recipients each send worker handed to the provider per minute, recent minutes.",
            labels=["worker"],
        )
        for worker, rate in sorted(figures.recipients_per_minute.items()):
            rates.add_metric([worker], rate)
        return [jobs, workers, rates]
