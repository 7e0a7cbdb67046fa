"""The delivery ledger: one row per (edition, subscriber), moved by atomic statements. I/O.

    pending ──claim──> sending ──> sent
       ^                  │  └───> failed      (the provider refused this address for good)
       └──── release ─────┘        skipped     (not sendable any more: unsubscribed, suppressed,
                                                no section in this edition)

Claiming is one statement that moves up to N due pending rows to ``sending`` under a
lease (owner and expiry) and a batch key; on PostgreSQL the rows are picked with ``FOR
UPDATE SKIP LOCKED``, so concurrent workers never take the same row, and on SQLite the
single writer gives the same guarantee. Every later transition names the lease owner, so
a worker whose lease expired and was taken over cannot overwrite the new owner's result.

A row still ``sending`` after its lease expired is uncertain: the worker died somewhere
between claiming and recording. ``reclaim_expired`` takes such rows over, keeping their
batch key so that an idempotent provider sees the very same request again.

A queued job (``digest.queue``) owns a range of ids: ``claim_range`` does both moves on
that range only, and ``left_in_range`` tells the job whether its range is done. Creating
rows (and the ops moves that make rows pending again) can hand the new rows, in their own
transaction, to a job queue that writes the jobs sending them (``OnRows``).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, case, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from digest.store.ledger_schema import deliveries, edition_states

Clock = Callable[[], datetime]
Enqueued = tuple[int, datetime]
"""A row just made pending: its id and when it is due (what a job queue needs of it)."""
OnRows = Callable[[Connection, Sequence[Enqueued]], None]
"""Called inside the transaction that made rows pending, on the same connection, so a job
queue in the same database writes the jobs that will send them in that very transaction."""


def utc_now() -> datetime:
    return datetime.now(UTC)


class Status(enum.Enum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class NewRow:
    subscriber_id: int
    email: str
    due_at: datetime
    skip_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    subscriber_id: int
    email: str
    attempts: int
    batch_key: str
    uncertain: bool


@dataclass(frozen=True, slots=True)
class IdSpan:
    """A queued job's rows: ids ``first_id`` to ``last_id``, both included."""

    first_id: int
    last_id: int


@dataclass(frozen=True, slots=True)
class RangeClaim:
    taken_over: list[Claimed]
    """Rows whose sender's lease ran out mid-send: uncertain, their batch key kept."""
    due: list[Claimed]


@dataclass(frozen=True, slots=True)
class RangeLeft:
    due: int
    """Pending rows already due: released for a retry, or not yet claimed."""
    sending: int
    """Rows in some sender's hands (this job's own are recorded before it asks)."""
    lease_until: datetime | None
    """The latest of those senders' leases: when the rows can be taken over."""
    next_due: datetime | None = None
    """When the earliest pending row not yet due falls due (by this machine's clock)."""


@dataclass(frozen=True, slots=True)
class Counts:
    total: int = 0
    pending: int = 0
    sending: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    uncertain: int = 0
    due: int = 0

    def as_json(self) -> dict[str, int]:
        return {
            "total": self.total,
            "pending": self.pending,
            "sending": self.sending,
            "sent": self.sent,
            "failed": self.failed,
            "skipped": self.skipped,
            "uncertain": self.uncertain,
        }


@dataclass(frozen=True, slots=True)
class EditionState:
    paused: bool
    reason: str | None
    consecutive_failures: int


