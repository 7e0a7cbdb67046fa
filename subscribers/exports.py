"""Subscribers as export rows and JSON objects. Computes only; the CLI writes them page by page.

The CSV has the import's columns first (email, name, sections, timezone, send_hour) and then
what only an export knows (status, the subscription's newsletter, status and cadence, consent
and times), so an export of one newsletter re-imports into it as unchanged. It has one row
per subscription, and one row with empty subscription cells for a subscriber who has none.
Sections are joined with ``|``; "every section" is an empty cell, as the import reads it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from subscribers.imports import COLUMNS, EXPORTED
from subscribers.model import Subscriber, Subscription

CSV_COLUMNS = COLUMNS + EXPORTED


def csv_rows(person: Subscriber, subscriptions: list[Subscription]) -> list[list[str]]:
    """The CSV rows of one subscriber: one per subscription (at least one)."""
    if not subscriptions:
        return [_csv_row(person, None)]
    return [_csv_row(person, mine) for mine in subscriptions]


def _csv_row(person: Subscriber, mine: Subscription | None) -> list[str]:
    values: dict[str, Any] = {
        "email": person.email,
        "name": person.name,
        "sections": "|".join(mine.sections) if mine and mine.sections else None,
        "timezone": person.timezone,
        "send_hour": person.send_hour,
        "status": person.status.value,
        "newsletter": mine.newsletter if mine else None,
        "subscription_status": mine.status.value if mine else None,
        "cadence": mine.cadence.value if mine else None,
        "consent_source": person.consent_source.value,
        "consent_at": person.consent_at,
        "created_at": person.created_at,
        "confirmed_at": person.confirmed_at,
        "unsubscribed_at": person.unsubscribed_at,
    }
    return [_cell(values[column]) for column in CSV_COLUMNS]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def subscriber_json(person: Subscriber, subscriptions: list[Subscription]) -> dict[str, Any]:
    """Everything the store holds about one subscriber except the event history."""
    return {
        **_identity(person),
        "timezone": person.timezone,
        "send_hour": person.send_hour,
        "consent_source": person.consent_source.value,
        "consent_at": _time(person.consent_at),
        "created_at": _time(person.created_at),
        "confirmed_at": _time(person.confirmed_at),
        "unsubscribed_at": _time(person.unsubscribed_at),
        "subscriptions": [subscription_json(mine) for mine in subscriptions],
    }


def subscription_json(mine: Subscription) -> dict[str, Any]:
    return {
        "newsletter": mine.newsletter,
        "status": mine.status.value,
        "sections": list(mine.sections) if mine.sections is not None else None,
        "cadence": mine.cadence.value,
        "created_at": _time(mine.created_at),
        "unsubscribed_at": _time(mine.unsubscribed_at),
    }


def summary_json(person: Subscriber, subscriptions: list[Subscription]) -> dict[str, Any]:
    """What ``digest subscribers list`` shows of one subscriber."""
    newsletters = {mine.newsletter: mine.status.value for mine in subscriptions}
    return {**_identity(person), "newsletters": newsletters}


def _identity(person: Subscriber) -> dict[str, Any]:
    return {
        "id": person.id,
        "email": person.email,
        "name": person.name,
        "status": person.status.value,
    }


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
