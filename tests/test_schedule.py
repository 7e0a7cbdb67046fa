"""The scheduler on a frozen clock: a week with a daylight-saving change, three time zones.

The runner's ``tick`` is what ``digest run`` does whenever a slot fires or a dispatch pass
comes round (catch every newsletter up, then send what is due). Here the clock steps
through the week of 21-28 October 2026 (Europe falls back on Sunday 25th) in quarter
hours, and a daily (07:00 Paris) and a weekly (Monday 08:00 London) newsletter go to
readers in Paris, New York and Tokyo who chose a local hour, and one who did not.
Each delivery must fall due at the reader's hour and every reader must get exactly one
email per edition: the provider is the real outbox, wrapped to count every message it is
handed, so a second copy of anything fails the test.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import make_settings
from sqlalchemy import select

from digest.deliver.base import Batch, Result
from digest.deliver.outbox import Outbox, OutboxProvider
from digest.model import Article
from digest.newsletters import NewsletterConfig, parse_newsletters
from digest.runner import Runner, build_runner
from digest.schedule import decide
from digest.store.ledger_schema import deliveries
from digest.store.runs import ScheduleRuns, SlotOutcome
from digest.wiring import Parts, build
from subscribers.model import Cadence

CONFIG = """
[publication]
name = "Test Gazette"
sections = ["Science", "Culture"]
postal_address = "1 Test Street, Testville"

[[newsletter]]
name = "daily"
title = "Test Daily"
sender_name = "Test Gazette"
sender_address = "digest@gazette.example"
timezone = "Europe/Paris"
cadence = "0 7 * * *"
grace_minutes = 60
window_days = 7

[[newsletter.sections]]
name = "Science"
maximum = 3

[[newsletter.sections]]
name = "Culture"
maximum = 3

[[newsletter]]
name = "weekly"
title = "Test Weekly"
sender_name = "Test Gazette"
sender_address = "digest@gazette.example"
timezone = "Europe/London"
cadence = "0 8 * * 1"
grace_minutes = 120
window_days = 7

[[newsletter.sections]]
name = "Science"
maximum = 5

