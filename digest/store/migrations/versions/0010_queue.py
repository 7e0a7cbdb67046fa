"""The shared rate limit's buckets and each worker's throughput per minute.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "rate_buckets",
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("provider", name="pk_rate_buckets"),
    )
    op.create_table(
        "worker_stats",
        sa.Column("worker", sa.String(length=128), nullable=False),
        sa.Column("minute", UTC_TIME, nullable=False),
        sa.Column("batches", sa.Integer(), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("worker", "minute", name="pk_worker_stats"),
    )


def downgrade() -> None:
    op.drop_table("worker_stats")
    op.drop_table("rate_buckets")
