"""The send loop on a real store: everyone once, leavers skipped, pauses, crash recovery.

The outbox is the real provider here. ``ScriptedProvider`` stands in for a remote API only
to produce answers a test needs (a refused key, failures, a crash mid-batch); it records
every batch it was given, so a test fails if the loop sends anything twice.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from snapshots import LINKS, LONGEST, snapshot, values_for
from sqlalchemy import Engine

from digest.deliver.base import Batch, Outcome, Provider, Request, Result
from digest.deliver.enroll import due_at, enroll
from digest.deliver.outbox import Outbox, OutboxProvider
from digest.deliver.sender import Sender, SendOptions, SendReport
from digest.errors import ProviderAuthError
from digest.render.templates import TemplateSet
from digest.render.variants import EditionRenderer, RenderOptions
from digest.store.editions import Edition, EditionStore
from digest.store.ledger import Ledger
from subscribers.model import AudienceMember, Cadence, Source
from subscribers.store import SubscriberStore

SLOT = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
World = tuple[SubscriberStore, Ledger, EditionRenderer]


class Clock:
    def __init__(self) -> None:
        self.now = SLOT + timedelta(minutes=1)

    def __call__(self) -> datetime:
        return self.now


class ScriptedProvider(Provider):
    """Answers each envelope with ``answer(envelope address)``; records what it saw."""

    name = "scripted"
    max_batch = 4

    def __init__(
        self, answer: Callable[[str], Outcome] | None = None, idempotent: bool = False
    ) -> None:
        self.answer = answer or (lambda _address: Outcome.SENT)
        self.idempotent = idempotent
        self.batches: list[Batch] = []
        self.accepted: list[str] = []

    def build(self, batch: Batch) -> list[Request]:
        self.batches.append(batch)
        return [Request(batch.envelopes, None)]

    async def post(self, request: Request, batch: Batch) -> list[Result]:
        results = []
        for envelope in request.envelopes:
            outcome = self.answer(envelope.to_address)
            if outcome is Outcome.SENT:
                self.accepted.append(envelope.to_address)
            results.append(Result(envelope.delivery_id, outcome, f"p-{envelope.delivery_id}", "no"))
        return results


class RefusingProvider(ScriptedProvider):
    async def post(self, request: Request, batch: Batch) -> list[Result]:
        raise ProviderAuthError("401 from the provider: check DIGEST_TEST_API_KEY")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def world(engine: Engine, clock: Clock) -> tuple[SubscriberStore, Ledger, EditionRenderer]:
    snap = snapshot(sections=3, per_section=2)
    edition = Edition(
        snap["edition_id"], "daily", SLOT, 42, SLOT - timedelta(days=1), False, snap, SLOT
    )
    EditionStore(engine).insert(edition, [])
    people = SubscriberStore(engine)
    for n in range(10):
        sections = ["Science"] if n % 2 else None
        signed = people.sign_up(
            f"reader{n}@example.org", "daily", name=f"Reader {n}", sections=sections
        )
        assert signed.subscriber is not None
        people.confirm(signed.subscriber.id, "daily")
    renderer = EditionRenderer(
        TemplateSet(), snap, RenderOptions(base_url="https://news.example.com"), values_for(LONGEST)
    )
    return people, Ledger(engine, clock=clock), renderer


def sender(world: World, provider: Provider, clock: Clock, **options: object) -> Sender:
    people, ledger, renderer = world
    enroll(ledger, people, renderer.snapshot)
    return Sender(ledger, people, provider, renderer, LINKS, SendOptions(**options), clock=clock)  # type: ignore[arg-type]


def run(send: Sender) -> SendReport:
    return asyncio.run(send.run())


def test_everyone_gets_one_copy_through_the_outbox(
    world: World, clock: Clock, tmp_path: Path
) -> None:
    outbox = Outbox(tmp_path / "outbox")
    report = run(sender(world, OutboxProvider(outbox), clock))
    assert report.as_json()["sent"] == 10
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 10
    message = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    again = run(sender(world, OutboxProvider(outbox), clock))
    assert again.as_json()["sent"] == 10  # nothing new: the same ten
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 10


def test_variants_follow_each_subscribers_sections(world: World, clock: Clock) -> None:
    provider = ScriptedProvider()
    run(sender(world, provider, clock))
    by_variant = {batch.variant.sections for batch in provider.batches}
    assert by_variant == {("Political history", "Science", "Technology"), ("Science",)}
    assert sorted(provider.accepted) == sorted(f"reader{n}@example.org" for n in range(10))


def test_someone_who_leaves_after_enrolment_is_skipped(world: World, clock: Clock) -> None:
    people = world[0]
    provider = ScriptedProvider()
    send = sender(world, provider, clock)
    leaver = people.find("reader3@example.org")
    assert leaver is not None
    people.unsubscribe(leaver.id, "daily", Source.LINK)
    bounced = people.find("reader4@example.org")
    assert bounced is not None
    people.suppress(bounced.email, "bounce", Source.PROVIDER)
    report = run(send)
    assert report.as_json()["sent"] == 8
    assert report.as_json()["skipped"] == 2
    assert "reader3@example.org" not in provider.accepted


def test_a_copy_due_at_a_later_local_hour_waits(world: World, clock: Clock) -> None:
    people = world[0]
    night_owl = people.find("reader5@example.org")
    assert night_owl is not None
    people.set_preferences(night_owl.id, "daily", ["Science"], Cadence.EACH, "Asia/Tokyo", 21)
    provider = ScriptedProvider()
    report = run(sender(world, provider, clock))
    assert report.as_json()["pending"] == 1
    assert "reader5@example.org" not in provider.accepted
    clock.now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)  # 21:00 in Tokyo
    later = run(sender(world, provider, clock))
    assert later.as_json()["sent"] == 10
    assert provider.accepted.count("reader5@example.org") == 1


def test_a_refused_key_pauses_the_edition_and_hands_rows_back(world: World, clock: Clock) -> None:
    report = run(sender(world, RefusingProvider(), clock))
    assert report.paused is not None
    assert "DIGEST_TEST_API_KEY" in report.paused
    counts = report.counts
    assert (counts.sent, counts.sending, counts.pending) == (0, 0, 10)
    working = ScriptedProvider()
    still = run(sender(world, working, clock))
    assert still.paused is not None  # paused until someone resumes it
    assert working.accepted == []


def test_the_edition_pauses_after_batches_in_a_row_deliver_nothing(
    world: World, clock: Clock
) -> None:
    failing = ScriptedProvider(lambda _address: Outcome.RETRY)
    report = run(sender(world, failing, clock, pause_after_failures=2, concurrency=1))
    assert report.paused is not None
    assert report.paused.startswith("paused after 2 batches in a row sent nothing")
    assert report.counts.sent == 0
    assert report.counts.pending == 10


def test_permanent_failures_are_recorded_with_the_providers_message(
    world: World, clock: Clock
) -> None:
    provider = ScriptedProvider(
        lambda a: Outcome.FAILED if a == "reader2@example.org" else Outcome.SENT
    )
    report = run(sender(world, provider, clock))
    assert (report.counts.sent, report.counts.failed) == (9, 1)
    _, ledger, _ = world
    assert ledger.failures(report.edition_id) == [("reader2@example.org", "no")]


def crash_mid_batch(world: World, clock: Clock) -> tuple[str, list[int]]:
    """A worker claims a batch, the provider takes it, and the worker dies before recording."""
    people, ledger, renderer = world
    enroll(ledger, people, renderer.snapshot)
    claimed = ledger.claim(
        renderer.snapshot["edition_id"], "dead-worker", 4, timedelta(minutes=5), "a" * 32
    )
    clock.now += timedelta(minutes=6)
    return "a" * 32, [c.id for c in claimed]  # delivery ids, as the envelopes carry


def test_after_a_crash_an_idempotent_provider_sees_the_same_batch_key(
    world: World, clock: Clock
) -> None:
    key, lost = crash_mid_batch(world, clock)
    provider = ScriptedProvider(idempotent=True)
    report = run(sender(world, provider, clock))
    assert report.as_json()["sent"] == 10
    assert report.as_json()["uncertain"] == 4
    retried = [b for b in provider.batches if b.key.startswith(key)]
    assert sorted(e.delivery_id for b in retried for e in b.envelopes) == sorted(lost)


def test_after_a_crash_uncertain_rows_can_be_left_for_review(world: World, clock: Clock) -> None:
    crash_mid_batch(world, clock)
    provider = ScriptedProvider()
    report = run(sender(world, provider, clock, uncertain_policy="review"))
    assert (report.counts.sent, report.counts.failed, report.counts.uncertain) == (6, 4, 4)
    _, ledger, _ = world
    assert all("review" in error for _, error in ledger.failures(report.edition_id))


def member(hour: int | None, zone: str | None) -> AudienceMember:
    return AudienceMember(1, "a@example.org", None, None, zone, hour)


@pytest.mark.parametrize(
    ("slot", "hour", "zone", "expected"),
    [
        (SLOT, None, None, SLOT),
        (SLOT, 9, None, datetime(2026, 11, 27, 8, 0, tzinfo=UTC)),  # 09:00 Paris, winter
        (SLOT, 6, None, datetime(2026, 11, 28, 5, 0, tzinfo=UTC)),  # 06:00 Paris has passed
        (SLOT, 21, "Asia/Tokyo", datetime(2026, 11, 27, 12, 0, tzinfo=UTC)),
        # the day the clocks go forward in Paris, 02:00 does not exist: an hour later
        (datetime(2026, 3, 28, 6, 0, tzinfo=UTC), 2, None, datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),
        # the day they go back, 02:00 happens twice: the first one
        (
            datetime(2026, 10, 24, 6, 0, tzinfo=UTC),
            2,
            None,
            datetime(2026, 10, 25, 0, 0, tzinfo=UTC),
        ),
        (
            SLOT,
            8,
            "Not/AZone",
            datetime(2026, 11, 27, 7, 0, tzinfo=UTC),
        ),  # unknown: the newsletter's
    ],
)
def test_due_at_the_subscribers_local_hour(
    slot: datetime, hour: int | None, zone: str | None, expected: datetime
) -> None:
    assert due_at(slot, member(hour, zone), ZoneInfo("Europe/Paris")) == expected


def test_enrolling_twice_adds_nobody(world: World) -> None:
    people, ledger, renderer = world
    assert enroll(ledger, people, renderer.snapshot) == 10
    assert enroll(ledger, people, renderer.snapshot) == 0
