"""The scheduler: each newsletter's slots become editions on time, once, or are recorded missed.

Two halves, so that what is decided can be tested on a frozen clock and what fires can be
trusted to APScheduler:

- APScheduler 3.11 decides *when*. Each newsletter has one job, ``slot:NAME``, on a
  ``SlotTrigger`` (its cadence in its time zone, DST handled by ``digest.slots``), kept in
  the project's database by the SQLAlchemy job store so the schedule survives a restart.
  Jobs run one instance at a time and coalesce. The job itself only names the newsletter;
  the running process listens for it and does the work with its own parts (a stored job
  can only refer to an importable function, not to the process's store and provider).
- ``SlotKeeper.catch_up`` decides *what*: the newsletter's latest slot at or before now is
  planned (edition, then one ledger row per subscriber due at their local hour) if it is
  within the newsletter's grace window; slots between the last one on record and that one
  were missed while the process was down and are recorded as missed, never sent, so a
  long outage never ends in a burst. A slot found beyond its grace is missed too. Every
  slot is recorded once (``slot_runs``), whichever process gets there first.

Planning and enrolment are idempotent (an edition is unique per newsletter and slot, a
delivery per edition and subscriber), so two ``digest run`` processes racing on one slot
produce one edition and one row per subscriber; the ledger's claims then keep them from
sending anything twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger  # type: ignore[import-untyped]

from digest.errors import DigestError
from digest.newsletters import Newsletter
from digest.observe.logs import AlertCounter, alert
from digest.ops import Operations
from digest.slots import next_slot, slot_at_or_before
from digest.store.runs import SlotOutcome, SlotRun

log = logging.getLogger(__name__)

JOB_PREFIX = "slot:"
MAX_MISSED_RECORDED = 500
"""Missed slots recorded after one outage at most (the newest); older ones are only counted."""

_TICK = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class CadenceOf:
    """A newsletter's cadence alone: what a stored trigger keeps (small, and picklable)."""

    name: str
    cadence: str
    timezone: str

    @property
    def zone(self) -> tzinfo:
        return ZoneInfo(self.timezone)


class SlotTrigger(BaseTrigger):  # type: ignore[misc]
    """Fires at a newsletter's slots: its cron cadence on its own wall clock.

    APScheduler's own ``CronTrigger`` can step backwards in the repeated autumn hour (see
    ``digest.slots``), so the slot arithmetic is digest's and APScheduler only asks it.
    """

    def __init__(self, name: str, cadence: str, timezone: str) -> None:
        self.of = CadenceOf(name, cadence, timezone)

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        after = previous_fire_time if previous_fire_time is not None else now - _TICK
        return next_slot(self.of, after)

    def __str__(self) -> str:
        return f"slots of {self.of.name}: {self.of.cadence} in {self.of.timezone}"

    def __repr__(self) -> str:
        return f"<SlotTrigger {self.of.name} {self.of.cadence!r} {self.of.timezone}>"


def slot_due(newsletter: str) -> str:
    """The stored job: it names the newsletter whose slot came; the process does the work."""
    return newsletter


def job_options(newsletter: Newsletter) -> dict[str, Any]:
    """APScheduler's ``add_job`` arguments for a newsletter's job."""
    return {
        "func": "digest.schedule:slot_due",
        "args": [newsletter.name],
        "trigger": SlotTrigger(newsletter.name, newsletter.cadence, newsletter.timezone),
        "id": JOB_PREFIX + newsletter.name,
        "name": f"plan {newsletter.name}",
        "replace_existing": True,
        "coalesce": True,
        "max_instances": 1,
        # a late wake-up still reaches catch_up, which applies the newsletter's own grace
        "misfire_grace_time": None,
    }


@dataclass(frozen=True, slots=True)
class SlotDecision:
    plan: datetime | None
    missed: tuple[datetime, ...]
    more_missed: int = 0  # beyond MAX_MISSED_RECORDED, counted but not recorded


