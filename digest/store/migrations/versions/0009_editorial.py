"""Editors' accounts, their pins and drops per slot, and their approvals.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "edition_overrides",
        sa.Column("newsletter", sa.String(length=64), nullable=False),
        sa.Column("slot", UTC_TIME, nullable=False),
        sa.Column("article_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("editor", sa.String(length=64), nullable=False),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("newsletter", "slot", "article_id", name="pk_edition_overrides"),
    )
    op.create_table(
        "edition_approvals",
        sa.Column("newsletter", sa.String(length=64), nullable=False),
        sa.Column("slot", UTC_TIME, nullable=False),
        sa.Column("editor", sa.String(length=64), nullable=False),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("newsletter", "slot", name="pk_edition_approvals"),
    )
    op.create_table(
        "editors",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_editors"),
    )


def downgrade() -> None:
    for table in ("editors", "edition_approvals", "edition_overrides"):
        op.drop_table(table)
