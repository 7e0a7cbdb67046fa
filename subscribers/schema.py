"""The subscriber tables, on the project's one SQLAlchemy metadata (one migration history).

Subscribers have integer ids so that sending can page through a million of them by id.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, Text

from digest.store.schema import UTCDateTime, metadata

subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", Text, nullable=False),
    # sha256 of the case-folded address: one subscriber per address whatever its letter case,
    # and the key the suppression list is checked against
    Column("email_hash", String(64), nullable=False, unique=True),
    Column("name", Text),
    Column("status", String(16), nullable=False, index=True),
    Column("timezone", Text),
    Column("send_hour", Integer),
    Column("consent_source", String(16), nullable=False),
    Column("consent_at", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("confirmed_at", UTCDateTime),
    Column("unsubscribed_at", UTCDateTime),
    Column("updated_at", UTCDateTime, nullable=False),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column(
        "subscriber_id",
        Integer,
        ForeignKey("subscribers.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("newsletter", Text, primary_key=True),
    Column("status", String(16), nullable=False),
    Column("sections", Text),
    Column("cadence", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("unsubscribed_at", UTCDateTime),
)
Index("ix_subscriptions_newsletter_status", subscriptions.c.newsletter, subscriptions.c.status)

subscriber_events = Table(
    "subscriber_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "subscriber_id",
        Integer,
        ForeignKey("subscribers.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("at", UTCDateTime, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("newsletter", Text),
    Column("source", String(16), nullable=False),
    Column("detail", Text, nullable=False),
)

suppressions = Table(
    "suppressions",
    metadata,
    Column("email_hash", String(64), primary_key=True),
    Column("email", Text),
    Column("reason", Text, nullable=False),
    Column("source", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

rate_limits = Table(
    "rate_limits",
    metadata,
    Column("key", Text, primary_key=True),
    Column("window_start", UTCDateTime, primary_key=True),
    Column("count", Integer, nullable=False),
)
