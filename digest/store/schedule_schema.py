"""The scheduler's tables: what became of each slot, and which newsletters ops paused.

``slot_runs`` has one row per (newsletter, slot) ever considered: planned (with its
edition), empty, missed (the process was down past the grace window) or skipped (the
newsletter was paused). The primary key makes "handle a slot once" hold across processes:
two schedulers racing on a slot insert one row between them. ``digest schedule`` reads its
"last run" from here, and the catch-up after a restart starts after the newest row.

The APScheduler job store keeps its own table (``apscheduler_jobs``), created by APScheduler.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, String, Table, Text

from digest.store.schema import UTCDateTime, metadata

slot_runs = Table(
    "slot_runs",
    metadata,
    Column("newsletter", String(64), primary_key=True),
    Column("slot", UTCDateTime, primary_key=True),
    Column("outcome", String(16), nullable=False),
    Column("edition_id", String(16)),
    Column("detail", Text),
    Column("recorded_at", UTCDateTime, nullable=False),
)
Index("ix_slot_runs_outcome", slot_runs.c.outcome)

newsletter_states = Table(
    "newsletter_states",
    metadata,
    Column("newsletter", String(64), primary_key=True),
    Column("paused", Boolean, nullable=False),
    Column("reason", Text),
    Column("updated_at", UTCDateTime, nullable=False),
)