def decide(newsletter: Newsletter, last_recorded: datetime | None, now: datetime) -> SlotDecision:
    """Which slot to plan now, and which were missed (pure).

    With nothing on record (a new newsletter, a new install), only the current slot counts:
    history before digest ran is not "missed".
    """
    latest = slot_at_or_before(newsletter, now)
    if last_recorded is not None and latest <= last_recorded:
        return SlotDecision(None, ())
    in_grace = now - latest <= newsletter.grace
    if last_recorded is None:
        return SlotDecision(latest if in_grace else None, ())
    between = list(_slots_between(newsletter, last_recorded, latest))
    missed = between if in_grace else [*between, latest]
    kept = missed[-MAX_MISSED_RECORDED:]
    return SlotDecision(latest if in_grace else None, tuple(kept), len(missed) - len(kept))


def _slots_between(newsletter: Newsletter, after: datetime, before: datetime) -> Iterator[datetime]:
    slot = next_slot(newsletter, after)
    while slot < before:
        yield slot
        slot = next_slot(newsletter, slot)


MissedHook = Callable[[str, datetime], None]


@dataclass(frozen=True)
class SlotKeeper:
    """Acts on a newsletter's slots: plans the one due, records the ones missed."""

    ops: Operations
    on_missed: MissedHook | None = None
    alerts: AlertCounter | None = None

    def catch_up(self, name: str) -> list[SlotRun]:
        """Handle every slot of ``name`` not yet on record; what was recorded, in order."""
        runs = self.ops.runs
        newsletter = self.ops.config.get(name)
        now = self.ops.clock()
        latest = runs.latest(name)
        decision = decide(newsletter, latest.slot if latest else None, now)
        if decision.more_missed:
            alert(
                log,
                "missed",
                f"{name}: {decision.more_missed} more slots missed than are recorded",
                counter=self.alerts,
                newsletter=name,
            )
        done = [run for slot in decision.missed if (run := self._missed(newsletter, slot))]
        if decision.plan is not None:
            run = self._plan(newsletter, decision.plan)
            if run is not None:
                done.append(run)
        return done

    def _missed(self, newsletter: Newsletter, slot: datetime) -> SlotRun | None:
        name = newsletter.name
        if self.ops.editions.get(name, slot) is not None:  # another process planned it in time
            return None
        paused = self.ops.runs.newsletter_state(name).paused
        outcome = SlotOutcome.SKIPPED if paused else SlotOutcome.MISSED
        detail = (
            "the newsletter was paused"
            if paused
            else f"not planned within its grace of {newsletter.grace_minutes} minutes"
        )
        if not self.ops.runs.record(name, slot, outcome, detail=detail):
            return None
        if not paused:
            message = f"{name}: the slot {slot.isoformat()} was missed"
            alert(log, "missed", message, counter=self.alerts, newsletter=name)
            if self.on_missed is not None:
                self.on_missed(name, slot)
        return self.ops.runs.get(name, slot)

    def plan_slot(self, name: str, slot: datetime) -> SlotRun | None:
        """What a slot's job does, for one slot: plan it, enrol its audience, record it.

        ``catch_up`` calls it for a slot within grace; ``digest demo`` for the current
        slot whatever its age, to run the scheduler's path once.
        """
        return self._plan(self.ops.config.get(name), slot)

    def _plan(self, newsletter: Newsletter, slot: datetime) -> SlotRun | None:
        name = newsletter.name
        runs = self.ops.runs
        if runs.newsletter_state(name).paused:
            runs.record(name, slot, SlotOutcome.SKIPPED, detail="the newsletter was paused")
            log.warning("%s: slot %s skipped, paused", name, slot.isoformat())
            return runs.get(name, slot)
        try:
            edition = self.ops.plan(name, slot)
        except DigestError as exc:
            runs.record(name, slot, SlotOutcome.FAILED, detail=str(exc))
            message = f"{name}: planning {slot.isoformat()} failed: {exc}"
            alert(log, "edition_failed", message, counter=self.alerts, newsletter=name)
            return runs.get(name, slot)
        outcome = SlotOutcome.EMPTY if edition.empty else SlotOutcome.PLANNED
        if runs.record(name, slot, outcome, edition_id=edition.id):
            log.info(
                "%s: planned %s for %s",
                name,
                edition.id,
                slot.isoformat(),
                extra={"newsletter": name, "edition_id": edition.id},
            )
        return runs.get(name, slot)


def utc_now() -> datetime:
    return datetime.now(UTC)
