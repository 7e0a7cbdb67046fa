"""Making an edition's ledger: one row per subscriber of the audience, due at their hour.

The audience is read page by page, so a million subscribers never sit in memory; rows are
inserted in chunks and ignored when they exist, so enrolling twice (or from two processes)
adds nothing. A subscriber none of whose sections has an article this time still gets a
row, marked skipped with the reason, so the edition's report accounts for everyone.

Rows are inserted grouped by variant (the edition's sections a subscriber gets), window by
window of ``WINDOW`` subscribers, so that rows of one variant have consecutive ids. Claims
take rows in id order and a batch is one variant, so in audience order a claim of 1,000 mixed
every variant (with 30% of readers choosing 1 to 3 of 6 sections, 41 of them) and a provider
that sends one body to many recipients (Mailgun, SendGrid) made a call per variant per claim,
24 recipients each on average; grouped, most calls carry their full 1,000
(``benchmarks/send_throughput.py``). The window keeps memory bounded as the paging does.

With a job queue (``DIGEST_QUEUE=procrastinate``) each chunk's transaction also defers the
jobs that will send its rows, one per run of rows due at the same time; the window is then
ordered by due time first and variant second, so that subscribers sharing a local hour form
runs (ordered by variant alone, their hours alternate row by row, one job per row).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from digest.render.context import variant_sections
from digest.store.ledger import Ledger, NewRow, OnRows
from subscribers.model import AudienceMember

WINDOW = 20_000
"""Subscribers whose rows are grouped by variant at a time (a few megabytes)."""

NO_SECTION = "none of their sections is in this edition"


class AudienceSource(Protocol):
    def audience(self, newsletter: str) -> Iterator[list[AudienceMember]]: ...


class JobHook(Protocol):
    """A job queue as enrolment sees it (``digest.queue.enqueue.JobQueue``)."""

    def for_edition(self, edition_id: str) -> OnRows: ...


def due_at(slot: datetime, member: AudienceMember, newsletter_zone: ZoneInfo) -> datetime:
    """When a subscriber's copy is due: the slot, or the first time at or after it that is
    their preferred hour in their own time zone (the newsletter's when they gave none).

    Local times are turned into instants by zoneinfo: an hour skipped by a daylight-saving
    change falls an hour later, a repeated one is taken at its first occurrence.
    """
    if member.send_hour is None:
        return slot
    zone = _zone(member.timezone) or newsletter_zone
    local_day = slot.astimezone(zone).date()
    for offset in range(3):
        day = local_day + timedelta(days=offset)
        candidate = datetime.combine(day, time(member.send_hour), tzinfo=zone)
        if candidate.astimezone(slot.tzinfo) >= slot:
            return candidate.astimezone(slot.tzinfo)
    raise AssertionError("a local hour always comes round within three days")


def _zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def enroll(
    ledger: Ledger,
    audience: AudienceSource,
    snapshot: Mapping[str, Any],
    queue: JobHook | None = None,
) -> int:
    """Create the edition's ledger rows from the newsletter's audience; how many were new.

    With ``queue``, the jobs that send each chunk's new rows are deferred in its transaction.
    """
    newsletter = snapshot["newsletter"]
    slot = datetime.fromisoformat(snapshot["slot"])
    zone = ZoneInfo(newsletter["timezone"])
    order = _by_variant if queue is None else _by_due_then_variant

    def rows() -> Iterator[NewRow]:
        window: list[tuple[tuple[str, ...], NewRow]] = []
        for page in audience.audience(newsletter["name"]):
            for member in page:
                sections = variant_sections(snapshot, member.sections)
                reason = None if sections else NO_SECTION
                row = NewRow(member.id, member.email, due_at(slot, member, zone), reason)
                window.append((sections, row))
            if len(window) >= WINDOW:
                yield from order(window)
                window = []
        yield from order(window)

    hook = None if queue is None else queue.for_edition(snapshot["edition_id"])
    return ledger.create(snapshot["edition_id"], rows(), on_chunk=hook)


class Resectioning(Protocol):
    def reconsider(
        self, edition_id: str, receiving: list[int], not_receiving: list[int], reason: str
    ) -> int: ...


def reconsider(ledger: Resectioning, audience: AudienceSource, snapshot: Mapping[str, Any]) -> int:
    """After a re-plan changed an edition's sections: who gets a copy now; rows moved.

    A subscriber skipped because none of their sections had an article goes back to
    pending when one now has; a pending one whose sections all went is skipped. Nobody is
    added: the audience is the one enrolled when the edition was planned.
    """
    moved = 0
    for page in audience.audience(snapshot["newsletter"]["name"]):
        receiving: list[int] = []
        not_receiving: list[int] = []
        for member in page:
            gets = variant_sections(snapshot, member.sections)
            (receiving if gets else not_receiving).append(member.id)
        moved += ledger.reconsider(snapshot["edition_id"], receiving, not_receiving, NO_SECTION)
    return moved


def _by_variant(window: list[tuple[tuple[str, ...], NewRow]]) -> Iterator[NewRow]:
    """The window's rows with each variant's together (a stable sort: audience order within)."""
    window.sort(key=lambda item: item[0])
    return (row for _, row in window)


def _by_due_then_variant(window: list[tuple[tuple[str, ...], NewRow]]) -> Iterator[NewRow]:
    """The window's rows by due time, each time's by variant (for the job queue's runs)."""
    window.sort(key=lambda item: (item[1].due_at, item[0]))
    return (row for _, row in window)
