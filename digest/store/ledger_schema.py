"""The delivery ledger's tables: one row per (edition, subscriber), and provider events.

``webhook_tokens`` remembers the one-time tokens of signed webhooks (Mailgun's), so a
captured request replayed within its freshness window is refused by every web process.

On the project's one metadata, beside the article and edition tables.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from digest.store.schema import UTCDateTime, metadata

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("edition_id", String(16), ForeignKey("editions.id", ondelete="CASCADE"), nullable=False),
    Column("subscriber_id", Integer, nullable=False),
    Column("email", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("skip_reason", Text),
    Column("provider", String(16)),
    Column("provider_message_id", Text),
    Column("batch_key", String(64)),
    Column("lease_owner", String(64)),
    Column("lease_until", UTCDateTime),
    Column("uncertain", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    UniqueConstraint("edition_id", "subscriber_id"),
)
Index("ix_deliveries_claim", deliveries.c.edition_id, deliveries.c.status, deliveries.c.due_at)
Index("ix_deliveries_subscriber_id", deliveries.c.subscriber_id)
Index("ix_deliveries_provider_message_id", deliveries.c.provider_message_id)
Index("ix_deliveries_batch_key", deliveries.c.batch_key)

provider_events = Table(
    "provider_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("provider", String(16), nullable=False),
    Column("event_key", String(128), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("email", Text),
    Column("provider_message_id", Text),
    Column("occurred_at", UTCDateTime),
    Column("received_at", UTCDateTime, nullable=False),
    Column("raw", Text, nullable=False),
    UniqueConstraint("provider", "event_key"),
)
Index("ix_provider_events_email_kind", provider_events.c.email, provider_events.c.kind)

webhook_tokens = Table(
    "webhook_tokens",
    metadata,
    Column("provider", String(16), primary_key=True),
    Column("token_hash", String(64), primary_key=True),
    Column("seen_at", UTCDateTime, nullable=False),
)
Index("ix_webhook_tokens_seen_at", webhook_tokens.c.seen_at)

edition_states = Table(
    "edition_states",
    metadata,
    Column(
        "edition_id", String(16), ForeignKey("editions.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("paused", Boolean, nullable=False),
    Column("reason", Text),
    Column("consecutive_failures", Integer, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
