"""The Prometheus metrics: the store's figures read at scrape time, and the provider calls
counted as a real local server answers them. Every value is read back from the rendered
text through prometheus_client's own parser, as Prometheus would see it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from batches import make_batch
from conftest import make_settings
from failserver import FailServer, Reply, Reset, running
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from digest.deliver.base import Outcome, Result
from digest.deliver.providers import make_provider
from digest.observe.logs import alert
from digest.observe.metrics import Metrics
from digest.observe.store_metrics import StoreMetricsSource
from digest.store.editions import Edition, EditionStore
from digest.store.engine import create_store_engine
from digest.store.ledger import Ledger, NewRow
from digest.store.runs import ScheduleRuns, SlotOutcome

NOW = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
DAY = timedelta(days=1)
LEASE = timedelta(minutes=5)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(metrics: Metrics) -> Samples:
    """Every sample of the rendered text, by (sample name, labels)."""
    text = metrics.render().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


def edition(edition_id: str, newsletter: str, slot: datetime, number: int | None) -> Edition:
    return Edition(edition_id, newsletter, slot, number, slot - DAY, number is None, {}, slot)


def rows(first: int, count: int) -> list[NewRow]:
    return [NewRow(n, f"reader{n}@example.org", NOW) for n in range(first, first + count)]


@pytest.fixture
def filled(engine: Engine) -> Engine:
    """Three editions; deliveries in every status; slots planned, empty and missed."""
    editions = EditionStore(engine)
    editions.insert(edition("e1", "daily", NOW - DAY, 1), [])
    editions.insert(edition("e2", "daily", NOW, 2), [])
    editions.insert(edition("w1", "weekly", NOW, None), [])
    ledger = Ledger(engine, clock=lambda: NOW)
    ledger.create("e1", [*rows(1, 5), NewRow(9, "gone@example.org", NOW, "no sections")])
    claimed = ledger.claim("e1", "worker", 3, LEASE, "k1")
    ledger.mark_sent("worker", [(claimed[0].id, "p-1"), (claimed[1].id, "p-2")])
    ledger.mark_failed("worker", [(claimed[2].id, "550 no such user")])
    ledger.create("e2", rows(1, 2))
    ledger.claim("e2", "worker", 1, LEASE, "k2")
    runs = ScheduleRuns(engine, clock=lambda: NOW)
    runs.record("daily", NOW - 2 * DAY, SlotOutcome.MISSED, detail="down past the grace")
    runs.record("daily", NOW - DAY, SlotOutcome.PLANNED, "e1")
    runs.record("daily", NOW, SlotOutcome.PLANNED, "e2")
    runs.record("weekly", NOW, SlotOutcome.EMPTY, "w1")
    return engine


def test_the_store_figures_are_read_at_scrape_time(filled: Engine) -> None:
    metrics = Metrics(StoreMetricsSource(filled))
    found = samples(metrics)
    assert value(found, "digest_store_up") == 1
    assert value(found, "digest_editions_planned", newsletter="daily") == 2
    assert value(found, "digest_editions_planned", newsletter="weekly") == 1
    deliveries = {
        status: value(found, "digest_deliveries", status=status)
        for status in ("pending", "sending", "sent", "failed", "skipped")
    }
    assert deliveries == {"pending": 3, "sending": 1, "sent": 2, "failed": 1, "skipped": 1}
    last = "digest_last_success_timestamp_seconds"
    assert value(found, last, newsletter="daily") == NOW.timestamp()
    assert value(found, last, newsletter="weekly") == NOW.timestamp()
    assert value(found, "digest_slots", newsletter="daily", outcome="planned") == 2
    assert value(found, "digest_slots", newsletter="daily", outcome="missed") == 1
    assert value(found, "digest_slots", newsletter="weekly", outcome="empty") == 1

    Ledger(filled, clock=lambda: NOW).create("e2", rows(10, 4))  # a later scrape sees more
    assert value(samples(metrics), "digest_deliveries", status="pending") == 7


def test_alerts_and_misfires_are_counted_by_their_labels(caplog: pytest.LogCaptureFixture) -> None:
    metrics = Metrics()
    log = logging.getLogger("digest.test")
    with caplog.at_level(logging.ERROR):
        alert(log, "edition_missed", "daily missed", counter=metrics, newsletter="daily")
        alert(log, "edition_missed", "weekly missed", counter=metrics, newsletter="weekly")
        alert(log, "feed_failing", "feed down", counter=metrics)
    metrics.misfire("daily")
    found = samples(metrics)
    assert value(found, "digest_alerts_total", kind="edition_missed") == 2
    assert value(found, "digest_alerts_total", kind="feed_failing") == 1
    assert value(found, "digest_scheduler_misfires_total", newsletter="daily") == 1
    assert [r.__dict__["alert"] for r in caplog.records] == ["edition_missed"] * 2 + [
        "feed_failing"
    ]
    assert value(samples(Metrics()), "digest_alerts_total", kind="edition_missed") is None


def test_an_unreadable_store_is_reported_and_the_counters_still_render(tmp_path: Path) -> None:
    unmigrated = create_store_engine(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    try:
        metrics = Metrics(StoreMetricsSource(unmigrated))
        metrics.misfire("daily")
        found = samples(metrics)
    finally:
        unmigrated.dispose()
    assert value(found, "digest_store_up") == 0
    assert value(found, "digest_scheduler_misfires_total", newsletter="daily") == 1
    assert not any(name == "digest_deliveries" for name, _ in found)


# -- provider calls through the transport, against a real local server ----------------------


@pytest.fixture
def server() -> Iterator[FailServer]:
    with running() as started:
        yield started


def send_postmark(tmp_path: Path, server: FailServer, metrics: Metrics) -> list[Result]:
    settings = make_settings(
        tmp_path,
        provider="postmark",
        postmark_server_token="pm-token",
        provider_base_url=server.url,
        provider_max_attempts=3,
    )

    async def run() -> list[Result]:
        async with httpx.AsyncClient(timeout=5.0) as client:
            provider = make_provider(settings, client, observer=metrics.on_call)
            return await provider.send(make_batch(2))

    return asyncio.run(run())


def test_each_attempt_is_counted_by_its_status_code(tmp_path: Path, server: FailServer) -> None:
    # Retry-After 0: retried at once, so the test does not wait out a backoff
    server.script(Reply(503, {"ErrorCode": 100, "Message": "maintenance"}, {"Retry-After": "0"}))
    metrics = Metrics()
    results = send_postmark(tmp_path, server, metrics)
    assert [r.outcome for r in results] == [Outcome.SENT] * 2
    found = samples(metrics)
    calls = "digest_provider_calls_total"
    assert value(found, calls, provider="postmark", status="503") == 1
    assert value(found, calls, provider="postmark", status="200") == 1
    assert value(found, "digest_send_latency_seconds_count", provider="postmark") == 2
    assert (value(found, "digest_send_latency_seconds_sum", provider="postmark") or 0) > 0
    assert len(server.requests) == 2


def test_a_dropped_connection_counts_as_an_error(tmp_path: Path, server: FailServer) -> None:
    server.script(Reset())
    metrics = Metrics()
    results = send_postmark(tmp_path, server, metrics)
    assert [r.outcome for r in results] == [Outcome.RETRY] * 2  # uncertain: not retried at once
    found = samples(metrics)
    assert value(found, "digest_provider_calls_total", provider="postmark", status="error") == 1
    assert value(found, "digest_send_latency_seconds_count", provider="postmark") is None