[[newsletter.sections]]
name = "Culture"
maximum = 5
"""

START = datetime(2026, 10, 21, 0, 0, tzinfo=UTC)
END = datetime(2026, 10, 29, 0, 0, tzinfo=UTC)
STEP = timedelta(minutes=15)
READERS = {
    # address: (time zone, preferred local hour)
    "paris@example.org": ("Europe/Paris", 6),
    "newyork@example.org": ("America/New_York", 7),
    "tokyo@example.org": ("Asia/Tokyo", 21),
    "anytime@example.org": ("UTC", None),
}


class FrozenClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class CountingOutbox(OutboxProvider):
    """The real outbox, counting each (edition, address) it is handed: a copy sent twice
    shows up here even though the outbox itself keeps one file per Message-ID."""

    def __init__(self, folder: Path, counts: Counter[tuple[str, str]]) -> None:
        super().__init__(Outbox(folder))
        self.counts = counts

    async def send(self, batch: Batch) -> list[Result]:
        edition = batch.headers.feedback_id.split(":")[1]  # "newsletter:edition:digest"
        for envelope in batch.envelopes:
            self.counts[(edition, envelope.to_address)] += 1
        return await super().send(batch)


def config() -> NewsletterConfig:
    return parse_newsletters(CONFIG, Path("week-newsletters.toml"))


def articles_of_the_week() -> list[Article]:
    """Two new articles every morning (03:00 UTC), one per section."""
    found = []
    day = date(2026, 10, 14)
    while day <= END.date():
        for section in ("Science", "Culture"):
            title = f"{section} news of {day.isoformat()}"
            found.append(
                Article(
                    title=title,
                    section=section,
                    source="test",
                    url=f"https://news.example.com/{section.lower()}/{day.isoformat()}",
                    standfirst=f"What happened in {section.lower()} on {day.isoformat()}.",
                    published_at=datetime.combine(day, time(3), tzinfo=UTC),
                    body=f"The body of {title}. It has a sentence or two.",
                )
            )
        day += timedelta(days=1)
    return found


def add_readers(parts: Parts) -> dict[str, int]:
    ids = {}
    for address, (zone, hour) in READERS.items():
        for newsletter in ("daily", "weekly"):
            signed = parts.subscribers.sign_up(address, newsletter, name=address.split("@")[0])
            assert signed.subscriber is not None
            subscriber_id = signed.subscriber.id
            parts.subscribers.confirm(subscriber_id, newsletter)
            parts.subscribers.set_preferences(
                subscriber_id, newsletter, None, Cadence.EACH, zone, hour
            )
            ids[address] = subscriber_id
    return ids


def expected_due(slot: datetime, zone_name: str, hour: int | None) -> datetime:
    """Written independently of ``enroll.due_at``: the reader's hour on the slot's local
    day if it is not before the slot, else on the next local day."""
    if hour is None:
        return slot
    zone = ZoneInfo(zone_name)
    local = slot.astimezone(zone)
    same_day = datetime(local.year, local.month, local.day, hour, tzinfo=zone)
    if same_day.astimezone(UTC) >= slot:
        return same_day.astimezone(UTC)
    following = local.date() + timedelta(days=1)
    return datetime(following.year, following.month, following.day, hour, tzinfo=zone).astimezone(
        UTC
    )


def run_week(
    parts: Parts, clock: FrozenClock, provider: OutboxProvider, until: datetime = END
) -> Runner:
    runner = build_runner(parts, config(), lambda _edition: provider, asyncio.Event(), clock)
    while clock.now < until:
        asyncio.run(runner.tick())
        clock.now += STEP
    return runner


def outcome_of(runs: ScheduleRuns, slot: datetime) -> SlotOutcome | None:
    run = runs.get("daily", slot)
    return run.outcome if run else None


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[Parts]:
    with build(make_settings(tmp_path)) as built:
        built.articles.upsert(articles_of_the_week())
        yield built


def test_a_week_across_a_daylight_saving_change(parts: Parts, tmp_path: Path) -> None:
    readers = add_readers(parts)
    counts: Counter[tuple[str, str]] = Counter()
    clock = FrozenClock(START)
    run_week(parts, clock, CountingOutbox(tmp_path / "outbox", counts))

    editions = parts.editions.list_editions()
    slots = {
        e.newsletter: sorted(x.slot for x in editions if x.newsletter == e.newsletter)
        for e in editions
    }
    # 07:00 in Paris is 05:00 UTC in summer time and 06:00 UTC from Sunday 25 October on
    assert slots["daily"] == [
        datetime(2026, 10, day, 5 if day < 25 else 6, tzinfo=UTC) for day in range(21, 29)
    ]
    # Monday 26 October, 08:00 in London (back on GMT): 08:00 UTC
    assert slots["weekly"] == [datetime(2026, 10, 26, 8, tzinfo=UTC)]
    assert all(not e.empty for e in editions)

    with parts.engine.connect() as conn:
        rows = conn.execute(
            select(
                deliveries.c.edition_id,
                deliveries.c.subscriber_id,
                deliveries.c.due_at,
                deliveries.c.status,
            )
        ).all()
    by_id = {e.id: e for e in editions}
    address_of = {sid: address for address, sid in readers.items()}
    assert len(rows) == len(editions) * len(READERS)
    for edition_id, subscriber_id, due, status in rows:
        edition = by_id[edition_id]
        zone, hour = READERS[address_of[subscriber_id]]
        assert due == expected_due(edition.slot, zone, hour), (
            edition.slot,
            address_of[subscriber_id],
        )
        if due < END:
            assert status == "sent", (edition.slot, address_of[subscriber_id], status)

    # every edition reached every reader whose hour came before the week ended, exactly once
    sent = {(edition_id, address_of[sid]) for edition_id, sid, due, _ in rows if due < END}
    assert set(counts) == sent
    assert max(counts.values()) == 1

    # the Paris reader's 06:00 after Saturday's 07:00 slot is Sunday 06:00 CET (05:00 UTC),
    # an hour later in UTC than the day before: the change is applied, not assumed
    saturday = next(e for e in editions if e.slot == datetime(2026, 10, 24, 5, tzinfo=UTC))
    friday = next(e for e in editions if e.slot == datetime(2026, 10, 23, 5, tzinfo=UTC))
    due_of = {(e, address_of[s]): d for e, s, d, _ in rows}
    assert due_of[(friday.id, "paris@example.org")] == datetime(2026, 10, 24, 4, tzinfo=UTC)
    assert due_of[(saturday.id, "paris@example.org")] == datetime(2026, 10, 25, 5, tzinfo=UTC)
    # New York is still on summer time that week: 07:00 EDT is 11:00 UTC
    assert due_of[(saturday.id, "newyork@example.org")] == datetime(2026, 10, 24, 11, tzinfo=UTC)


def test_an_outage_within_grace_sends_late_and_beyond_it_records_misses(
    parts: Parts, tmp_path: Path
) -> None:
    add_readers(parts)
    counts: Counter[tuple[str, str]] = Counter()
    provider = CountingOutbox(tmp_path / "outbox", counts)
    clock = FrozenClock(datetime(2026, 10, 21, 4, 0, tzinfo=UTC))
    run_week(parts, clock, provider, until=datetime(2026, 10, 21, 6, 0, tzinfo=UTC))
    # down from Wednesday 06:00 UTC until Saturday 05:45 UTC: Thursday's and Friday's
    # slots pass unseen, Saturday's (05:00 UTC) comes back 45 minutes late, within grace
    clock.now = datetime(2026, 10, 24, 5, 45, tzinfo=UTC)
    runner = run_week(parts, clock, provider, until=datetime(2026, 10, 24, 6, 0, tzinfo=UTC))
    runs = runner.keeper.ops.runs.recent("daily", 10)
    outcomes = {run.slot.day: run.outcome for run in runs}
    assert outcomes == {
        21: SlotOutcome.PLANNED,
        22: SlotOutcome.MISSED,
        23: SlotOutcome.MISSED,
        24: SlotOutcome.PLANNED,
    }
    planned = {e.slot.day for e in parts.editions.list_editions("daily")}
    assert planned == {21, 24}  # the missed slots were never sent as a burst

    # down again past Sunday's slot by more than the grace: it is missed, not sent late
    clock.now = datetime(2026, 10, 25, 7, 30, tzinfo=UTC)
    run_week(parts, clock, provider, until=datetime(2026, 10, 25, 7, 45, tzinfo=UTC))
    sunday = datetime(2026, 10, 25, 6, tzinfo=UTC)
    assert outcome_of(runner.keeper.ops.runs, sunday) is SlotOutcome.MISSED
    assert {e.slot.day for e in parts.editions.list_editions("daily")} == {21, 24}
    assert max(counts.values()) == 1


def test_a_paused_newsletter_skips_its_slot_and_a_paused_edition_waits(
    parts: Parts, tmp_path: Path
) -> None:
    add_readers(parts)
    counts: Counter[tuple[str, str]] = Counter()
    provider = CountingOutbox(tmp_path / "outbox", counts)
    clock = FrozenClock(datetime(2026, 10, 21, 4, 0, tzinfo=UTC))
    runner = build_runner(parts, config(), lambda _e: provider, asyncio.Event(), clock)
    ops = runner.keeper.ops
    ops.pause("daily", "a bad feed")
    clock.now = datetime(2026, 10, 21, 5, 10, tzinfo=UTC)
    asyncio.run(runner.tick())
    assert outcome_of(ops.runs, datetime(2026, 10, 21, 5, tzinfo=UTC)) is SlotOutcome.SKIPPED
    ops.resume("daily")

    clock.now = datetime(2026, 10, 22, 5, 5, tzinfo=UTC)
    asyncio.run(runner.tick())
    (edition,) = parts.editions.list_editions("daily")
    sent_before = ops.ledger.counts(edition.id).sent
    assert sent_before == 1  # the reader without a local hour; the rest wait for theirs
    ops.pause(edition.id)
    clock.now = datetime(2026, 10, 23, 6, 0, tzinfo=UTC)  # every reader's hour has come
    asyncio.run(runner.tick())
    assert ops.ledger.counts(edition.id).sent == sent_before
    ops.resume(edition.id)
    asyncio.run(runner.tick())
    assert ops.ledger.counts(edition.id).sent == len(READERS)
    assert max(counts.values()) == 1


def test_decide_records_nothing_as_missed_on_a_fresh_install() -> None:
    daily = config().get("daily")
    now = datetime(2026, 10, 21, 9, 0, tzinfo=UTC)  # four hours after the slot: past grace
    decision = decide(daily, None, now)
    assert decision.plan is None
    assert decision.missed == ()
    decision = decide(daily, datetime(2026, 10, 18, 5, tzinfo=UTC), now)
    assert decision.plan is None
    assert [slot.day for slot in decision.missed] == [19, 20, 21]
