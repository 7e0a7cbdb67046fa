"""Cron slot arithmetic: when a newsletter's editions are due (pure, no I/O).

A *slot* is one scheduled time of a newsletter: an instant at which its cadence (a 5-field
crontab) fires in the newsletter's time zone. Slots are returned as aware UTC datetimes;
an edition is identified by (newsletter, slot).

How the cadence is read:

- Fields mean what they mean in crontab(5). Weekday numbers follow crontab (0 and 7 are
  Sunday, 1 is Monday); APScheduler 3's ``CronTrigger.from_crontab`` counts them from Monday
  (its issue 286), so ``cadence_trigger`` translates the weekday field into names first.
- Restricting both the day of the month and the day of the week is refused: crontab fires
  when *either* matches, APScheduler only when both do, and an editor cannot tell which one
  was meant.
- The cron fields are matched on local wall-clock time; each matching wall time is then
  placed on the time line with ``fold=0`` (PEP 495). So a time skipped when clocks spring
  forward (02:30 in Paris on the last Sunday of March) fires at the instant 02:30 standard
  time would have been, 03:30 summer time, once; a time that happens twice when clocks fall
  back (02:30 on the last Sunday of October) fires once, at its first occurrence.

APScheduler 3.11 works on the zone's wall time too, but in the repeated autumn hour its
``get_next_fire_time`` can return a time earlier than the ``now`` it was given, so stepping
through fire times with it can loop. Here it only ever sees wall times dressed as UTC, where
no clock changes, and the placement on the time line is done with ``zoneinfo``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Protocol

from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]

from digest.errors import ConfigError


class Cadenced(Protocol):
    """What slot arithmetic needs of a newsletter (the scheduler's trigger has only this)."""

    @property
    def name(self) -> str: ...

    @property
    def cadence(self) -> str: ...

    @property
    def zone(self) -> tzinfo: ...


LOOK_BACK_LIMIT = timedelta(days=400)
"""How far back ``slot_at_or_before`` searches before deciding the cadence never fires."""

_FIRST_LOOK_BACK = timedelta(hours=1)
_MARGIN = timedelta(hours=3)
"""More than any change of a zone's UTC offset at a DST transition (at most two hours)."""

_WEEKDAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_WEEKDAY_NUMBERS = {name: number for number, name in enumerate(_WEEKDAY_NAMES)}
_COMMON_YEAR = datetime(2001, 1, 1, tzinfo=UTC)
_WEEKDAY_ITEM = re.compile(r"^(?P<base>\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/(?P<step>\d+))?$")


def cadence_trigger(cadence: str, zone: tzinfo = UTC) -> CronTrigger:
    """An APScheduler trigger for a crontab expression with crontab's weekday numbers.

    With the default ``zone`` (UTC) the trigger matches wall-clock times, which is how this
    module uses it. Raises ``ValueError`` with a message fit for an editor.
    """
    fields = cadence.split()
    if len(fields) != 5:
        raise ValueError(
            f"Wrong number of fields; got {len(fields)}, expected 5"
            " (minute hour day-of-month month day-of-week)"
        )
    minute, hour, day, month, weekday = fields
    if not day.startswith("*") and not weekday.startswith("*"):
        raise ValueError(
            f"both the day of the month ({day}) and the day of the week ({weekday}) are"
            " restricted; crontab fires when either matches, which is rarely what is meant:"
            " keep one of them '*'"
        )
    weekdays = _weekday_field(weekday)
    wall_trigger = CronTrigger(
        minute=minute, hour=hour, day=day, month=month, day_of_week=weekdays, timezone=UTC
    )
    # A 5-field cadence that fires in a common year fires at least once in any 400 days
    # (every year on the same date or the same weekdays of a month); one that does not fires
    # only on 29 February, or never.
    first = wall_trigger.get_next_fire_time(None, _COMMON_YEAR)
    if first is None or first.year != _COMMON_YEAR.year:
        when = "fires only on 29 February" if first else "never fires: that date does not exist"
        raise ValueError(f"it {when}; choose days that occur every year")
    if zone is UTC:
        return wall_trigger
    return CronTrigger(
        minute=minute, hour=hour, day=day, month=month, day_of_week=weekdays, timezone=zone
    )


def _weekday_field(field: str) -> str:
    """A crontab day-of-week field (0 or 7 = Sunday) as APScheduler weekday names."""
    if field == "*":
        return field
    days: set[int] = set()
    for item in field.lower().split(","):
        match = _WEEKDAY_ITEM.match(item)
        if match is None:
            raise ValueError(f"invalid day of the week {item!r}; use 0-7 or sun-sat")
        base, step = match["base"], int(match["step"] or 1)
        if step < 1:
            raise ValueError(f"invalid step in day of the week {item!r}")
        if base == "*":
            first, last = 0, 6
        elif "-" in base:
            start, end = base.split("-")
            first, last = _weekday_number(start), _weekday_number(end)
            if first > last:
                raise ValueError(
                    f"day-of-week range {item!r} runs backwards; write it as a list, e.g. 5,6,0"
                )
        else:
            first = _weekday_number(base)
            last = 6 if match["step"] else first
        days.update(number % 7 for number in range(first, last + 1, step))
    monday_first = sorted(days, key=lambda number: (number - 1) % 7)
    return ",".join(_WEEKDAY_NAMES[number] for number in monday_first)


def _weekday_number(text: str) -> int:
    if text.isdigit():
        number = int(text)
        if number > 7:
            raise ValueError(
                f"day of the week {number} is out of range; use 0-7 (0 and 7 are Sunday)"
            )
        return number
    if text in _WEEKDAY_NUMBERS:
        return _WEEKDAY_NUMBERS[text]
    raise ValueError(f"invalid day of the week {text!r}; use 0-7 or sun-sat")


def slot_at_or_before(newsletter: Cadenced, moment: datetime) -> datetime:
    """The newsletter's latest slot at or before ``moment`` (aware), in UTC."""
    moment = _utc(moment, "moment")
    zone = newsletter.zone
    trigger = _wall_trigger(newsletter)
    wall_moment = _wall(moment, zone)
    look_back = _FIRST_LOOK_BACK
    while True:
        best: datetime | None = None
        for wall in _wall_fire_times(trigger, wall_moment - look_back - _MARGIN):
            if wall > wall_moment + _MARGIN:
                break
            instant = _instant(wall, zone)
            if instant <= moment and (best is None or instant > best):
                best = instant
        if best is not None:
            return best
        if look_back >= LOOK_BACK_LIMIT:
            raise ConfigError(
                f"newsletter {newsletter.name!r}: its cadence {newsletter.cadence!r} has no slot"
                f" in the {LOOK_BACK_LIMIT.days} days before {moment.isoformat()}; fix the"
                " cadence in the newsletters file (e.g. '0 7 * * *' for 07:00 every day)"
            )
        look_back = min(look_back * 2, LOOK_BACK_LIMIT)


def next_slot(newsletter: Cadenced, after: datetime) -> datetime:
    """The newsletter's first slot strictly after ``after`` (aware), in UTC."""
    after = _utc(after, "after")
    zone = newsletter.zone
    trigger = _wall_trigger(newsletter)
    best: datetime | None = None
    stop: datetime | None = None
    for wall in _wall_fire_times(trigger, _wall(after, zone) - _MARGIN):
        if stop is not None and wall > stop:
            break
        instant = _instant(wall, zone)
        if instant > after and (best is None or instant < best):
            best = instant
            # wall times beyond this one by more than an offset change land later still
            stop = _wall(best, zone) + _MARGIN
    if best is None:
        raise ConfigError(
            f"newsletter {newsletter.name!r}: its cadence {newsletter.cadence!r} never fires"
            f" after {after.isoformat()}; fix the cadence in the newsletters file"
            " (e.g. '0 7 * * *' for 07:00 every day)"
        )
    return best


def upcoming_slots(newsletter: Cadenced, after: datetime, count: int) -> list[datetime]:
    """The newsletter's next ``count`` slots strictly after ``after``, in UTC, ascending."""
    slots: list[datetime] = []
    moment = after
    for _ in range(count):
        moment = next_slot(newsletter, moment)
        slots.append(moment)
    return slots


def _wall_trigger(newsletter: Cadenced) -> CronTrigger:
    try:
        return cadence_trigger(newsletter.cadence)
    except ValueError as exc:  # the loader validates cadences; this guards hand-built ones
        raise ConfigError(
            f"newsletter {newsletter.name!r}: invalid cadence {newsletter.cadence!r}: {exc}"
        ) from exc


def _wall_fire_times(trigger: CronTrigger, start: datetime) -> Iterator[datetime]:
    """The trigger's fire times at or after ``start``, wall-clock times tagged as UTC."""
    now = start
    while True:
        fire: datetime | None = trigger.get_next_fire_time(None, now)
        if fire is None:
            return
        yield fire
        now = fire + timedelta(seconds=1)


def _wall(moment: datetime, zone: tzinfo) -> datetime:
    """The wall-clock time of an instant in ``zone``, tagged as UTC for the trigger."""
    return moment.astimezone(zone).replace(tzinfo=UTC, fold=0)


def _instant(wall: datetime, zone: tzinfo) -> datetime:
    """The instant of a wall-clock time in ``zone`` (first occurrence; gaps shift forward)."""
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {moment!r}")
    return moment.astimezone(UTC)
