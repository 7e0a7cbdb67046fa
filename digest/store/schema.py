"""The tables of the article store, in SQLAlchemy Core.

Alembic's migrations under ``migrations/`` create exactly these tables (a test compares the
two on SQLite and PostgreSQL). Times are kept in UTC on every database: ``UTCDateTime``
stores aware datetimes as UTC and hands them back aware, which SQLite cannot do by itself.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime, stored as UTC; naive values are refused rather than guessed."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store keeps aware UTC times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]


articles = Table(
    "articles",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("url", Text, nullable=False, unique=True),
    Column("guid", Text, index=True),
    Column("section", Text, nullable=False),
    Column("section_key", Text, nullable=False, index=True),
    Column("title", Text, nullable=False),
    Column("standfirst", Text),
    Column("author", Text),
    Column("published_at", UTCDateTime, index=True),
    Column("read_minutes", Integer),
    Column("body", Text, nullable=False),
    Column("image_url", Text),
    Column("source", Text, nullable=False),
    Column("content_hash", String(64), nullable=False, index=True),
    Column("title_key", Text, index=True),
    Column("standfirst_key", Text, index=True),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

related_refs = Table(
    "related_refs",
    metadata,
    Column(
        "article_id",
        String(16),
        ForeignKey("articles.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("position", Integer, primary_key=True),
    Column("section", Text),
    Column("standfirst", Text),
    Column("title", Text),
    Column("ref_date", Date),
    Column("url", Text),
    Column("match_key", Text, index=True),
    Column("target_id", String(16), ForeignKey("articles.id", ondelete="SET NULL"), index=True),
)
Index("ix_related_refs_unresolved_date", related_refs.c.ref_date, related_refs.c.target_id)

article_terms = Table(
    "article_terms",
    metadata,
    Column(
        "article_id",
        String(16),
        ForeignKey("articles.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("vector", LargeBinary, nullable=False),
)

editions = Table(
    "editions",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("newsletter", Text, nullable=False),
    Column("slot", UTCDateTime, nullable=False),
    Column("issue_number", Integer),
    Column("window_start", UTCDateTime, nullable=False),
    Column("empty", Boolean, nullable=False),
    Column("snapshot", Text, nullable=False),
    Column("planned_at", UTCDateTime, nullable=False),
    UniqueConstraint("newsletter", "slot"),
    UniqueConstraint("newsletter", "issue_number"),
)

edition_articles = Table(
    "edition_articles",
    metadata,
    Column(
        "edition_id",
        String(16),
        ForeignKey("editions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("article_id", String(16), primary_key=True),
    Column("section", Text, nullable=False),
    Column("position", Integer, nullable=False),
    Column("archive", Boolean, nullable=False),
)
Index("ix_edition_articles_article_id", edition_articles.c.article_id)

edition_renders = Table(
    "edition_renders",
    metadata,
    Column(
        "edition_id",
        String(16),
        ForeignKey("editions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("variant", Text, primary_key=True),
    Column("html_bytes", Integer, nullable=False),
    Column("text_bytes", Integer, nullable=False),
    Column("trimmed", Text, nullable=False),
    Column("lint", Text, nullable=False),
    Column("rendered_at", UTCDateTime, nullable=False),
)

fetch_state = Table(
    "fetch_state",
    metadata,
    Column("url", Text, primary_key=True),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("fetched_at", UTCDateTime, nullable=False),
    # fetches failed in a row since the last success, and the last one's reason: ops are
    # alerted when a feed keeps failing (DIGEST_ALERT_FEED_FAILURES)
    Column("failures", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
)
