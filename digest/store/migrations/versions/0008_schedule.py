"""The scheduler's record of each slot, newsletters paused by ops, and failing feeds.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "slot_runs",
        sa.Column("newsletter", sa.String(length=64), nullable=False),
        sa.Column("slot", UTC_TIME, nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("edition_id", sa.String(length=16), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("recorded_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("newsletter", "slot", name="pk_slot_runs"),
    )
    op.create_index("ix_slot_runs_outcome", "slot_runs", ["outcome"])
    op.create_table(
        "newsletter_states",
        sa.Column("newsletter", sa.String(length=64), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("newsletter", name="pk_newsletter_states"),
    )
    with op.batch_alter_table("fetch_state") as batch:
        batch.add_column(sa.Column("failures", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("last_error", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("fetch_state") as batch:
        batch.drop_column("last_error")
        batch.drop_column("failures")
    op.drop_table("newsletter_states")
    op.drop_table("slot_runs")
