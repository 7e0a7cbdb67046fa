"""Articles, their related references, and HTTP validators of fetched sources.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "articles",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("guid", sa.Text(), nullable=True),
        sa.Column("section", sa.Text(), nullable=False),
        sa.Column("section_key", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("standfirst", sa.Text(), nullable=True),
        sa.Column("author", sa.Text(), nullable=True),
        sa.Column("published_at", UTC_TIME, nullable=True),
        sa.Column("read_minutes", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("image_url", sa.Text(), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("title_key", sa.Text(), nullable=True),
        sa.Column("standfirst_key", sa.Text(), nullable=True),
        sa.Column("first_seen_at", UTC_TIME, nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_articles"),
        sa.UniqueConstraint("url", name="uq_articles_url"),
    )
    for column in (
        "content_hash",
        "guid",
        "published_at",
        "section_key",
        "standfirst_key",
        "title_key",
    ):
        op.create_index(f"ix_articles_{column}", "articles", [column])

    op.create_table(
        "related_refs",
        sa.Column("article_id", sa.String(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("section", sa.Text(), nullable=True),
        sa.Column("standfirst", sa.Text(), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("ref_date", sa.Date(), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("match_key", sa.Text(), nullable=True),
        sa.Column("target_id", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name="fk_related_refs_article_id_articles",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["target_id"],
            ["articles.id"],
            name="fk_related_refs_target_id_articles",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("article_id", "position", name="pk_related_refs"),
    )
    op.create_index("ix_related_refs_match_key", "related_refs", ["match_key"])
    op.create_index("ix_related_refs_target_id", "related_refs", ["target_id"])
    op.create_index("ix_related_refs_unresolved_date", "related_refs", ["ref_date", "target_id"])

    op.create_table(
        "fetch_state",
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.Text(), nullable=True),
        sa.Column("fetched_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("url", name="pk_fetch_state"),
    )


def downgrade() -> None:
    op.drop_table("fetch_state")
    op.drop_table("related_refs")
    op.drop_table("articles")