class Ledger:
    def __init__(self, engine: Engine, clock: Clock = utc_now) -> None:
        self.engine = engine
        self.clock = clock

    # -- creating ---------------------------------------------------------------------------

    def create(
        self,
        edition_id: str,
        rows: Iterable[NewRow],
        chunk: int = 2000,
        on_chunk: OnRows | None = None,
    ) -> int:
        """Add rows not yet in the ledger (one per subscriber, ever); how many were new.

        ``on_chunk`` hears each chunk's inserted rows (id order) inside the chunk's
        transaction; rows that already existed are not among them.
        """
        added = 0
        batch: list[NewRow] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= chunk:
                added += self._insert(edition_id, batch, on_chunk)
                batch = []
        if batch:
            added += self._insert(edition_id, batch, on_chunk)
        return added

    def _insert(self, edition_id: str, rows: Sequence[NewRow], on_chunk: OnRows | None) -> int:
        now = self.clock()
        with self.engine.begin() as conn:
            known = set(
                conn.execute(
                    select(deliveries.c.subscriber_id)
                    .where(deliveries.c.edition_id == edition_id)
                    .where(deliveries.c.subscriber_id.in_([r.subscriber_id for r in rows]))
                ).scalars()
            )
            fresh = [r for r in rows if r.subscriber_id not in known]
            if not fresh:
                return 0
            statement = _insert_ignoring_duplicates(conn.dialect.name)
            values = [_new_row(edition_id, r, now) for r in fresh]
            if on_chunk is None:
                conn.execute(statement, values)
                return len(fresh)
            returning = statement.returning(deliveries.c.id, deliveries.c.due_at)
            inserted = sorted((int(i), due) for i, due in conn.execute(returning, values))
            on_chunk(conn, inserted)
        return len(inserted)

    # -- claiming ---------------------------------------------------------------------------

    def claim(
        self, edition_id: str, owner: str, limit: int, lease: timedelta, batch_key: str
    ) -> list[Claimed]:
        """Move up to ``limit`` due pending rows to sending under this owner's lease."""
        statement = self._claiming(edition_id, owner, limit, lease, batch_key)
        with self.engine.begin() as conn:
            rows = conn.execute(statement).all()
        return _sorted_claims(rows)

    def claim_range(
        self,
        edition_id: str,
        span: IdSpan,
        owner: str,
        limit: int,
        lease: timedelta,
        batch_key: str,
    ) -> RangeClaim:
        """A queued job's claim: rows of ``span`` whose lease ran out (taken over, uncertain,
        their batch key kept) and up to ``limit`` due pending rows, all under this lease.

        One transaction, so a job never holds half of what it claimed. The range bounds a
        job's work: rows outside it belong to other jobs (its ids may interleave with other
        editions', which the edition filter leaves out).
        """
        in_span = deliveries.c.id.between(span.first_id, span.last_id)
        with self.engine.begin() as conn:
            taken = conn.execute(self._taking_over(edition_id, owner, lease, in_span)).all()
            due = conn.execute(
                self._claiming(edition_id, owner, limit, lease, batch_key, in_span)
            ).all()
        return RangeClaim(_sorted_claims(taken), _sorted_claims(due))

    def left_in_range(self, edition_id: str, span: IdSpan) -> RangeLeft:
        """What a job's range still holds: pending rows due now and later, rows in a lease."""
        now = self.clock()
        pending = deliveries.c.status == Status.PENDING.value
        query = (
            select(
                func.sum(one_if(pending & (deliveries.c.due_at <= now))),
                func.sum(one_if(deliveries.c.status == Status.SENDING.value)),
                func.max(deliveries.c.lease_until),
                func.min(case((pending & (deliveries.c.due_at > now), deliveries.c.due_at))),
            )
            .where(deliveries.c.edition_id == edition_id)
            .where(deliveries.c.id.between(span.first_id, span.last_id))
            .where(deliveries.c.status.in_([Status.PENDING.value, Status.SENDING.value]))
        )
        with self.engine.connect() as conn:
            due, sending, lease_until, next_due = conn.execute(query).one()
        return RangeLeft(int(due or 0), int(sending or 0), lease_until, next_due)

    def reclaim_expired(self, edition_id: str, owner: str, lease: timedelta) -> list[Claimed]:
        """Take over rows whose lease ran out while sending: they are now uncertain."""
        with self.engine.begin() as conn:
            rows = conn.execute(self._taking_over(edition_id, owner, lease)).all()
        return _sorted_claims(rows)

    def _claiming(
        self,
        edition_id: str,
        owner: str,
        limit: int,
        lease: timedelta,
        batch_key: str,
        *where: Any,
    ) -> Any:
        now = self.clock()
        due = (
            select(deliveries.c.id)
            .where(deliveries.c.edition_id == edition_id)
            .where(deliveries.c.status == Status.PENDING.value)
            .where(deliveries.c.due_at <= now)
            .where(*where)
            .order_by(deliveries.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return (
            update(deliveries)
            .where(deliveries.c.id.in_(due.scalar_subquery()))
            .values(
                status=Status.SENDING.value,
                lease_owner=owner,
                lease_until=now + lease,
                batch_key=batch_key,
                attempts=deliveries.c.attempts + 1,
                updated_at=now,
            )
            .returning(*_CLAIMED)
        )

    def _taking_over(self, edition_id: str, owner: str, lease: timedelta, *where: Any) -> Any:
        now = self.clock()
        return (
            update(deliveries)
            .where(deliveries.c.edition_id == edition_id)
            .where(deliveries.c.status == Status.SENDING.value)
            .where(deliveries.c.lease_until < now)
            .where(*where)
            .values(
                lease_owner=owner,
                lease_until=now + lease,
                uncertain=True,
                attempts=deliveries.c.attempts + 1,
                updated_at=now,
            )
            .returning(*_CLAIMED)
        )

    # -- recording --------------------------------------------------------------------------

    def mark_sent(self, owner: str, sent: Sequence[tuple[int, str | None]]) -> int:
        now = self.clock()
        return self._finish(
            owner,
            [{"b_id": i, "b_message": m} for i, m in sent],
            status=Status.SENT.value,
            provider_message_id=bindparam("b_message"),
            sent_at=now,
            last_error=None,
            updated_at=now,
        )

    def mark_failed(self, owner: str, failed: Sequence[tuple[int, str]]) -> int:
        return self._finish(
            owner,
            [{"b_id": i, "b_error": e} for i, e in failed],
            status=Status.FAILED.value,
            last_error=bindparam("b_error"),
            updated_at=self.clock(),
        )

    def mark_skipped(self, owner: str, skipped: Sequence[tuple[int, str]]) -> int:
        return self._finish(
            owner,
            [{"b_id": i, "b_error": reason} for i, reason in skipped],
            status=Status.SKIPPED.value,
            skip_reason=bindparam("b_error"),
            updated_at=self.clock(),
        )

    def release(self, owner: str, retry: Sequence[tuple[int, str]]) -> int:
        """Back to pending after a retryable failure; the error stays for the report."""
        return self._finish(
            owner,
            [{"b_id": i, "b_error": e} for i, e in retry],
            status=Status.PENDING.value,
            last_error=bindparam("b_error"),
            updated_at=self.clock(),
        )

    def _finish(self, owner: str, params: list[dict[str, Any]], **values: Any) -> int:
        """Move rows out of ``sending`` (this owner's only), in one transaction.

        Rows that share their per-row values (every row of a Mailgun or SendGrid call has
        the call's one message id; a failed call, one error) are moved by one ``UPDATE ...
        WHERE id IN (...)`` per group; the rest row by row in an executemany, which costs
        ~18 µs a row on SQLite against ~3 for the grouped form.
        """
        if not params:
            return 0
        groups: dict[tuple[Any, ...], list[int]] = {}
        for row in params:
            groups.setdefault(_values_key(row), []).append(row["b_id"])
        singles = [row for row in params if len(groups[_values_key(row)]) == 1]
        names = [name for name in params[0] if name != "b_id"]
        changed = 0
        with self.engine.begin() as conn:
            if singles:
                statement = self._finishing(owner, deliveries.c.id == bindparam("b_id"), values)
                changed += int(conn.execute(statement, singles).rowcount)
            for key, ids in groups.items():
                if len(ids) == 1:
                    continue
                fixed = dict(zip(names, key, strict=True))
                for start in range(0, len(ids), _IN_CHUNK):
                    chunk = ids[start : start + _IN_CHUNK]
                    statement = self._finishing(owner, deliveries.c.id.in_(chunk), values)
                    changed += int(conn.execute(statement, fixed).rowcount)
        return changed

    @staticmethod
    def _finishing(owner: str, rows: Any, values: dict[str, Any]) -> Any:
        return (
            update(deliveries)
            .where(rows)
            .where(deliveries.c.status == Status.SENDING.value)
            .where(deliveries.c.lease_owner == owner)
            .values(lease_owner=None, lease_until=None, **values)
        )

    def skip_pending_of(self, subscriber_id: int, reason: str) -> int:
        """A subscriber who left (or bounced, or complained) while an edition was sending."""
        statement = (
            update(deliveries)
            .where(deliveries.c.subscriber_id == subscriber_id)
            .where(deliveries.c.status == Status.PENDING.value)
            .values(status=Status.SKIPPED.value, skip_reason=reason, updated_at=self.clock())
        )
        with self.engine.begin() as conn:
            return int(conn.execute(statement).rowcount)

    def record_delivered(self, provider_message_id: str, email: str | None = None) -> int:
        """A provider's "delivered" event for a message we recorded as sent.

        SendGrid and Mailgun answer one id for a whole call of many recipients, so the
        event's address picks the one row it is about.
        """
        statement = (
            update(deliveries)
            .where(deliveries.c.provider_message_id == provider_message_id)
            .where(deliveries.c.status.in_([Status.SENDING.value, Status.SENT.value]))
            .values(status=Status.SENT.value, updated_at=self.clock())
        )
        if email is not None:
            statement = statement.where(func.lower(deliveries.c.email) == email.lower())
        with self.engine.begin() as conn:
            return int(conn.execute(statement).rowcount)

    # -- reading ----------------------------------------------------------------------------

    def counts(self, edition_id: str) -> Counts:
        now = self.clock()
        query = (
            select(
                deliveries.c.status,
                func.count(),
                func.sum(one_if(deliveries.c.uncertain)),
                func.sum(one_if(deliveries.c.due_at <= now)),
            )
            .where(deliveries.c.edition_id == edition_id)
            .group_by(deliveries.c.status)
        )
        by_status: dict[str, int] = {}
        uncertain = due = 0
        with self.engine.connect() as conn:
            for status, count, unsure, ready in conn.execute(query):
                by_status[status] = int(count)
                uncertain += int(unsure or 0)
                if status == Status.PENDING.value:
                    due = int(ready or 0)
        return Counts(
            total=sum(by_status.values()),
            pending=by_status.get("pending", 0),
            sending=by_status.get("sending", 0),
            sent=by_status.get("sent", 0),
            failed=by_status.get("failed", 0),
            skipped=by_status.get("skipped", 0),
            uncertain=uncertain,
            due=due,
        )

    def failures(self, edition_id: str, limit: int = 100) -> list[tuple[str, str]]:
        """Failed rows' addresses and the provider's own message."""
        query = (
            select(deliveries.c.email, deliveries.c.last_error)
            .where(
                deliveries.c.edition_id == edition_id, deliveries.c.status == Status.FAILED.value
            )
            .order_by(deliveries.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [(email, error or "") for email, error in conn.execute(query)]

    # -- the edition's send state -----------------------------------------------------------

    def state(self, edition_id: str) -> EditionState:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(edition_states).where(edition_states.c.edition_id == edition_id)
            ).first()
        if row is None:
            return EditionState(False, None, 0)
        return EditionState(row.paused, row.reason, row.consecutive_failures)

    def set_state(self, edition_id: str, state: EditionState) -> None:
        values = {
            "paused": state.paused,
            "reason": state.reason,
            "consecutive_failures": state.consecutive_failures,
            "updated_at": self.clock(),
        }
        # one upsert: an update-then-insert lets two batches pausing at once (both refused
        # the key) both find no row and both insert, and the second fails on PostgreSQL
        with self.engine.begin() as conn:
            insert = postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert
            conn.execute(
                insert(edition_states)
                .values(edition_id=edition_id, **values)
                .on_conflict_do_update(index_elements=[edition_states.c.edition_id], set_=values)
            )

    def count_batch(self, edition_id: str, delivered: bool) -> int:
        """One batch's outcome in the edition's run of batches that delivered nothing: reset
        by a batch that delivered, one longer otherwise; the run's length after it.

        Kept in the store, not by each sender, because on the queue every batch is a job of
        its own, run by any worker: only a count they all add to can see five in a row.
        Each move is one statement, so batches recording at once never lose a step. A
        delivering batch writes nothing while the count is already zero (the usual case).
        """
        now = self.clock()
        state = edition_states.c
        with self.engine.begin() as conn:
            if delivered:
                conn.execute(
                    update(edition_states)
                    .where(state.edition_id == edition_id, state.consecutive_failures != 0)
                    .values(consecutive_failures=0, updated_at=now)
                )
                return 0
            insert = postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert
            statement = insert(edition_states).values(
                edition_id=edition_id,
                paused=False,
                reason=None,
                consecutive_failures=1,
                updated_at=now,
            )
            counted = conn.execute(
                statement.on_conflict_do_update(
                    index_elements=[state.edition_id],
                    set_={
                        "consecutive_failures": state.consecutive_failures + 1,
                        "updated_at": now,
                    },
                ).returning(state.consecutive_failures)
            ).scalar_one()
        return int(counted)

    def pause_once(self, edition_id: str, reason: str, failures: int) -> bool:
        """Pause the edition unless it is paused already; whether this call paused it.

        Two batches may reach the limit together (or be refused the key together): only one
        of them pauses it, so ops hear of the pause once, from whichever process it was.
        """
        state = edition_states.c
        values = {
            "paused": True,
            "reason": reason,
            "consecutive_failures": failures,
            "updated_at": self.clock(),
        }
        with self.engine.begin() as conn:
            insert = postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert
            paused = conn.execute(
                insert(edition_states)
                .values(edition_id=edition_id, **values)
                .on_conflict_do_update(
                    index_elements=[state.edition_id], set_=values, where=~state.paused
                )
                .returning(state.edition_id)  # psycopg's rowcount is -1 for an upsert
            ).first()
        return paused is not None


_CLAIMED = (
    deliveries.c.id,
    deliveries.c.subscriber_id,
    deliveries.c.email,
    deliveries.c.attempts,
    deliveries.c.batch_key,
    deliveries.c.uncertain,
)


def _sorted_claims(rows: Iterable[Any]) -> list[Claimed]:
    return sorted((Claimed(*row) for row in rows), key=lambda c: c.id)


_IN_CHUNK = 900  # ids per grouped UPDATE: within every SQLite build's bound-variable limit


def _values_key(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(value for name, value in row.items() if name != "b_id")


def one_if(condition: Any) -> Any:
    """1 where the condition holds, for summing (booleans do not sum on PostgreSQL)."""
    return case((condition, 1), else_=0)


def _insert_ignoring_duplicates(dialect: str) -> Any:
    """Two `digest send` runs creating the same rows at once: the second adds nothing."""
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    return insert(deliveries).on_conflict_do_nothing()


def _new_row(edition_id: str, row: NewRow, now: datetime) -> dict[str, Any]:
    return {
        "edition_id": edition_id,
        "subscriber_id": row.subscriber_id,
        "email": row.email,
        "status": Status.SKIPPED.value if row.skip_reason else Status.PENDING.value,
        "skip_reason": row.skip_reason,
        "due_at": row.due_at,
        "attempts": 0,
        "uncertain": False,
        "created_at": now,
        "updated_at": now,
    }
