"""Editors' decisions in the store: pins and drops of a slot's articles, and approvals. I/O.

Everything is keyed by (newsletter, slot), not by edition id, so an editor can shape and
approve the next slot before the scheduler plans it; planning (and re-planning) reads the
overrides. One row per (newsletter, slot, article): pinning a dropped article replaces the
drop and vice versa, written as one upsert so two editors acting at once leave one answer.

An approval is of the edition as it stood when the editor gave it: any pin, drop or clear
of the slot withdraws it (in the same transaction), so a newsletter that requires approval
never sends content nobody approved. ``Operations.paused_reason`` stops asking for approval
once an edition has started sending, so a late change cannot halt a send half way.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Connection, Engine, Table, delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from digest.store.editorial_schema import edition_approvals, edition_overrides

Clock = Callable[[], datetime]
Action = Literal["pin", "drop"]
EDITOR_NAME_MAX = 64  # the width of the editor columns


def utc_now() -> datetime:
    return datetime.now(UTC)


class EditorialStore:
    def __init__(self, engine: Engine, clock: Clock = utc_now) -> None:
        self.engine = engine
        self.clock = clock

    # -- pins and drops ----------------------------------------------------------------------

    def pin(self, newsletter: str, slot: datetime, article_id: str, editor: str) -> bool:
        """Keep an article in the slot's edition whatever the rules say; True when this
        withdrew an approval."""
        return self._override(newsletter, slot, article_id, "pin", editor)

    def drop(self, newsletter: str, slot: datetime, article_id: str, editor: str) -> bool:
        """Keep an article out of the slot's edition; True when this withdrew an approval."""
        return self._override(newsletter, slot, article_id, "drop", editor)

    def clear(self, newsletter: str, slot: datetime, article_id: str) -> bool:
        """Back to the rules for this article; True when this withdrew an approval."""
        with self.engine.begin() as conn:
            conn.execute(
                delete(edition_overrides).where(
                    edition_overrides.c.newsletter == newsletter,
                    edition_overrides.c.slot == slot,
                    edition_overrides.c.article_id == article_id,
                )
            )
            return _withdraw(conn, newsletter, slot)

    def _override(
        self, newsletter: str, slot: datetime, article_id: str, action: Action, editor: str
    ) -> bool:
        values = {"action": action, "editor": _editor(editor), "at": self.clock()}
        key = {"newsletter": newsletter, "slot": slot, "article_id": article_id}
        with self.engine.begin() as conn:
            _upsert(conn, edition_overrides, key, values)
            return _withdraw(conn, newsletter, slot)

    def overrides(self, newsletter: str, slot: datetime) -> tuple[dict[str, str], dict[str, str]]:
        """The slot's pins and drops, each article id -> the editor who decided."""
        query = select(
            edition_overrides.c.article_id, edition_overrides.c.action, edition_overrides.c.editor
        ).where(edition_overrides.c.newsletter == newsletter, edition_overrides.c.slot == slot)
        pins: dict[str, str] = {}
        drops: dict[str, str] = {}
        with self.engine.connect() as conn:
            for article_id, action, editor in conn.execute(query):
                (pins if action == "pin" else drops)[article_id] = editor
        return pins, drops

    # -- approvals ---------------------------------------------------------------------------

    def approve(self, newsletter: str, slot: datetime, editor: str) -> tuple[str, datetime]:
        """Record that ``editor`` approved the slot's edition (again: the latest counts)."""
        name, at = _editor(editor), self.clock()
        with self.engine.begin() as conn:
            key = {"newsletter": newsletter, "slot": slot}
            _upsert(conn, edition_approvals, key, {"editor": name, "at": at})
        return name, at

    def approval(self, newsletter: str, slot: datetime) -> tuple[str, datetime] | None:
        """Who approved the slot's edition and when, or None while nobody has."""
        query = select(edition_approvals.c.editor, edition_approvals.c.at).where(
            edition_approvals.c.newsletter == newsletter, edition_approvals.c.slot == slot
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return (row.editor, row.at) if row is not None else None


def _upsert(conn: Connection, table: Table, key: dict[str, Any], values: dict[str, Any]) -> None:
    """Insert, or update the row with this primary key: one statement on both databases."""
    insert = postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = insert(table).values(**key, **values)
    conn.execute(
        statement.on_conflict_do_update(index_elements=[table.c[name] for name in key], set_=values)
    )


def _withdraw(conn: Connection, newsletter: str, slot: datetime) -> bool:
    """The slot's edition changed: the approval given before no longer holds."""
    result = conn.execute(
        delete(edition_approvals).where(
            edition_approvals.c.newsletter == newsletter, edition_approvals.c.slot == slot
        )
    )
    return bool(result.rowcount)


def _editor(name: str) -> str:
    """An editor's name as the columns hold it; a blank or overlong one is a caller's bug."""
    name = name.strip()
    if not name or len(name) > EDITOR_NAME_MAX:
        raise ValueError(f"an editor's name must be 1 to {EDITOR_NAME_MAX} characters: {name!r}")
    return name
