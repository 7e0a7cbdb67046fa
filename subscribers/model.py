"""Subscribers as the rest of the project sees them: plain frozen data and their states.

A subscriber has one address and a global status; each newsletter they signed up for is a
``Subscription`` with its own status, sections and cadence, so leaving one newsletter does
not end the others. ``Status.UNSUBSCRIBED`` on the subscriber means "from everything".
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any


class Status(enum.Enum):
    """A subscriber's global state; only ACTIVE ones receive anything."""

    PENDING = "pending"  # signed up, address not yet confirmed
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"  # from everything
    BOUNCED = "bounced"
    COMPLAINED = "complained"


class SubscriptionStatus(enum.Enum):
    PENDING = "pending"
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"


class Cadence(enum.Enum):
    EACH = "each"  # every edition
    WEEKLY = "weekly"  # a weekly roll-up, where the newsletter offers one


class Source(enum.Enum):
    """Where consent (or a change) came from."""

    FORM = "form"
    IMPORT = "import"
    API = "api"
    LINK = "link"  # a signed link in an email (confirm, unsubscribe, preferences)
    PROVIDER = "provider"  # a bounce or complaint reported by the email provider
    OPERATOR = "operator"  # the CLI


@dataclass(frozen=True, slots=True)
class Subscriber:
    id: int
    email: str
    name: str | None
    status: Status
    timezone: str | None
    send_hour: int | None
    consent_source: Source
    consent_at: datetime
    created_at: datetime
    confirmed_at: datetime | None = None
    unsubscribed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Subscription:
    newsletter: str
    status: SubscriptionStatus
    sections: tuple[str, ...] | None  # None: every section of the newsletter
    cadence: Cadence
    created_at: datetime
    unsubscribed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AudienceMember:
    """What sending needs of one subscriber of one newsletter, and nothing more."""

    id: int
    email: str
    name: str | None
    sections: tuple[str, ...] | None
    timezone: str | None
    send_hour: int | None


@dataclass(frozen=True, slots=True)
class Event:
    """One change in a subscriber's history."""

    at: datetime
    kind: str
    newsletter: str | None
    source: Source
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Suppression:
    """An address that must never be mailed; ``email`` is None once its data was erased."""

    email_hash: str
    email: str | None
    reason: str
    source: Source
    created_at: datetime
