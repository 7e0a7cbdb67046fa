"""The editors' tables: their accounts, their pins and drops, and their approvals.

Pins, drops and approvals are keyed by (newsletter, slot) rather than by edition id, so an
editor can shape and approve the next slot's edition before the scheduler plans it; the
plan (and any re-plan) reads them. ``editors`` holds accounts made with ``digest editors
add`` (accounts may also come from the settings, ``DIGEST_EDITORS``).
"""

from __future__ import annotations

from sqlalchemy import Column, String, Table, Text

from digest.store.schema import UTCDateTime, metadata

edition_overrides = Table(
    "edition_overrides",
    metadata,
    Column("newsletter", String(64), primary_key=True),
    Column("slot", UTCDateTime, primary_key=True),
    Column("article_id", String(64), primary_key=True),
    Column("action", String(8), nullable=False),  # "pin" or "drop"
    Column("editor", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
)

edition_approvals = Table(
    "edition_approvals",
    metadata,
    Column("newsletter", String(64), primary_key=True),
    Column("slot", UTCDateTime, primary_key=True),
    Column("editor", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
)

editors = Table(
    "editors",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("password_hash", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)
