"""The ledger as ops and the dispatcher see it: every edition's counts, what is due, and
the two moves an operator makes by hand (retry what failed, send the rest now). I/O.

Kept apart from ``ledger.py``, whose statements are the send loop's own transitions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from sqlalchemy import Engine, Update, func, or_, select, update

from digest.store.ledger import Counts, OnRows, Status, one_if
from digest.store.ledger_schema import deliveries

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class LedgerOps:
    def __init__(self, engine: Engine, clock: Clock = utc_now) -> None:
        self.engine = engine
        self.clock = clock

    def overview(self, edition_ids: Sequence[str] | None = None) -> dict[str, Counts]:
        """Per-status counts of many editions in one query (all editions when None)."""
        query = select(
            deliveries.c.edition_id,
            deliveries.c.status,
            func.count(),
            func.sum(one_if(deliveries.c.uncertain)),
        ).group_by(deliveries.c.edition_id, deliveries.c.status)
        if edition_ids is not None:
            query = query.where(deliveries.c.edition_id.in_(list(edition_ids)))
        tallies: dict[str, dict[str, int]] = {}
        with self.engine.connect() as conn:
            for edition_id, status, count, unsure in conn.execute(query):
                tally = tallies.setdefault(edition_id, {})
                tally[status] = int(count)
                tally["uncertain"] = tally.get("uncertain", 0) + int(unsure or 0)
        return {edition_id: _counts(tally) for edition_id, tally in tallies.items()}

    def due_editions(self) -> list[str]:
        """Editions with work now: pending rows that are due, or leases that ran out."""
        now = self.clock()
        query = (
            select(deliveries.c.edition_id)
            .where(
                or_(
                    (deliveries.c.status == Status.PENDING.value) & (deliveries.c.due_at <= now),
                    (deliveries.c.status == Status.SENDING.value)
                    & (deliveries.c.lease_until < now),
                )
            )
            .distinct()
            .order_by(deliveries.c.edition_id)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def next_due(self) -> datetime | None:
        """When the earliest pending row falls due (the dispatcher sleeps until then)."""
        query = select(func.min(deliveries.c.due_at)).where(
            deliveries.c.status == Status.PENDING.value
        )
        with self.engine.connect() as conn:
            moment: datetime | None = conn.execute(query).scalar()
        return moment

    def retry_failed(self, edition_id: str, on_rows: OnRows | None = None) -> int:
        """Failed rows back to pending, due now; the next send tries them again.

        The provider's last message stays on the row until it is overwritten; a subscriber
        suppressed since is still skipped, because the send loop checks each row's
        subscriber when it claims it. ``on_rows`` hears the moved rows in the same
        transaction (the job queue defers the jobs that send them).
        """
        now = self.clock()
        statement = (
            update(deliveries)
            .where(deliveries.c.edition_id == edition_id)
            .where(deliveries.c.status == Status.FAILED.value)
            .values(
                status=Status.PENDING.value,
                due_at=now,
                uncertain=False,
                lease_owner=None,
                lease_until=None,
                updated_at=now,
            )
        )
        return _moving(self.engine, statement, on_rows)

    def make_due_now(self, edition_id: str, on_rows: OnRows | None = None) -> int:
        """Pending rows waiting for a subscriber's local hour become due now (send --now).

        With a job queue their jobs still wait for the old hour: ``on_rows`` hears the
        moved rows in the same transaction and defers jobs due now (the old ones find
        nothing left when their hour comes).
        """
        now = self.clock()
        statement = (
            update(deliveries)
            .where(deliveries.c.edition_id == edition_id)
            .where(deliveries.c.status == Status.PENDING.value)
            .where(deliveries.c.due_at > now)
            .values(due_at=now, updated_at=now)
        )
        return _moving(self.engine, statement, on_rows)

    def reconsider(
        self, edition_id: str, receiving: list[int], not_receiving: list[int], reason: str
    ) -> int:
        """After a re-plan: rows skipped for ``reason`` whose subscriber now receives go
        back to pending, pending rows of subscribers who no longer do are skipped for it.

        Only pending rows and rows skipped for that reason move: anything sent, failing or
        skipped for another cause (unsubscribed, suppressed) stays as it is.
        """
        now = self.clock()
        mine = deliveries.c.edition_id == edition_id
        reopen = (
            update(deliveries)
            .where(mine, deliveries.c.status == Status.SKIPPED.value)
            .where(deliveries.c.skip_reason == reason)
            .values(status=Status.PENDING.value, skip_reason=None, updated_at=now)
        )
        skip = (
            update(deliveries)
            .where(mine, deliveries.c.status == Status.PENDING.value)
            .values(status=Status.SKIPPED.value, skip_reason=reason, updated_at=now)
        )
        moved = 0
        with self.engine.begin() as conn:
            for statement, ids in ((reopen, receiving), (skip, not_receiving)):
                for start in range(0, len(ids), _IN_CHUNK):
                    chunk = ids[start : start + _IN_CHUNK]
                    moved += conn.execute(
                        statement.where(deliveries.c.subscriber_id.in_(chunk))
                    ).rowcount
        return moved


def _moving(engine: Engine, statement: Update, on_rows: OnRows | None) -> int:
    """Run an update that makes rows pending and due; ``on_rows`` hears them, same transaction."""
    with engine.begin() as conn:
        if on_rows is None:
            return int(conn.execute(statement).rowcount)
        moved = sorted(
            (int(i), due)
            for i, due in conn.execute(statement.returning(deliveries.c.id, deliveries.c.due_at))
        )
        if moved:
            on_rows(conn, moved)
        return len(moved)


_IN_CHUNK = 900  # ids per IN (...): within every SQLite build's bound-variable limit


def _counts(tally: dict[str, int]) -> Counts:
    statuses = [status.value for status in Status]
    return Counts(
        total=sum(tally.get(status, 0) for status in statuses),
        pending=tally.get(Status.PENDING.value, 0),
        sending=tally.get(Status.SENDING.value, 0),
        sent=tally.get(Status.SENT.value, 0),
        failed=tally.get(Status.FAILED.value, 0),
        skipped=tally.get(Status.SKIPPED.value, 0),
        uncertain=tally.get("uncertain", 0),
    )
