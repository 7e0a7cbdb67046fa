"""Provider events as received from webhooks, kept raw, unique per provider and key. I/O.

``record`` is an insert that does nothing when (provider, event_key) is already stored, so a
provider delivering the same event twice, or two web processes taking it at once, leaves
one row; its answer says whether this call was the one that stored it. ``soft_bounces``
counts the messages to an address that soft-bounced, for the suppression threshold: a
provider retrying one message (Mailgun's "temporary" failures) counts once, not per retry.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Engine, func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from digest.deliver.events import EventKind, ProviderEvent
from digest.store.ledger_schema import provider_events

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class EventStore:
    def __init__(self, engine: Engine, clock: Clock = utc_now) -> None:
        self.engine = engine
        self.clock = clock

    def seen(self, provider: str, event_key: str) -> bool:
        query = select(provider_events.c.id).where(
            provider_events.c.provider == provider, provider_events.c.event_key == event_key
        )
        with self.engine.connect() as conn:
            return conn.execute(query).first() is not None

    def record(self, event: ProviderEvent) -> bool:
        """Store the event with its raw body; False when it was already stored."""
        with self.engine.begin() as conn:
            insert = postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert
            statement = (
                insert(provider_events)
                .values(_row(event, self.clock()))
                .on_conflict_do_nothing()
                .returning(provider_events.c.id)  # rowcount is not reliable here on psycopg
            )
            return conn.execute(statement).first() is not None

    def soft_bounces(self, email: str, besides: ProviderEvent | None = None) -> int:
        """Messages to ``email`` that soft-bounced, counting ``besides`` if not yet stored."""
        message = func.coalesce(provider_events.c.provider_message_id, provider_events.c.event_key)
        query = (
            select(message)
            .distinct()
            .where(
                provider_events.c.email == email,
                provider_events.c.kind == EventKind.BOUNCE_SOFT.value,
            )
        )
        with self.engine.connect() as conn:
            messages = set(conn.execute(query).scalars())
        if besides is not None and besides.kind is EventKind.BOUNCE_SOFT:
            messages.add(besides.provider_message_id or besides.event_key)
        return len(messages)


def _row(event: ProviderEvent, received_at: datetime) -> dict[str, Any]:
    return {
        "provider": event.provider,
        "event_key": event.event_key,
        "kind": event.kind.value,
        "email": event.email,
        "provider_message_id": event.provider_message_id,
        "occurred_at": event.occurred_at,
        "received_at": received_at,
        "raw": orjson.dumps(event.raw).decode(),
    }
