"""The delivery ledger on SQLite and PostgreSQL: rows once, claims that never overlap."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from digest.store.editions import Edition, EditionStore
from digest.store.ledger import EditionState, Ledger, NewRow

NOW = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger(engine: Engine, clock: Clock) -> Ledger:
    edition = Edition("e1", "daily", NOW, 1, NOW - timedelta(days=1), False, {}, NOW)
    EditionStore(engine).insert(edition, [])
    return Ledger(engine, clock=clock)


def rows(count: int, due: datetime = NOW) -> list[NewRow]:
    return [NewRow(n, f"reader{n}@example.org", due) for n in range(1, count + 1)]


def test_rows_are_created_once_per_subscriber(ledger: Ledger) -> None:
    assert ledger.create("e1", rows(10), chunk=3) == 10
    assert ledger.create("e1", rows(12), chunk=5) == 2
    skipped = [NewRow(99, "x@example.org", NOW, "none of their sections is in this edition")]
    assert ledger.create("e1", skipped) == 1
    counts = ledger.counts("e1")
    assert (counts.total, counts.pending, counts.skipped, counts.due) == (13, 12, 1, 12)


def test_claims_take_due_rows_in_order_under_a_lease(ledger: Ledger, clock: Clock) -> None:
    ledger.create("e1", [*rows(5), NewRow(50, "later@example.org", NOW + timedelta(hours=2))])
    first = ledger.claim("e1", "worker-a", 3, LEASE, "k1")
    assert [c.subscriber_id for c in first] == [1, 2, 3]
    assert {c.batch_key for c in first} == {"k1"}
    assert all(c.attempts == 1 for c in first)
    second = ledger.claim("e1", "worker-b", 10, LEASE, "k2")
    assert [c.subscriber_id for c in second] == [4, 5]  # the later one is not due yet
    assert ledger.claim("e1", "worker-c", 10, LEASE, "k3") == []
    clock.now += timedelta(hours=3)
    assert [c.subscriber_id for c in ledger.claim("e1", "worker-c", 10, LEASE, "k4")] == [50]


def test_only_the_lease_owner_records_a_result(ledger: Ledger) -> None:
    ledger.create("e1", rows(2))
    (one, two) = ledger.claim("e1", "worker-a", 2, LEASE, "k1")
    assert ledger.mark_sent("worker-b", [(one.id, "p-1")]) == 0
    assert ledger.mark_sent("worker-a", [(one.id, "p-1")]) == 1
    assert ledger.mark_sent("worker-a", [(one.id, "p-1")]) == 0  # already sent
    assert ledger.mark_failed("worker-a", [(two.id, "550 no such user")]) == 1
    counts = ledger.counts("e1")
    assert (counts.sent, counts.failed) == (1, 1)
    assert ledger.failures("e1") == [("reader2@example.org", "550 no such user")]


def test_released_rows_are_claimed_again_with_their_attempts(ledger: Ledger) -> None:
    ledger.create("e1", rows(1))
    (claimed,) = ledger.claim("e1", "worker-a", 1, LEASE, "k1")
    assert ledger.release("worker-a", [(claimed.id, "503 try later")]) == 1
    (again,) = ledger.claim("e1", "worker-a", 1, LEASE, "k2")
    assert again.id == claimed.id
    assert again.attempts == 2


def test_expired_leases_are_taken_over_as_uncertain_with_their_batch_key(
    ledger: Ledger, clock: Clock
) -> None:
    ledger.create("e1", rows(3))
    ledger.claim("e1", "crashed", 2, LEASE, "batch-7")
    assert ledger.reclaim_expired("e1", "rescuer", LEASE) == []  # still within the lease
    clock.now += LEASE + timedelta(seconds=1)
    taken = ledger.reclaim_expired("e1", "rescuer", LEASE)
    assert [(t.subscriber_id, t.batch_key, t.uncertain) for t in taken] == [
        (1, "batch-7", True),
        (2, "batch-7", True),
    ]
    assert ledger.mark_sent("crashed", [(taken[0].id, None)]) == 0  # the dead worker lost it
    assert ledger.mark_sent("rescuer", [(t.id, None) for t in taken]) == 2
    assert ledger.counts("e1").uncertain == 2


def test_skip_pending_rows_of_someone_who_left(ledger: Ledger) -> None:
    ledger.create("e1", rows(3))
    ledger.claim("e1", "worker-a", 1, LEASE, "k1")
    assert ledger.skip_pending_of(1, "unsubscribed") == 0  # already being sent
    assert ledger.skip_pending_of(2, "unsubscribed") == 1
    assert ledger.counts("e1").skipped == 1


def test_concurrent_claims_never_take_the_same_row(ledger: Ledger) -> None:
    ledger.create("e1", rows(300))
    taken: dict[str, list[int]] = {}

    def worker(name: str) -> None:
        mine = taken.setdefault(name, [])
        while claimed := ledger.claim("e1", name, 7, LEASE, f"{name}-{len(mine)}"):
            mine += [c.id for c in claimed]

    threads = [threading.Thread(target=worker, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [row for ids in taken.values() for row in ids]
    assert len(everything) == 300
    assert len(set(everything)) == 300


def test_edition_state_is_kept(ledger: Ledger) -> None:
    assert ledger.state("e1") == EditionState(False, None, 0)
    ledger.set_state("e1", EditionState(True, "the key was refused", 1))
    assert ledger.state("e1") == EditionState(True, "the key was refused", 1)
    ledger.set_state("e1", EditionState(False, None, 0))
    assert not ledger.state("e1").paused


def test_a_delivered_event_names_one_row_of_a_shared_message_id(ledger: Ledger) -> None:
    ledger.create("e1", rows(3))
    claimed = ledger.claim("e1", "worker-a", 3, LEASE, "k1")
    ledger.mark_sent("worker-a", [(c.id, "call-1") for c in claimed])  # one id for the call
    assert ledger.record_delivered("call-1", "READER2@example.org") == 1
    assert ledger.record_delivered("call-1") == 3
    assert ledger.record_delivered("another-call", "reader2@example.org") == 0
