"""Hashed term vectors of articles, for related links.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

Existing articles get their vectors here, so a store ingested before this revision finds
related links at once.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from digest.terms import term_vector

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    terms = op.create_table(
        "article_terms",
        sa.Column("article_id", sa.String(length=16), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name="fk_article_terms_article_id_articles",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("article_id", name="pk_article_terms"),
    )
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT id, title, standfirst, body FROM articles"))
    vectors = [
        {"article_id": row.id, "vector": term_vector(row.title, row.standfirst, row.body)}
        for row in rows
    ]
    if vectors:
        op.bulk_insert(terms, vectors)


def downgrade() -> None:
    op.drop_table("article_terms")
