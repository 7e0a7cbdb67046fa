"""Row mapping and one-connection steps of the subscriber store. I/O.

Each function works inside a transaction the store opened, so a change and its event
history are written together or not at all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Row, and_, bindparam, select

from subscribers.addresses import address_hash, normalize
from subscribers.model import (
    AudienceMember,
    Cadence,
    Source,
    Status,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from subscribers.schema import subscriber_events, subscribers, subscriptions, suppressions

BLOCKED = (Status.UNSUBSCRIBED, Status.BOUNCED, Status.COMPLAINED)


def normalized_or_raw(email: str) -> str:
    """Providers report addresses as they were sent; an odd one is suppressed as it is."""
    try:
        return normalize(email)
    except ValueError:
        return email.strip()


def receiving(newsletter: str, cadence: Cadence = Cadence.EACH) -> Any:
    """Who receives ``newsletter`` at ``cadence`` now: active, confirmed, subscribed,
    not suppressed. The one definition the audience walk and send-time checks share."""
    return (
        select(
            subscribers.c.id,
            subscribers.c.email,
            subscribers.c.name,
            subscriptions.c.sections,
            subscribers.c.timezone,
            subscribers.c.send_hour,
        )
        .join(subscriptions, subscriptions.c.subscriber_id == subscribers.c.id)
        .where(
            subscribers.c.status == Status.ACTIVE.value,
            subscribers.c.confirmed_at.is_not(None),
            subscriptions.c.newsletter == newsletter,
            subscriptions.c.status == SubscriptionStatus.ACTIVE.value,
            subscriptions.c.cadence == cadence.value,
            ~select(suppressions.c.email_hash)
            .where(suppressions.c.email_hash == subscribers.c.email_hash)
            .exists(),
        )
    )


def audience_page(newsletter: str, after: int, size: int, cadence: Cadence = Cadence.EACH) -> Any:
    query = receiving(newsletter, cadence).where(subscribers.c.id > after)
    return query.order_by(subscribers.c.id).limit(size)


def listing_page(status: Status | None, newsletter: str | None, after: int, size: int) -> Any:
    query = select(subscribers).where(subscribers.c.id > after)
    if status is not None:
        query = query.where(subscribers.c.status == status.value)
    if newsletter is not None:
        query = query.where(
            select(subscriptions.c.subscriber_id)
            .where(subscriptions.c.subscriber_id == subscribers.c.id)
            .where(subscriptions.c.newsletter == newsletter)
            .exists()
        )
    return query.order_by(subscribers.c.id).limit(size)


def one(conn: Connection, condition: Any) -> Subscriber | None:
    row = conn.execute(select(subscribers).where(condition)).first()
    return subscriber(row) if row else None


def subscriber(row: Row[Any]) -> Subscriber:
    return Subscriber(
        id=row.id,
        email=row.email,
        name=row.name,
        status=Status(row.status),
        timezone=row.timezone,
        send_hour=row.send_hour,
        consent_source=Source(row.consent_source),
        consent_at=row.consent_at,
        created_at=row.created_at,
        confirmed_at=row.confirmed_at,
        unsubscribed_at=row.unsubscribed_at,
    )


def subscription(row: Row[Any]) -> Subscription:
    return Subscription(
        newsletter=row.newsletter,
        status=SubscriptionStatus(row.status),
        sections=sections_from(row.sections),
        cadence=Cadence(row.cadence),
        created_at=row.created_at,
        unsubscribed_at=row.unsubscribed_at,
    )


def member(row: Row[Any]) -> AudienceMember:
    return AudienceMember(
        id=row.id,
        email=row.email,
        name=row.name,
        sections=sections_from(row.sections),
        timezone=row.timezone,
        send_hour=row.send_hour,
    )


def sections_json(sections: Sequence[str] | None) -> str | None:
    return orjson.dumps(list(sections)).decode() if sections is not None else None


def sections_from(stored: str | None) -> tuple[str, ...] | None:
    return tuple(orjson.loads(stored)) if stored is not None else None


def listed(sections: Sequence[str] | None) -> list[str] | None:
    return list(sections) if sections is not None else None


def suppressed(conn: Connection, address: str) -> bool:
    query = select(suppressions.c.email_hash).where(
        suppressions.c.email_hash == address_hash(address)
    )
    return conn.execute(query).first() is not None


def insert(
    conn: Connection, address: str, name: str | None, status: Status, source: Source, now: datetime
) -> Subscriber:
    values = {
        "email": address,
        "email_hash": address_hash(address),
        "name": name,
        "status": status.value,
        "consent_source": source.value,
        "consent_at": now,
        "created_at": now,
        "updated_at": now,
        "confirmed_at": now if status is Status.ACTIVE else None,
    }
    new_id = conn.execute(subscribers.insert().values(**values)).inserted_primary_key[0]  # type: ignore[index]
    event(conn, new_id, "created", None, source, now, status=status.value)
    created = one(conn, subscribers.c.id == new_id)
    assert created is not None
    return created


def set_status(
    conn: Connection,
    subscriber_id: int,
    status: Status,
    now: datetime,
    source: Source,
    newsletter: str | None,
    **detail: Any,
) -> None:
    values: dict[str, Any] = {"status": status.value, "updated_at": now}
    if status in BLOCKED:
        values["unsubscribed_at"] = now
    conn.execute(subscribers.update().where(subscribers.c.id == subscriber_id).values(**values))
    event(conn, subscriber_id, f"status_{status.value}", newsletter, source, now, **detail)


def subscription_key(subscriber_id: int, newsletter: str) -> Any:
    return and_(
        subscriptions.c.subscriber_id == subscriber_id, subscriptions.c.newsletter == newsletter
    )


def subscription_of(conn: Connection, subscriber_id: int, newsletter: str) -> Subscription | None:
    row = conn.execute(
        select(subscriptions).where(subscription_key(subscriber_id, newsletter))
    ).first()
    return subscription(row) if row else None


def upsert_subscription(
    conn: Connection,
    subscriber_id: int,
    newsletter: str,
    status: SubscriptionStatus,
    sections: Sequence[str] | None,
    now: datetime,
) -> None:
    values = {"status": status.value, "sections": sections_json(sections), "unsubscribed_at": None}
    if conn.execute(
        subscriptions.update().where(subscription_key(subscriber_id, newsletter)).values(**values)
    ).rowcount:
        return
    conn.execute(
        subscriptions.insert().values(
            subscriber_id=subscriber_id,
            newsletter=newsletter,
            cadence=Cadence.EACH.value,
            created_at=now,
            **values,
        )
    )


def set_subscription(
    conn: Connection, subscriber_id: int, newsletter: str, status: SubscriptionStatus, now: datetime
) -> None:
    left = now if status is SubscriptionStatus.UNSUBSCRIBED else None
    conn.execute(
        subscriptions.update()
        .where(subscription_key(subscriber_id, newsletter))
        .values(status=status.value, unsubscribed_at=left)
    )


def leave_all(conn: Connection, subscriber_id: int, now: datetime) -> None:
    conn.execute(
        subscriptions.update()
        .where(subscriptions.c.subscriber_id == subscriber_id)
        .where(subscriptions.c.status != SubscriptionStatus.UNSUBSCRIBED.value)
        .values(status=SubscriptionStatus.UNSUBSCRIBED.value, unsubscribed_at=now)
    )


def event(
    conn: Connection,
    subscriber_id: int,
    kind: str,
    newsletter: str | None,
    source: Source,
    now: datetime,
    **detail: Any,
) -> None:
    conn.execute(
        subscriber_events.insert().values(
            **event_row(subscriber_id, kind, newsletter, source, now, detail)
        )
    )


def event_row(
    subscriber_id: int,
    kind: str,
    newsletter: str | None,
    source: Source,
    now: datetime,
    detail: dict[str, Any],
) -> dict[str, Any]:
    """One row of the event history, for a single insert or a batch."""
    return {
        "subscriber_id": subscriber_id,
        "at": now,
        "kind": kind,
        "newsletter": newsletter,
        "source": source.value,
        "detail": orjson.dumps(detail).decode(),
    }


# -- set-based steps: one statement for a whole batch of rows ------------------------------------


def subscribers_by_hash(conn: Connection, hashes: Collection[str]) -> dict[str, Subscriber]:
    """The subscribers whose address hashes (``address_hash``) are among ``hashes``."""
    query = select(subscribers).where(subscribers.c.email_hash.in_(hashes))
    return {row.email_hash: subscriber(row) for row in conn.execute(query)}


def subscriptions_by_subscriber(
    conn: Connection, ids: Collection[int], newsletter: str | None = None
) -> dict[int, list[Subscription]]:
    """The subscriptions of each of ``ids`` (only to ``newsletter`` if given), by name."""
    query = select(subscriptions).where(subscriptions.c.subscriber_id.in_(ids))
    if newsletter is not None:
        query = query.where(subscriptions.c.newsletter == newsletter)
    found: dict[int, list[Subscription]] = defaultdict(list)
    for row in conn.execute(query.order_by(subscriptions.c.newsletter)):
        found[row.subscriber_id].append(subscription(row))
    return found


def suppressed_hashes(conn: Connection, hashes: Collection[str]) -> set[str]:
    """Those of ``hashes`` (``address_hash``) on the suppression list."""
    query = select(suppressions.c.email_hash).where(suppressions.c.email_hash.in_(hashes))
    return set(conn.execute(query).scalars())


def insert_subscribers(conn: Connection, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert many subscribers at once; their new ids, in the order of ``rows``."""
    if not rows:
        return []
    statement = subscribers.insert().returning(subscribers.c.id, sort_by_parameter_order=True)
    return list(conn.execute(statement, rows).scalars())


def insert_subscriptions(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        conn.execute(subscriptions.insert(), rows)


def insert_events(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        conn.execute(subscriber_events.insert(), rows)


SUBSCRIBER_UPDATE = (
    subscribers.update()
    .where(subscribers.c.id == bindparam("b_id"))
    .values(
        {
            column: bindparam(f"b_{column}")
            for column in (
                "name",
                "timezone",
                "send_hour",
                "status",
                "confirmed_at",
                "consent_source",
                "consent_at",
                "updated_at",
            )
        }
    )
)


def update_subscribers(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Update many subscribers at once; each row holds every ``b_``-prefixed column."""
    if rows:
        conn.execute(SUBSCRIBER_UPDATE, rows)


def update_subscriptions(conn: Connection, newsletter: str, rows: Sequence[dict[str, Any]]) -> None:
    """Set status and sections of many subscriptions to ``newsletter`` (keys b_id, ...)."""
    if rows:
        statement = (
            subscriptions.update()
            .where(subscriptions.c.subscriber_id == bindparam("b_id"))
            .where(subscriptions.c.newsletter == newsletter)
            .values(status=bindparam("b_status"), sections=bindparam("b_sections"))
        )
        conn.execute(statement, rows)
