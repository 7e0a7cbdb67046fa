"""What an imported row does to the subscriber the store holds: a pure decision, then values.

An import is the publisher asserting that each person on the list consented elsewhere, so:

- a new address becomes an ACTIVE, confirmed subscriber with an ACTIVE subscription;
- a PENDING subscriber (or subscription) is activated, the consent recorded as the import's;
- an active one is updated only where a non-empty cell differs from what is stored;
- an address on the suppression list, a subscriber who unsubscribed from everything, bounced
  or complained, or one who left this newsletter, is never (re)activated: the row is rejected
  with that reason ("suppressed", "unsubscribed", "bounced", "complained",
  "unsubscribed from NEWSLETTER"), which says more than a silent "unchanged" would.

Nothing here reads or writes: ``plan_batch`` turns rows and what the store holds into a plan,
and the ``*_values`` functions into the rows the store's set-based statements write.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from subscribers.addresses import address_hash
from subscribers.imports import ImportOutcome, ImportRow, Rejection
from subscribers.model import (
    Cadence,
    Source,
    Status,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from subscribers.sql import BLOCKED, sections_json

PERSON_FIELDS = frozenset({"name", "timezone", "send_hour", "status"})
SUBSCRIPTION_FIELDS = frozenset({"subscription", "sections"})


@dataclass(frozen=True, slots=True)
class Held:
    """What the store holds about one address: read for a whole batch in a few queries."""

    subscriber: Subscriber | None
    subscription: Subscription | None  # to the newsletter being imported into
    suppressed: bool


@dataclass(frozen=True, slots=True)
class Update:
    """An existing subscriber the row changes; ``changed`` names what differs."""

    row: ImportRow
    subscriber: Subscriber
    subscription: Subscription | None
    changed: frozenset[str]

    @property
    def touches_person(self) -> bool:
        return bool(self.changed & PERSON_FIELDS)

    @property
    def touches_subscription(self) -> bool:
        return bool(self.changed & SUBSCRIPTION_FIELDS)


@dataclass(slots=True)
class BatchPlan:
    outcome: ImportOutcome = field(default_factory=ImportOutcome)
    new: list[ImportRow] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)


def plan_batch(rows: Sequence[ImportRow], held: dict[str, Held], newsletter: str) -> BatchPlan:
    """Sort a batch into new subscribers, updates, unchanged rows and rejections."""
    plan = BatchPlan()
    for row in rows:
        known = held.get(row.email, Held(None, None, False))
        refusal = refused(known, newsletter)
        if refusal is not None:
            plan.outcome.rejected.append(Rejection(row.line, row.email, refusal))
        elif known.subscriber is None:
            plan.new.append(row)
        elif changed := changes(row, known.subscriber, known.subscription):
            plan.updates.append(Update(row, known.subscriber, known.subscription, changed))
        else:
            plan.outcome.unchanged += 1
    plan.outcome.added = len(plan.new)
    plan.outcome.updated = len(plan.updates)
    return plan


def refused(held: Held, newsletter: str) -> str | None:
    """Why the address may not be (re)activated by an import, or None."""
    if held.suppressed:
        return "suppressed"
    if held.subscriber is not None and held.subscriber.status in BLOCKED:
        return held.subscriber.status.value
    if (
        held.subscription is not None
        and held.subscription.status is SubscriptionStatus.UNSUBSCRIBED
    ):
        return f"unsubscribed from {newsletter}"
    return None


def changes(row: ImportRow, current: Subscriber, mine: Subscription | None) -> frozenset[str]:
    """The fields the row changes; an empty cell (None) changes nothing."""
    asserted = {"name": row.name, "timezone": row.timezone, "send_hour": row.send_hour}
    stored = {"name": current.name, "timezone": current.timezone, "send_hour": current.send_hour}
    found = {key for key, value in asserted.items() if value is not None and value != stored[key]}
    if current.status is Status.PENDING:
        found.add("status")
    if mine is None or mine.status is SubscriptionStatus.PENDING:
        found.add("subscription")
    if mine is not None and row.sections is not None and row.sections != mine.sections:
        found.add("sections")
    return frozenset(found)


# -- the rows the store writes ----------------------------------------------------------------


def new_subscriber_values(row: ImportRow, source: Source, now: datetime) -> dict[str, Any]:
    return {
        "email": row.email,
        "email_hash": address_hash(row.email),
        "name": row.name,
        "status": Status.ACTIVE.value,
        "timezone": row.timezone,
        "send_hour": row.send_hour,
        "consent_source": source.value,
        "consent_at": now,
        "created_at": now,
        "confirmed_at": now,
        "updated_at": now,
    }


def new_subscription_values(
    subscriber_id: int, newsletter: str, sections: tuple[str, ...] | None, now: datetime
) -> dict[str, Any]:
    return {
        "subscriber_id": subscriber_id,
        "newsletter": newsletter,
        "status": SubscriptionStatus.ACTIVE.value,
        "sections": sections_json(sections),
        "cadence": Cadence.EACH.value,
        "created_at": now,
        "unsubscribed_at": None,
    }


def person_values(update: Update, source: Source, now: datetime) -> dict[str, Any]:
    """The subscriber's columns after the update, keyed for ``sql.update_subscribers``."""
    row, current = update.row, update.subscriber
    activating = current.status is Status.PENDING
    return {
        "b_id": current.id,
        "b_name": current.name if row.name is None else row.name,
        "b_timezone": current.timezone if row.timezone is None else row.timezone,
        "b_send_hour": current.send_hour if row.send_hour is None else row.send_hour,
        "b_status": Status.ACTIVE.value,
        "b_confirmed_at": now if activating else current.confirmed_at,
        "b_consent_source": source.value if activating else current.consent_source.value,
        "b_consent_at": now if activating else current.consent_at,
        "b_updated_at": now,
    }


def subscription_values(update: Update) -> dict[str, Any]:
    """An existing subscription's columns after the update, for ``sql.update_subscriptions``."""
    assert update.subscription is not None
    sections = update.row.sections
    return {
        "b_id": update.subscriber.id,
        "b_status": SubscriptionStatus.ACTIVE.value,
        "b_sections": sections_json(update.subscription.sections if sections is None else sections),
    }
