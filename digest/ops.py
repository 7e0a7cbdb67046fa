"""What ops can see and steer, in one place that the CLI and the ops API both call.

Every answer is plain JSON-ready data, so ``digest editions --json`` and ``GET
/api/editions`` say the same thing in the same shape. The moves (pause, resume, plan, send
now, retry what failed) are each one or two store statements; the sending itself is done
by whoever runs the send loop (``digest send`` in the foreground, the dispatcher of
``digest run`` otherwise).

Pausing a newsletter stops new slots from being planned (they are recorded as skipped)
and stops its editions from claiming rows; pausing an edition stops that edition only.
Resuming never re-sends: the ledger moves only pending rows, and a resumed edition
carries on with the rows still pending.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from digest.deliver.enroll import AudienceSource, enroll
from digest.deliver.sender import Audience as ReceivingCheck
from digest.editions import Planner
from digest.errors import NotFoundError, RefusedError
from digest.newsletters import Newsletter, NewsletterConfig
from digest.slots import upcoming_slots
from digest.store.editions import Edition, EditionStore
from digest.store.ledger import Counts, EditionState, Ledger
from digest.store.ledger_ops import LedgerOps
from digest.store.runs import NewsletterState, ScheduleRuns, SlotRun

Clock = Callable[[], datetime]
NEXT_SLOTS = 3


class Audience(AudienceSource, ReceivingCheck, Protocol):
    """The subscriber store as editions need it: who to enrol, and who still receives."""


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Operations:
    config: NewsletterConfig
    editions: EditionStore
    ledger: Ledger
    ledger_ops: LedgerOps
    runs: ScheduleRuns
    planner: Planner
    audience: Audience
    clock: Clock = utc_now

    # -- seeing -----------------------------------------------------------------------------

    def schedule(self) -> list[dict[str, Any]]:
        """Each newsletter's next slots, its last run, and whether it is paused."""
        now = self.clock()
        return [self._schedule_entry(newsletter, now) for newsletter in self.config.newsletters]

    def _schedule_entry(self, newsletter: Newsletter, now: datetime) -> dict[str, Any]:
        state = self.runs.newsletter_state(newsletter.name)
        latest = self.runs.latest(newsletter.name)
        return {
            "name": newsletter.name,
            "title": newsletter.title,
            "cadence": newsletter.cadence,
            "timezone": newsletter.timezone,
            "grace_minutes": newsletter.grace_minutes,
            "paused": state.paused,
            "pause_reason": state.reason,
            "next_slots": [s.isoformat() for s in upcoming_slots(newsletter, now, NEXT_SLOTS)],
            "last_run": _run_json(latest) if latest else None,
        }

    def newsletters(self) -> list[dict[str, Any]]:
        """The schedule, with each newsletter's latest edition and its counts."""
        entries = self.schedule()
        for entry in entries:
            latest = self.editions.latest(entry["name"])
            entry["last_edition"] = self._edition_json(latest) if latest else None
        return entries

    def list_editions(self, newsletter: str | None = None) -> list[dict[str, Any]]:
        """Every edition (of one newsletter, or all), oldest first, with its counts."""
        if newsletter is not None:
            self.config.get_or_none(newsletter) or self._no_newsletter(newsletter)
        found = self.editions.list_editions(newsletter)
        counts = self.ledger_ops.overview([edition.id for edition in found])
        return [self._edition_json(e, counts.get(e.id, Counts())) for e in found]

    def show_edition(self, edition_id: str, failures: int = 100) -> dict[str, Any]:
        """One edition: counts, pause state, and failed deliveries with the provider's words."""
        edition = self._edition(edition_id)
        entry = self._edition_json(edition)
        entry["failures"] = [
            {"email": email, "error": error}
            for email, error in self.ledger.failures(edition_id, failures)
        ]
        entry["sections"] = [
            {"name": s["name"], "articles": len(s["articles"])}
            for s in edition.snapshot.get("sections", [])
        ]
        return entry

    def _edition_json(self, edition: Edition, counts: Counts | None = None) -> dict[str, Any]:
        counts = counts if counts is not None else self.ledger.counts(edition.id)
        state = self.ledger.state(edition.id)
        return {
            "id": edition.id,
            "newsletter": edition.newsletter,
            "issue_number": edition.issue_number,
            "slot": edition.slot.isoformat(),
            "planned_at": edition.planned_at.isoformat(),
            "empty": edition.empty,
            "paused": state.paused,
            "pause_reason": state.reason,
            "counts": counts.as_json(),
        }

    # -- steering ---------------------------------------------------------------------------

    def pause(self, target: str, reason: str = "paused by ops") -> dict[str, Any]:
        """Pause a newsletter (by name) or an edition (by id); pending rows wait."""
        if self.config.get_or_none(target) is not None:
            self.runs.set_newsletter_state(target, NewsletterState(True, reason))
            return {"newsletter": target, "paused": True, "reason": reason}
        self._edition(target)
        self.ledger.set_state(
            target, EditionState(paused=True, reason=reason, consecutive_failures=0)
        )
        return {"edition": target, "paused": True, "reason": reason}

    def resume(self, target: str) -> dict[str, Any]:
        """Let a paused newsletter or edition send again; nothing sent is sent twice."""
        if self.config.get_or_none(target) is not None:
            self.runs.set_newsletter_state(target, NewsletterState(False))
            return {"newsletter": target, "paused": False}
        self._edition(target)
        self.ledger.set_state(
            target, EditionState(paused=False, reason=None, consecutive_failures=0)
        )
        return {"edition": target, "paused": False}

    def plan(self, newsletter: str, at: datetime | None = None) -> Edition:
        """Plan the slot at or before ``at`` (default now) and enrol its audience, once."""
        name = self._newsletter(newsletter).name
        edition = self.planner.plan(name, at)
        if not edition.empty:
            enroll(self.ledger, self.audience, edition.snapshot)
        return edition

    def send_now(self, newsletter: str) -> Edition:
        """Plan the current slot and make every pending delivery of it due now.

        Subscribers who chose a local hour get it now rather than at their hour: that is
        what an operator asks for with ``--now``. Refused while the newsletter is paused.
        """
        state = self.runs.newsletter_state(self._newsletter(newsletter).name)
        if state.paused:
            raise RefusedError(
                f"newsletter {newsletter} is paused ({state.reason}); "
                f"`digest resume {newsletter}` first"
            )
        edition = self.plan(newsletter)
        self.ledger_ops.make_due_now(edition.id)
        return edition

    def retry_failed(self, edition_id: str) -> int:
        """Failed deliveries of an edition back to pending, due now; how many."""
        self._edition(edition_id)
        return self.ledger_ops.retry_failed(edition_id)

    def paused_reason(self, edition: Edition) -> str | None:
        """Why an edition may not send now (its own pause or its newsletter's), or None."""
        state = self.ledger.state(edition.id)
        if state.paused:
            return state.reason or "paused"
        newsletter = self.runs.newsletter_state(edition.newsletter)
        if newsletter.paused:
            return f"newsletter {edition.newsletter} is paused: {newsletter.reason or 'by ops'}"
        return None

    # -- lookups ----------------------------------------------------------------------------

    def _edition(self, edition_id: str) -> Edition:
        edition = self.editions.get_by_id(edition_id)
        if edition is None:
            raise NotFoundError(
                f"no newsletter or edition {edition_id!r}; `digest editions` lists editions, "
                f"and the newsletters are: {', '.join(self.config.names)}"
            )
        return edition

    def _newsletter(self, name: str) -> Newsletter:
        return self.config.get_or_none(name) or self._no_newsletter(name)

    def _no_newsletter(self, name: str) -> Newsletter:
        raise NotFoundError(
            f"no newsletter {name!r} in {self.config.path}; "
            f"declared: {', '.join(self.config.names)}"
        )


def _run_json(run: SlotRun) -> dict[str, Any]:
    return {
        "slot": run.slot.isoformat(),
        "outcome": run.outcome.value,
        "edition_id": run.edition_id,
        "detail": run.detail,
        "recorded_at": run.recorded_at.isoformat(),
    }
