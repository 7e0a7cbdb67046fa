"""Cron slots: crontab weekdays, daylight-saving changes, exact fire times, impossible cadences."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from digest.errors import ConfigError
from digest.newsletters import Newsletter, SectionConfig
from digest.slots import cadence_trigger, next_slot, slot_at_or_before, upcoming_slots

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


def newsletter(cadence: str, timezone: str = "Europe/Paris", name: str = "daily") -> Newsletter:
    return Newsletter(
        name=name,
        title="The Meridian Daily",
        sender_name="The Meridian Review",
        sender_address="digest@meridian.example",
        timezone=timezone,
        cadence=cadence,
        sections=(SectionConfig("Science"),),
    )


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# -- daily 07:00 in Paris across both daylight-saving changes ---------------------------------


def test_daily_paris_across_the_march_change() -> None:
    daily = newsletter("0 7 * * *")
    slots = upcoming_slots(daily, utc(2025, 3, 28, 12, 0), 4)
    assert slots == [
        utc(2025, 3, 29, 6, 0),  # 07:00 CET
        utc(2025, 3, 30, 5, 0),  # 07:00 CEST, the morning the clocks went forward
        utc(2025, 3, 31, 5, 0),
        utc(2025, 4, 1, 5, 0),
    ]
    assert all(slot.astimezone(PARIS).hour == 7 for slot in slots)
    assert all(slot.tzinfo is UTC for slot in slots)


def test_daily_paris_across_the_october_change() -> None:
    daily = newsletter("0 7 * * *")
    slots = upcoming_slots(daily, utc(2025, 10, 24, 12, 0), 3)
    assert slots == [utc(2025, 10, 25, 5, 0), utc(2025, 10, 26, 6, 0), utc(2025, 10, 27, 6, 0)]
    assert all(slot.astimezone(PARIS).hour == 7 for slot in slots)


def test_at_or_before_across_the_march_change() -> None:
    daily = newsletter("0 7 * * *")
    assert slot_at_or_before(daily, utc(2025, 3, 30, 4, 59)) == utc(2025, 3, 29, 6, 0)
    assert slot_at_or_before(daily, utc(2025, 3, 30, 5, 0)) == utc(2025, 3, 30, 5, 0)
    assert slot_at_or_before(daily, utc(2025, 3, 30, 5, 30)) == utc(2025, 3, 30, 5, 0)


def test_at_or_before_across_the_october_change() -> None:
    daily = newsletter("0 7 * * *")
    assert slot_at_or_before(daily, utc(2025, 10, 26, 5, 59)) == utc(2025, 10, 25, 5, 0)
    assert slot_at_or_before(daily, utc(2025, 10, 26, 6, 0)) == utc(2025, 10, 26, 6, 0)


def test_the_moment_may_be_given_in_any_zone() -> None:
    daily = newsletter("0 7 * * *")
    local = datetime(2025, 3, 30, 7, 30, tzinfo=PARIS)
    assert slot_at_or_before(daily, local) == utc(2025, 3, 30, 5, 0)
    assert next_slot(daily, local) == utc(2025, 3, 31, 5, 0)


# -- local times the clock skips or repeats ----------------------------------------------------


def test_a_time_in_the_spring_gap_fires_once_an_hour_later() -> None:
    # 02:30 does not exist in Paris on 30 March 2025 (02:00 CET -> 03:00 CEST): the slot is
    # the instant 02:30 CET would have been, 01:30Z = 03:30 CEST.
    night = newsletter("30 2 * * *")
    assert upcoming_slots(night, utc(2025, 3, 29, 12, 0), 3) == [
        utc(2025, 3, 30, 1, 30),
        utc(2025, 3, 31, 0, 30),
        utc(2025, 4, 1, 0, 30),
    ]
    assert slot_at_or_before(night, utc(2025, 3, 30, 1, 29)) == utc(2025, 3, 29, 1, 30)
    assert slot_at_or_before(night, utc(2025, 3, 30, 1, 30)) == utc(2025, 3, 30, 1, 30)


def test_a_time_in_the_repeated_autumn_hour_fires_once() -> None:
    # 02:30 happens twice in Paris on 26 October 2025 (00:30Z CEST and 01:30Z CET).
    night = newsletter("30 2 * * *")
    assert upcoming_slots(night, utc(2025, 10, 25, 12, 0), 3) == [
        utc(2025, 10, 26, 0, 30),
        utc(2025, 10, 27, 1, 30),
        utc(2025, 10, 28, 1, 30),
    ]
    # between the two occurrences and after the second, the slot is still the first one
    assert slot_at_or_before(night, utc(2025, 10, 26, 1, 0)) == utc(2025, 10, 26, 0, 30)
    assert slot_at_or_before(night, utc(2025, 10, 26, 1, 45)) == utc(2025, 10, 26, 0, 30)
    assert next_slot(night, utc(2025, 10, 26, 0, 30)) == utc(2025, 10, 27, 1, 30)


def test_sub_hourly_slots_stay_strictly_increasing_through_the_spring_gap() -> None:
    half_hourly = newsletter("*/30 1-3 * * *")
    slots = upcoming_slots(half_hourly, utc(2025, 3, 29, 23, 30), 5)
    # 01:00, 01:30 CET; 02:00 and 02:30 do not exist and coincide with 03:00, 03:30 CEST
    assert slots == [
        utc(2025, 3, 30, 0, 0),
        utc(2025, 3, 30, 0, 30),
        utc(2025, 3, 30, 1, 0),
        utc(2025, 3, 30, 1, 30),
        utc(2025, 3, 30, 23, 0),
    ]


def test_sub_hourly_slots_fire_once_per_wall_time_in_the_repeated_hour() -> None:
    half_hourly = newsletter("*/30 1-3 * * *")
    slots = upcoming_slots(half_hourly, utc(2025, 10, 25, 22, 0), 6)
    assert slots == [
        utc(2025, 10, 25, 23, 0),  # 01:00 CEST
        utc(2025, 10, 25, 23, 30),
        utc(2025, 10, 26, 0, 0),  # 02:00 CEST, first occurrence
        utc(2025, 10, 26, 0, 30),  # 02:30 CEST
        utc(2025, 10, 26, 2, 0),  # 03:00 CET: 02:00 and 02:30 CET do not fire again
        utc(2025, 10, 26, 2, 30),
    ]
    assert slot_at_or_before(half_hourly, utc(2025, 10, 26, 1, 59)) == utc(2025, 10, 26, 0, 30)


# -- weekly Monday 08:00 in New York -----------------------------------------------------------


def test_weekly_monday_new_york_uses_crontab_weekday_numbers() -> None:
    weekly = newsletter("0 8 * * 1", "America/New_York", name="weekly")
    slots = upcoming_slots(weekly, utc(2025, 3, 1, 0, 0), 3)
    # EST until Sunday 9 March 2025, EDT after
    assert slots == [utc(2025, 3, 3, 13, 0), utc(2025, 3, 10, 12, 0), utc(2025, 3, 17, 12, 0)]
    for slot in slots:
        local = slot.astimezone(NEW_YORK)
        assert (local.strftime("%A"), local.hour, local.minute) == ("Monday", 8, 0)
    assert slot_at_or_before(weekly, utc(2025, 3, 10, 11, 59)) == utc(2025, 3, 3, 13, 0)
    assert slot_at_or_before(weekly, utc(2025, 3, 16, 0, 0)) == utc(2025, 3, 10, 12, 0)


@pytest.mark.parametrize(
    ("weekday", "expected"),
    [
        ("1", ["Monday"]),
        ("mon", ["Monday"]),
        ("0", ["Sunday"]),
        ("7", ["Sunday"]),
        ("1-5", ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]),
        ("sat,sun", ["Saturday", "Sunday"]),
        ("5-7", ["Friday", "Saturday", "Sunday"]),
        ("*/2", ["Tuesday", "Thursday", "Saturday", "Sunday"]),
    ],
)
def test_weekday_field_follows_crontab(weekday: str, expected: list[str]) -> None:
    weekly = newsletter(f"0 8 * * {weekday}", "UTC")
    # the week of Monday 2 June 2025, from the Monday on
    slots = upcoming_slots(weekly, utc(2025, 6, 1, 23, 0), len(expected))
    assert all(slot < utc(2025, 6, 9) for slot in slots)
    assert sorted(slot.strftime("%A") for slot in slots) == sorted(expected)


# -- exact fire times, long gaps, impossible cadences ------------------------------------------


def test_a_moment_exactly_on_a_slot() -> None:
    daily = newsletter("0 7 * * *")
    slot = utc(2025, 6, 10, 5, 0)
    assert slot_at_or_before(daily, slot) == slot
    assert next_slot(daily, slot) == utc(2025, 6, 11, 5, 0)
    assert slot_at_or_before(daily, slot - timedelta(microseconds=1)) == utc(2025, 6, 9, 5, 0)
    assert next_slot(daily, slot - timedelta(microseconds=1)) == slot


def test_a_yearly_cadence_is_found_far_back() -> None:
    yearly = newsletter("0 9 1 1 *")
    assert slot_at_or_before(yearly, utc(2025, 12, 31, 0, 0)) == utc(2025, 1, 1, 8, 0)
    assert next_slot(yearly, utc(2025, 1, 1, 8, 0)) == utc(2026, 1, 1, 8, 0)


@pytest.mark.parametrize("cadence", ["0 0 30 2 *", "0 0 31 4 *", "0 0 29 2 *"])
def test_an_impossible_cadence_is_a_config_error_naming_the_newsletter(cadence: str) -> None:
    never = newsletter(cadence, name="never")
    for compute in (slot_at_or_before, next_slot):
        with pytest.raises(ConfigError, match=r"newsletter 'never'.*cadence") as caught:
            compute(never, utc(2025, 6, 1, 0, 0))
        assert "February" in str(caught.value) or "does not exist" in str(caught.value)


def test_a_naive_moment_is_refused() -> None:
    daily = newsletter("0 7 * * *")
    with pytest.raises(ValueError, match="timezone-aware"):
        slot_at_or_before(daily, datetime(2025, 6, 1, 7, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        next_slot(daily, datetime(2025, 6, 1, 7, 0))


def test_upcoming_slots_with_zero_count_is_empty() -> None:
    assert upcoming_slots(newsletter("0 7 * * *"), utc(2025, 6, 1), 0) == []


@pytest.mark.parametrize(
    ("cadence", "message"),
    [
        ("0 7 * *", "Wrong number of fields; got 4"),
        ("61 7 * * *", "higher than the maximum"),
        ("0 7 * * 8", "out of range"),
        ("0 7 * * fri-mon", "runs backwards"),
        ("0 7 13 * 5", "both the day of the month"),
        ("0 7 * * funday", "invalid day of the week"),
    ],
)
def test_cadence_trigger_rejects_bad_crontabs(cadence: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cadence_trigger(cadence)


def test_cadence_trigger_in_a_zone_fires_on_crontab_weekdays() -> None:
    trigger = cadence_trigger("0 8 * * 1", NEW_YORK)
    fire = trigger.get_next_fire_time(None, datetime(2025, 3, 1, tzinfo=NEW_YORK))
    assert fire == datetime(2025, 3, 3, 8, 0, tzinfo=NEW_YORK)
