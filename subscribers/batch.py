"""An import batch against the database: read what is held, write the plan. I/O.

Set-based, so that 100,000 rows take seconds: three queries read what the store holds for
a whole batch, and one executemany writes each kind of change with its events. The rules
themselves are ``subscribers.merge``'s and do no I/O; this module only moves rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from subscribers.addresses import address_hash
from subscribers.imports import ImportRow
from subscribers.merge import (
    BatchPlan,
    Held,
    new_subscriber_values,
    new_subscription_values,
    person_values,
    subscription_values,
)
from subscribers.model import Source, Status
from subscribers.sql import (
    event_row,
    insert_events,
    insert_subscribers,
    insert_subscriptions,
    listed,
    subscribers_by_hash,
    subscriptions_by_subscriber,
    suppressed_hashes,
    update_subscribers,
    update_subscriptions,
)


def held_for(conn: Connection, emails: Sequence[str], newsletter: str) -> dict[str, Held]:
    """What the store holds about each of ``emails``: three queries for a whole batch."""
    hashes = {email: address_hash(email) for email in emails}
    people = subscribers_by_hash(conn, hashes.values())
    theirs = subscriptions_by_subscriber(conn, [p.id for p in people.values()], newsletter)
    blocked = suppressed_hashes(conn, hashes.values())
    held: dict[str, Held] = {}
    for email, key in hashes.items():
        person = people.get(key)
        mine = theirs.get(person.id) if person is not None else None
        held[email] = Held(person, mine[0] if mine else None, key in blocked)
    return held


def write_plan(
    conn: Connection, plan: BatchPlan, newsletter: str, source: Source, now: datetime
) -> None:
    """Write a batch's plan: new subscribers, their subscriptions, updates, then events."""
    ids = insert_subscribers(conn, [new_subscriber_values(r, source, now) for r in plan.new])
    added = list(zip(ids, plan.new, strict=True))
    joining = [(i, r.sections) for i, r in added]
    joining += [(u.subscriber.id, u.row.sections) for u in plan.updates if u.subscription is None]
    insert_subscriptions(conn, [new_subscription_values(i, newsletter, s, now) for i, s in joining])
    people = [person_values(u, source, now) for u in plan.updates if u.touches_person]
    update_subscribers(conn, people)
    kept = [
        subscription_values(u) for u in plan.updates if u.subscription and u.touches_subscription
    ]
    update_subscriptions(conn, newsletter, kept)
    insert_events(conn, _events(plan, added, newsletter, source, now))


def _events(
    plan: BatchPlan,
    added: list[tuple[int, ImportRow]],
    newsletter: str,
    source: Source,
    now: datetime,
) -> list[dict[str, Any]]:
    kind = "imported" if source is Source.IMPORT else "added"
    events = [
        event_row(i, kind, newsletter, source, now, _created(row.sections)) for i, row in added
    ]
    events += [
        event_row(
            u.subscriber.id, "updated", newsletter, source, now, {"changed": sorted(u.changed)}
        )
        for u in plan.updates
    ]
    return events


def _created(sections: tuple[str, ...] | None) -> dict[str, Any]:
    return {"status": Status.ACTIVE.value, "sections": listed(sections)}
