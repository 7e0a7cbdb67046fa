"""The scheduler's record in the store: each slot's outcome, and paused newsletters. I/O.

A slot is recorded once (the primary key decides between racing processes); the first to
record it is the one that acts on it, so a slot is never planned and also recorded missed.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Row, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from digest.store.schedule_schema import newsletter_states, slot_runs

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class SlotOutcome(enum.Enum):
    PLANNED = "planned"  # an edition was planned and its deliveries created
    EMPTY = "empty"  # planned, but nothing to send
    MISSED = "missed"  # the process was down past the newsletter's grace window
    SKIPPED = "skipped"  # the newsletter was paused at its slot
    FAILED = "failed"  # planning raised; the detail says why


@dataclass(frozen=True, slots=True)
class SlotRun:
    newsletter: str
    slot: datetime
    outcome: SlotOutcome
    edition_id: str | None
    detail: str | None
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class NewsletterState:
    paused: bool
    reason: str | None = None


class ScheduleRuns:
    def __init__(self, engine: Engine, clock: Clock = utc_now) -> None:
        self.engine = engine
        self.clock = clock

    def record(
        self,
        newsletter: str,
        slot: datetime,
        outcome: SlotOutcome,
        edition_id: str | None = None,
        detail: str | None = None,
    ) -> bool:
        """Record what became of a slot; False when another process recorded it first."""
        values = {
            "newsletter": newsletter,
            "slot": slot,
            "outcome": outcome.value,
            "edition_id": edition_id,
            "detail": detail,
            "recorded_at": self.clock(),
        }
        with self.engine.begin() as conn:
            dialect = conn.dialect.name
            statement = (postgresql_insert if dialect == "postgresql" else sqlite_insert)(
                slot_runs
            ).values(**values)
            # RETURNING, because psycopg reports -1 rows for ON CONFLICT DO NOTHING
            inserted = conn.execute(
                statement.on_conflict_do_nothing().returning(slot_runs.c.newsletter)
            ).first()
        return inserted is not None

    def update(
        self, newsletter: str, slot: datetime, outcome: SlotOutcome, **values: str | None
    ) -> None:
        """Complete a slot's record (planned once the edition exists, or failed)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(slot_runs)
                .where(slot_runs.c.newsletter == newsletter, slot_runs.c.slot == slot)
                .values(outcome=outcome.value, recorded_at=self.clock(), **values)
            )

    def get(self, newsletter: str, slot: datetime) -> SlotRun | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(slot_runs).where(
                    slot_runs.c.newsletter == newsletter, slot_runs.c.slot == slot
                )
            ).first()
        return _run(row) if row is not None else None

    def latest(self, newsletter: str) -> SlotRun | None:
        """The newest slot on record for the newsletter, whatever became of it."""
        return next(iter(self.recent(newsletter, 1)), None)

    def recent(self, newsletter: str, limit: int = 10) -> list[SlotRun]:
        query = (
            select(slot_runs)
            .where(slot_runs.c.newsletter == newsletter)
            .order_by(slot_runs.c.slot.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [_run(row) for row in conn.execute(query)]

    def last_success(self) -> dict[str, datetime]:
        """Each newsletter's newest planned (or empty) slot: when it last ran as it should."""
        query = (
            select(slot_runs.c.newsletter, func.max(slot_runs.c.slot))
            .where(slot_runs.c.outcome.in_([SlotOutcome.PLANNED.value, SlotOutcome.EMPTY.value]))
            .group_by(slot_runs.c.newsletter)
        )
        with self.engine.connect() as conn:
            return {name: _aware(slot) for name, slot in conn.execute(query)}

    def outcome_counts(self) -> dict[tuple[str, str], int]:
        """(newsletter, outcome) -> slots: misses and failures are what ops alert on."""
        query = select(slot_runs.c.newsletter, slot_runs.c.outcome, func.count()).group_by(
            slot_runs.c.newsletter, slot_runs.c.outcome
        )
        with self.engine.connect() as conn:
            return {(name, outcome): int(count) for name, outcome, count in conn.execute(query)}

    # -- paused newsletters ------------------------------------------------------------------

    def newsletter_state(self, newsletter: str) -> NewsletterState:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(newsletter_states).where(newsletter_states.c.newsletter == newsletter)
            ).first()
        return NewsletterState(row.paused, row.reason) if row else NewsletterState(False)

    def paused_newsletters(self) -> set[str]:
        query = select(newsletter_states.c.newsletter).where(newsletter_states.c.paused)
        with self.engine.connect() as conn:
            return set(conn.execute(query).scalars())

    def set_newsletter_state(self, newsletter: str, state: NewsletterState) -> None:
        values = {"paused": state.paused, "reason": state.reason, "updated_at": self.clock()}
        with self.engine.begin() as conn:
            dialect = conn.dialect.name
            statement = (postgresql_insert if dialect == "postgresql" else sqlite_insert)(
                newsletter_states
            ).values(newsletter=newsletter, **values)
            conn.execute(
                statement.on_conflict_do_update(
                    index_elements=[newsletter_states.c.newsletter], set_=values
                )
            )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _run(row: Row[Any]) -> SlotRun:
    return SlotRun(
        newsletter=row.newsletter,
        slot=_aware(row.slot),
        outcome=SlotOutcome(row.outcome),
        edition_id=row.edition_id,
        detail=row.detail,
        recorded_at=_aware(row.recorded_at),
    )
