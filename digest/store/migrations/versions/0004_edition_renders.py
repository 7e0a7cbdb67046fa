"""What rendering each variant of an edition measured, trimmed and found, for editors.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "edition_renders",
        sa.Column("edition_id", sa.String(length=16), nullable=False),
        sa.Column("variant", sa.Text(), nullable=False),
        sa.Column("html_bytes", sa.Integer(), nullable=False),
        sa.Column("text_bytes", sa.Integer(), nullable=False),
        sa.Column("trimmed", sa.Text(), nullable=False),
        sa.Column("lint", sa.Text(), nullable=False),
        sa.Column("rendered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["edition_id"],
            ["editions.id"],
            name="fk_edition_renders_edition_id_editions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("edition_id", "variant", name="pk_edition_renders"),
    )


def downgrade() -> None:
    op.drop_table("edition_renders")
