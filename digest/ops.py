"""What ops can see and steer, in one place that the CLI and the ops API both call.

Every answer is plain JSON-ready data, so ``digest editions --json`` and ``GET
/api/editions`` say the same thing in the same shape. The moves (pause, resume, plan, send
now, retry what failed) are each one or two store statements; the sending itself is done
by whoever runs the send loop (``digest send`` in the foreground, the dispatcher of
``digest run`` otherwise), or with the queue by the workers (``who_sends`` says which).

Pausing a newsletter stops new slots from being planned (they are recorded as skipped)
and stops its editions from claiming rows; pausing an edition stops that edition only.
Resuming never re-sends: the ledger moves only pending rows, and a resumed edition
carries on with the rows still pending.

Editors' moves live here too, because they change what may send: pins and drops re-plan a
slot's planned edition (and bring its ledger rows in line with the new sections), and a
newsletter may require an editor's approval before its edition goes out (``approval =
"wait"``, or ``"deadline"``: at most ``approval_deadline_minutes`` after the slot).
Approval gates the start of sending only: once a delivery has left pending, the edition
carries on whatever happens to its approval.

With a job queue (``queue``), every move that makes deliveries pending and due (enrolment,
send now, retry what failed) defers the jobs that send them in the same transaction, and
``digest worker`` processes send them. Resuming and approving wake the jobs that were
waiting on the pause or the approval, so sending starts again at once rather than at the
jobs' next look, up to five minutes later.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from sqlalchemy import Connection

from digest.deliver.enroll import AudienceSource, JobHook, enroll, reconsider
from digest.deliver.sender import Audience as ReceivingCheck
from digest.editions import Planner
from digest.errors import NotFoundError, RefusedError
from digest.newsletters import Newsletter, NewsletterConfig
from digest.slots import slot_at_or_before, upcoming_slots
from digest.store.editions import Edition, EditionStore
from digest.store.ledger import Counts, EditionState, Ledger, OnRows
from digest.store.ledger_ops import LedgerOps
from digest.store.overrides import EditorialStore
from digest.store.runs import NewsletterState, ScheduleRuns, SlotOutcome, SlotRun

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
NEXT_SLOTS = 3


class Audience(AudienceSource, ReceivingCheck, Protocol):
    """The subscriber store as editions need it: who to enrol, and who still receives."""


class SendQueue(JobHook, Protocol):
    """The job queue as ops use it (``digest.queue.enqueue.JobQueue``): it defers the jobs
    of rows made pending, and wakes the jobs of an edition that may send again."""

    def bring_forward(
        self, conn: Connection, name: str, of: Literal["edition", "newsletter"] = "edition"
    ) -> list[int]: ...


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
    editorial: EditorialStore
    clock: Clock = utc_now
    queue: SendQueue | None = None
    """The job queue that sends (``DIGEST_QUEUE=procrastinate``), or None: sent in-process."""
    _went_unapproved: set[str] = field(default_factory=set, init=False, repr=False, compare=False)

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
            self._wake(target, "newsletter")
            return {"newsletter": target, "paused": False}
        self._edition(target)
        self.ledger.set_state(
            target, EditionState(paused=False, reason=None, consecutive_failures=0)
        )
        self._wake(target, "edition")
        return {"edition": target, "paused": False}

    def who_sends(self) -> str:
        """Who sends what ops make due, for the notes of the CLI and the API."""
        if self.queue is not None:
            return "the workers (`digest worker`, DIGEST_QUEUE=procrastinate) send"
        return "the dispatcher of `digest run` sends"

    def _wake(self, name: str, of: Literal["edition", "newsletter"]) -> None:
        """With the queue, the waiting jobs of what may send again go now (after the move
        that lets them: woken before it, they would find it still paused and wait again)."""
        if self.queue is None:
            return
        with self.ledger.engine.begin() as conn:
            woken = self.queue.bring_forward(conn, name, of)
        if woken:
            log.info("%s %s: %d waiting send jobs brought forward", of, name, len(woken))

    def plan(self, newsletter: str, at: datetime | None = None) -> Edition:
        """Plan the slot at or before ``at`` (default now) and enrol its audience, once."""
        name = self._newsletter(newsletter).name
        edition = self.planner.plan(name, at)
        if not edition.empty:
            enroll(self.ledger, self.audience, edition.snapshot, self.queue)
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
        self.ledger_ops.make_due_now(edition.id, self._jobs_for(edition.id))
        return edition

    def retry_failed(self, edition_id: str) -> int:
        """Failed deliveries of an edition back to pending, due now; how many."""
        self._edition(edition_id)
        return self.ledger_ops.retry_failed(edition_id, self._jobs_for(edition_id))

    def _jobs_for(self, edition_id: str) -> OnRows | None:
        """The queue's hook for rows an ops move made pending and due (None: in-process)."""
        return None if self.queue is None else self.queue.for_edition(edition_id)

    def paused_reason(self, edition: Edition) -> str | None:
        """Why an edition may not send now, or None: its own pause or its newsletter's, a
        re-plan since ``edition`` was read, or an editor's approval still missing."""
        state = self.ledger.state(edition.id)
        if state.paused:
            return state.reason or "paused"
        newsletter = self.runs.newsletter_state(edition.newsletter)
        if newsletter.paused:
            return f"newsletter {edition.newsletter} is paused: {newsletter.reason or 'by ops'}"
        if self.editions.planned_at(edition.id) not in (None, edition.planned_at):
            # a send loop holding the old plan must not send it: the next pass reads the new
            return f"edition {edition.id} was re-planned since this send read it"
        return self._awaiting_approval(edition, sending=True)

    # -- editors ----------------------------------------------------------------------------

    def _awaiting_approval(self, edition: Edition, sending: bool = False) -> str | None:
        """Why the edition waits for an editor, or None; ``sending``: asked before a claim."""
        newsletter = self.config.get_or_none(edition.newsletter)
        if newsletter is None or newsletter.approval == "none" or edition.empty:
            return None
        if self.editorial.approval(edition.newsletter, edition.slot) is not None:
            return None
        reason = "awaiting an editor's approval (newsletter requires it)"
        if newsletter.approval == "deadline":
            deadline = edition.slot + newsletter.approval_deadline
            if self.clock() >= deadline:
                if sending:
                    self._going_unapproved(edition, deadline)
                return None
            reason = f"awaiting an editor's approval until {_local(deadline, newsletter)}"
        if self.editions.started(edition.id):
            return None  # approval gates the start: a send under way is not halted half way
        return reason

    def _going_unapproved(self, edition: Edition, deadline: datetime) -> None:
        """Say once per process that an edition reached its deadline unapproved."""
        if edition.id in self._went_unapproved:
            return
        self._went_unapproved.add(edition.id)
        log.info(
            "%s: edition %s goes out unapproved, its approval deadline %s has passed",
            edition.newsletter,
            edition.id,
            deadline.isoformat(),
            extra={"newsletter": edition.newsletter, "edition_id": edition.id},
        )

    def approval(self, newsletter: str, slot: datetime) -> dict[str, Any]:
        """A slot's approval as editors see it: required how, given by whom, or awaited."""
        declared = self._newsletter(newsletter)
        given = self.editorial.approval(declared.name, slot)
        deadline = slot + declared.approval_deadline if declared.approval == "deadline" else None
        edition = self.editions.get(declared.name, slot)
        return {
            "newsletter": declared.name,
            "slot": slot.isoformat(),
            "required": declared.approval,
            "deadline": deadline.isoformat() if deadline else None,
            "approved_by": given[0] if given else None,
            "approved_at": given[1].isoformat() if given else None,
            "waiting": self._awaiting_approval(edition) if edition is not None else None,
        }

    def approve(self, target: str, editor: str, slot: datetime | None = None) -> dict[str, Any]:
        """An editor approves an edition: by its id, or a newsletter's ``slot``.

        A newsletter without a slot means the edition waiting for approval now if there is
        one, else its next slot (approving before the plan exists is allowed: approvals are
        kept by slot). Any later pin, drop or clear of the slot withdraws the approval.
        """
        if self.config.get_or_none(target) is None:
            edition = self._edition(target)
            name, chosen = edition.newsletter, edition.slot
        else:
            name, chosen = target, self._approval_slot(self._newsletter(target), slot)
        self.editorial.approve(name, chosen, editor)
        approved = self.editions.get(name, chosen)
        if approved is not None:
            self._wake(approved.id, "edition")
        return self.approval(name, chosen)

    def _approval_slot(self, newsletter: Newsletter, slot: datetime | None) -> datetime:
        if slot is not None:
            return self._slot_of(newsletter, slot)
        latest = self.editions.latest(newsletter.name)
        if latest is not None and self._awaiting_approval(latest) is not None:
            return latest.slot
        return upcoming_slots(newsletter, self.clock(), 1)[0]

    def pin(self, newsletter: str, slot: datetime, article_id: str, editor: str) -> Edition | None:
        """Pin an article for a slot; its edition, re-planned, if it is planned already."""
        return self._override(newsletter, slot, editor, "pin", article_id)

    def drop(self, newsletter: str, slot: datetime, article_id: str, editor: str) -> Edition | None:
        """Drop an article from a slot; its edition, re-planned, if it is planned already."""
        return self._override(newsletter, slot, editor, "drop", article_id)

    def clear(
        self, newsletter: str, slot: datetime, article_id: str, editor: str
    ) -> Edition | None:
        """Undo a pin or drop; the slot's edition, re-planned (by ``editor``), if planned."""
        return self._override(newsletter, slot, editor, "clear", article_id)

    def _override(
        self, name: str, slot: datetime, editor: str, action: str, article_id: str
    ) -> Edition | None:
        """Refuse before writing anything if the planned edition can no longer change."""
        newsletter = self._newsletter(name)
        slot = self._slot_of(newsletter, slot)
        edition = self.editions.get(newsletter.name, slot)
        if edition is not None:
            self.planner.check_replannable(edition)
        if action == "pin":
            self.editorial.pin(newsletter.name, slot, article_id, editor)
        elif action == "drop":
            self.editorial.drop(newsletter.name, slot, article_id, editor)
        else:
            self.editorial.clear(newsletter.name, slot, article_id)
        return self.replan(edition.id, editor) if edition is not None else None

    def replan(self, edition_id: str, editor: str) -> Edition:
        """Re-plan a stored edition with the slot's current pins and drops, and bring its
        ledger in line: subscribers whose sections came or went, a slot that stopped (or
        started) being empty. Refused once any of its deliveries has left pending."""
        before = self._edition(edition_id)
        after = self.planner.replan(edition_id, editor)
        if after.empty == before.empty:
            if not after.empty:
                reconsider(self.ledger_ops, self.audience, after.snapshot)
            return after
        run = self.runs.get(after.newsletter, after.slot)
        if run is None or run.outcome not in (SlotOutcome.PLANNED, SlotOutcome.EMPTY):
            return after  # the scheduler has not reached this slot: it will enrol then
        outcome = SlotOutcome.EMPTY if after.empty else SlotOutcome.PLANNED
        self.runs.update(after.newsletter, after.slot, outcome, edition_id=after.id)
        if after.empty:
            reconsider(self.ledger_ops, self.audience, after.snapshot)
        else:
            enroll(self.ledger, self.audience, after.snapshot, self.queue)
        return after

    def _slot_of(self, newsletter: Newsletter, slot: datetime) -> datetime:
        if slot_at_or_before(newsletter, slot) != slot:
            raise RefusedError(
                f"{slot.isoformat()} is not a slot of {newsletter.name} ({newsletter.cadence}"
                f" in {newsletter.timezone}); `digest schedule` shows its next slots"
            )
        return slot

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


def _local(moment: datetime, newsletter: Newsletter) -> str:
    """A moment as the newsletter's editors read it: their wall clock, with its offset."""
    return moment.astimezone(newsletter.zone).isoformat(timespec="minutes")


def _run_json(run: SlotRun) -> dict[str, Any]:
    return {
        "slot": run.slot.isoformat(),
        "outcome": run.outcome.value,
        "edition_id": run.edition_id,
        "detail": run.detail,
        "recorded_at": run.recorded_at.isoformat(),
    }
