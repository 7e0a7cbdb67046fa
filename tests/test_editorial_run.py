"""Approval and pins through ``digest run``'s own path, on a frozen clock.

The runner's ``tick`` is what the process does when a slot fires or a dispatch pass comes
round (catch up, then send what is due); the provider is the real outbox, counting what
it is handed (``test_schedule``'s harness). An edition of a newsletter that requires
approval must not reach anyone before an editor approves it (or, with a deadline, before
the deadline), and what goes out must be the edition as the editors last shaped it.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import make_settings, url_of
from sqlalchemy import Engine
from test_editions import SLOT, article
from test_editorial import article_id, config, enrol
from test_schedule import CountingOutbox, FrozenClock

from digest.runner import Runner, build_runner
from digest.store.runs import SlotOutcome
from digest.wiring import Parts, build

READERS = ("ana@example.org", "ben@example.org")


@pytest.fixture
def parts(engine: Engine, tmp_path: Path) -> Iterator[Parts]:
    with build(make_settings(tmp_path, database_url=url_of(engine))) as built:
        for address in READERS:
            enrol(built, address, None)
        yield built


def runner(
    parts: Parts, approval: str, clock: FrozenClock, outbox: Path
) -> tuple[Runner, Counter[tuple[str, str]]]:
    counts: Counter[tuple[str, str]] = Counter()
    provider = CountingOutbox(outbox, counts)
    built = build_runner(parts, config(approval), lambda _e: provider, asyncio.Event(), clock)
    return built, counts


def tick(runner: Runner) -> None:
    asyncio.run(runner.tick())


def plain_texts(outbox: Path) -> list[str]:
    messages = [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        for path in sorted(outbox.glob("*.eml"))
    ]
    return [message.get_body(("plain",)).get_content() for message in messages]  # type: ignore[union-attr]


def test_an_edition_awaiting_approval_is_not_sent_until_approved(
    parts: Parts, tmp_path: Path
) -> None:
    parts.articles.upsert(
        [
            article("Tides", SLOT - timedelta(hours=3)),
            article("Ancient lighthouses", SLOT - timedelta(days=50)),
        ]
    )
    clock = FrozenClock(SLOT + timedelta(minutes=5))
    run, counts = runner(parts, 'approval = "wait"', clock, tmp_path / "outbox")
    ops = run.keeper.ops
    tick(run)
    (edition,) = parts.editions.list_editions("daily")
    assert ops.runs.get("daily", SLOT) is not None
    for hours in (1, 6, 23):  # waiting has no end of its own (the next slot is at 24)
        clock.now = SLOT + timedelta(hours=hours)
        tick(run)
    assert counts == Counter()
    assert ops.ledger.counts(edition.id).pending == len(READERS)

    # an editor pins an older piece, looks, and approves: what goes out has the pin
    ops.pin("daily", SLOT, article_id(parts.articles, "Ancient lighthouses"), "cy")
    ops.approve("daily", "cy")
    tick(run)
    assert ops.ledger.counts(edition.id).sent == len(READERS)
    assert set(counts) == {(edition.id, address) for address in READERS}
    assert max(counts.values()) == 1
    texts = plain_texts(tmp_path / "outbox")
    assert len(texts) == len(READERS)
    assert all("Ancient lighthouses" in text and "Tides" in text for text in texts)


def test_with_a_deadline_an_unapproved_edition_goes_out_at_the_deadline(
    parts: Parts, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    parts.articles.upsert([article("Tides", SLOT - timedelta(hours=3))])
    clock = FrozenClock(SLOT + timedelta(minutes=5))
    approval = 'approval = "deadline"\napproval_deadline_minutes = 45'
    run, counts = runner(parts, approval, clock, tmp_path / "outbox")
    tick(run)
    clock.now = SLOT + timedelta(minutes=44)
    tick(run)
    assert counts == Counter()

    clock.now = SLOT + timedelta(minutes=45)
    with caplog.at_level(logging.INFO, logger="digest.ops"):
        tick(run)
    (edition,) = parts.editions.list_editions("daily")
    assert run.keeper.ops.ledger.counts(edition.id).sent == len(READERS)
    assert max(counts.values()) == 1
    going = [r.getMessage() for r in caplog.records if "goes out unapproved" in r.getMessage()]
    assert going == [f"daily: edition {edition.id} goes out unapproved, its approval deadline"
                     f" {(SLOT + timedelta(minutes=45)).isoformat()} has passed"]  # fmt: skip


def test_a_pin_into_an_empty_slot_enrols_its_audience_and_sends(
    parts: Parts, tmp_path: Path
) -> None:
    parts.articles.upsert([article("Ancient lighthouses", SLOT - timedelta(days=50))])
    clock = FrozenClock(SLOT + timedelta(minutes=5))
    run, counts = runner(parts, "", clock, tmp_path / "outbox")
    ops = run.keeper.ops
    tick(run)
    (edition,) = parts.editions.list_editions("daily")
    assert edition.empty
    assert ops.runs.get("daily", SLOT).outcome is SlotOutcome.EMPTY  # type: ignore[union-attr]
    assert ops.ledger.counts(edition.id).total == 0

    filled = ops.pin("daily", SLOT, article_id(parts.articles, "Ancient lighthouses"), "cy")
    assert filled is not None
    assert (filled.empty, filled.issue_number) == (False, 1)
    assert ops.runs.get("daily", SLOT).outcome is SlotOutcome.PLANNED  # type: ignore[union-attr]
    tick(run)
    assert ops.ledger.counts(edition.id).sent == len(READERS)
    assert set(counts) == {(edition.id, address) for address in READERS}
