"""Tables for sending from several processes: the shared rate limit, and what each worker did.

``rate_buckets`` holds one token bucket per provider, shared by every worker on every
machine, so the provider's rate holds for all of them together. ``worker_stats`` counts
each worker's batches and recipients per minute, for ops' throughput view.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, String, Table

from digest.store.schema import UTCDateTime, metadata

rate_buckets = Table(
    "rate_buckets",
    metadata,
    Column("provider", String(32), primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

worker_stats = Table(
    "worker_stats",
    metadata,
    Column("worker", String(128), primary_key=True),
    Column("minute", UTCDateTime, primary_key=True),
    Column("batches", Integer, nullable=False),
    Column("recipients", Integer, nullable=False),
)
