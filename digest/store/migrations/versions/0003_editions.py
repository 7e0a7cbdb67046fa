"""Editions: one frozen plan per (newsletter, slot), and the articles each one carried.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "editions",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("newsletter", sa.Text(), nullable=False),
        sa.Column("slot", UTC_TIME, nullable=False),
        sa.Column("issue_number", sa.Integer(), nullable=True),
        sa.Column("window_start", UTC_TIME, nullable=False),
        sa.Column("empty", sa.Boolean(), nullable=False),
        sa.Column("snapshot", sa.Text(), nullable=False),
        sa.Column("planned_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_editions"),
        sa.UniqueConstraint("newsletter", "slot", name="uq_editions_newsletter_slot"),
        sa.UniqueConstraint(
            "newsletter", "issue_number", name="uq_editions_newsletter_issue_number"
        ),
    )
    op.create_table(
        "edition_articles",
        sa.Column("edition_id", sa.String(length=16), nullable=False),
        sa.Column("article_id", sa.String(length=16), nullable=False),
        sa.Column("section", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("archive", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["edition_id"],
            ["editions.id"],
            name="fk_edition_articles_edition_id_editions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("edition_id", "article_id", name="pk_edition_articles"),
    )
    op.create_index("ix_edition_articles_article_id", "edition_articles", ["article_id"])


def downgrade() -> None:
    op.drop_table("edition_articles")
    op.drop_table("editions")
