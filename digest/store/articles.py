"""The article store: upsert by canonical URL, list newest first. I/O.

``upsert`` takes a batch of articles as sources produced them and, in one transaction,
decides for each whether it is new, changed or a repeat, writes only what changed, and
resolves related references in both directions. Identity follows the source's best key:
its URL; else its guid (an article seen before under that guid keeps its address); else its
content hash (an identical article seen before is a repeat); else an address built from the
base URL, section and title.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, bindparam, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from digest.identity import article_id, built_url, canonical_url, content_hash, match_key
from digest.model import Article, StoredArticle, StoredRelated
from digest.store import related
from digest.store.schema import article_terms, articles, related_refs
from digest.terms import term_vector

Clock = Callable[[], datetime]
LOOKUP_CHUNK = 500
WHEN = func.coalesce(articles.c.published_at, articles.c.first_seen_at)
"""When an article counts as appearing: its publication, or first sight when undated."""


def utc_now() -> datetime:
    return datetime.now(UTC)


class Outcome(enum.Enum):
    ADDED = "added"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class TermRow:
    """One article as the related-links index sees it."""

    id: str
    section: str
    vector: bytes


@dataclass(frozen=True, slots=True)
class _Pending:
    """An incoming article with its identity worked out."""

    article: Article
    url: str
    id: str
    content_hash: str


class ArticleStore:
    """Articles keyed by canonical URL, over one SQLAlchemy engine handed in."""

    def __init__(self, engine: Engine, base_url: str, clock: Clock = utc_now) -> None:
        self.engine = engine
        self.base_url = base_url
        self.clock = clock

    # -- writing ------------------------------------------------------------------------

    def upsert(self, batch: Sequence[Article]) -> list[Outcome]:
        """Store a batch in one transaction; one outcome per article, in order."""
        now = self.clock()
        with self.engine.begin() as conn:
            pending, existing = self._compare(conn, batch)
            outcomes, final = _decide(pending, existing)
            fresh = [p for url, p in final.items() if url not in existing]
            changed = [
                p for url, p in final.items() if url in existing and p.content_hash != existing[url]
            ]
            if fresh:
                _insert_new(conn, [_row(p, now, first_seen=True) for p in fresh])
            if changed:
                conn.execute(
                    update(articles).where(articles.c.id == bindparam("b_id")),
                    [{"b_id": p.id, **_row(p, now, first_seen=False)} for p in changed],
                )
            written = fresh + changed
            _replace_refs(conn, written)
            _replace_terms(conn, written)
            related.resolve_refs_of(conn, [p.id for p in written if p.article.related])
            related.resolve_refs_to(conn, [p.id for p in written])
        return outcomes

    def _compare(
        self, conn: Connection, batch: Sequence[Article]
    ) -> tuple[list[_Pending], dict[str, str]]:
        """The batch with identities worked out, and the stored hash of each known URL."""
        pending = self._identify(conn, batch)
        urls = {p.url for p in pending}
        return pending, _lookup(conn, articles.c.url, articles.c.content_hash, urls)

    def _identify(self, conn: Connection, batch: Sequence[Article]) -> list[_Pending]:
        hashes = [content_hash(a) for a in batch]
        guids = {a.guid for a in batch if not a.url and a.guid}
        by_guid = _lookup(conn, articles.c.guid, articles.c.url, guids)
        unkeyed = {h for a, h in zip(batch, hashes, strict=True) if not a.url and not a.guid}
        by_hash = _lookup(conn, articles.c.content_hash, articles.c.url, unkeyed)
        pending = []
        for article, digest_ in zip(batch, hashes, strict=True):
            if article.url:
                url = canonical_url(article.url)
            elif article.guid and article.guid in by_guid:
                url = by_guid[article.guid]
            elif digest_ in by_hash:
                url = by_hash[digest_]
            else:
                url = built_url(self.base_url, article.section, article.title)
            pending.append(_Pending(article, url, article_id(url), digest_))
        return pending

    # -- reading ------------------------------------------------------------------------

    def list_articles(
        self,
        section: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[StoredArticle]:
        """Articles newest first (undated ones by when they were first seen)."""
        query = select(articles).order_by(WHEN.desc(), articles.c.id)
        if section is not None:
            query = query.where(_in_sections([section]))
        if since is not None:
            query = query.where(since <= WHEN)
        if limit is not None:
            query = query.limit(limit)
        return self._fetch(query)

    def candidates(
        self, sections: Sequence[str], dated_after: datetime, seen_after: datetime
    ) -> list[StoredArticle]:
        """Articles of these sections dated after one moment or first seen after another.

        An edition's candidates: what its window holds, what just missed it, anything dated
        in the future, and older pieces that only arrived lately, so an editor sees them all.
        """
        query = select(articles).where(_in_sections(sections))
        query = query.where(or_(dated_after < WHEN, articles.c.first_seen_at > seen_after))
        return self._fetch(query.order_by(WHEN.desc(), articles.c.id))

    def oldest_first(
        self, section: str, between: tuple[datetime, datetime], condition: Any, limit: int
    ) -> list[StoredArticle]:
        """Up to ``limit`` articles of a section dated within ``between`` and matching
        ``condition``, oldest first: where the evergreen policy draws from."""
        query = select(articles).where(_in_sections([section]), condition)
        query = query.where(between[0] <= WHEN, between[1] >= WHEN)
        return self._fetch(query.order_by(WHEN, articles.c.id).limit(limit))

    def get_many(self, ids: Sequence[str]) -> dict[str, StoredArticle]:
        found: dict[str, StoredArticle] = {}
        for chunk in _chunks(list(ids)):
            found.update(
                {a.id: a for a in self._fetch(select(articles).where(articles.c.id.in_(chunk)))}
            )
        return found

    def get(self, id_: str) -> StoredArticle | None:
        return self.get_many([id_]).get(id_)

    def _fetch(self, query: Any) -> list[StoredArticle]:
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
            refs = related.refs_of(conn, [row.id for row in rows])
        return [_stored(row, refs.get(row.id, ())) for row in rows]

    def get_by_url(self, url: str) -> StoredArticle | None:
        return self.get(article_id(canonical_url(url)))

    def term_vectors(self, published_until: datetime | None = None) -> list[TermRow]:
        """Every article's id, section and term vector; undated ones count as published."""
        query = select(articles.c.id, articles.c.section, article_terms.c.vector).join(
            article_terms, article_terms.c.article_id == articles.c.id
        )
        if published_until is not None:
            query = query.where(
                or_(articles.c.published_at.is_(None), articles.c.published_at <= published_until)
            )
        with self.engine.connect() as conn:
            return [TermRow(*row) for row in conn.execute(query)]

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(articles)).scalar_one())


def _chunks(values: Sequence[Any], size: int = LOOKUP_CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _in_sections(sections: Sequence[str]) -> Any:
    """Section names match whatever their letter case, accents included (SQLite's lower()
    folds ASCII only, so the folded name is stored beside the name)."""
    return articles.c.section_key.in_([name.casefold() for name in sections])


def _lookup(conn: Connection, key: Any, value: Any, keys: set[str]) -> dict[str, str]:
    """``{key: value}`` for the stored articles whose ``key`` column is one of ``keys``."""
    found: dict[str, str] = {}
    for chunk in _chunks(sorted(keys)):
        for k, v in conn.execute(select(key, value).where(key.in_(chunk))):
            found.setdefault(k, v)
    return found


def _insert_new(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert, skipping a URL another process stored since we looked (both ingests win)."""
    dialect_insert = sqlite_insert if conn.dialect.name == "sqlite" else postgresql_insert
    conn.execute(dialect_insert(articles).on_conflict_do_nothing(), rows)


def _decide(
    pending: list[_Pending], existing: dict[str, str]
) -> tuple[list[Outcome], dict[str, _Pending]]:
    """Outcome of each article; a URL seen twice in a batch compares with its earlier copy."""
    outcomes = []
    latest: dict[str, _Pending] = {}
    for item in pending:
        previous = latest[item.url].content_hash if item.url in latest else existing.get(item.url)
        if previous is None:
            outcomes.append(Outcome.ADDED)
        elif previous == item.content_hash:
            outcomes.append(Outcome.UNCHANGED)
        else:
            outcomes.append(Outcome.UPDATED)
        latest[item.url] = item
    return outcomes, latest


def _row(item: _Pending, now: datetime, *, first_seen: bool) -> dict[str, Any]:
    article = item.article
    row: dict[str, Any] = {
        "url": item.url,
        "guid": article.guid,
        "section": article.section,
        "section_key": article.section.casefold(),
        "title": article.title,
        "standfirst": article.standfirst,
        "author": article.author,
        "published_at": article.published_at,
        "read_minutes": article.read_minutes,
        "body": article.body,
        "image_url": article.image_url,
        "source": article.source,
        "content_hash": item.content_hash,
        "title_key": match_key(article.title),
        "standfirst_key": match_key(article.standfirst),
        "updated_at": now,
    }
    if first_seen:
        row["id"] = item.id
        row["first_seen_at"] = now
    return row


def _replace_refs(conn: Connection, written: list[_Pending]) -> None:
    if not written:
        return
    for chunk in _chunks([p.id for p in written]):
        conn.execute(delete(related_refs).where(related_refs.c.article_id.in_(chunk)))
    rows = [
        {
            "article_id": p.id,
            "position": position,
            "section": ref.section,
            "standfirst": ref.standfirst,
            "title": ref.title,
            "ref_date": ref.date,
            "url": canonical_url(ref.url) if ref.url else None,
            "match_key": match_key(ref.standfirst or ref.title),
            "target_id": None,
        }
        for p in written
        for position, ref in enumerate(p.article.related)
    ]
    if rows:
        conn.execute(related_refs.insert(), rows)


def _replace_terms(conn: Connection, written: list[_Pending]) -> None:
    """Keep each written article's term vector in step with its content."""
    for chunk in _chunks([p.id for p in written]):
        conn.execute(delete(article_terms).where(article_terms.c.article_id.in_(chunk)))
    rows = [
        {
            "article_id": p.id,
            "vector": term_vector(p.article.title, p.article.standfirst, p.article.body),
        }
        for p in written
    ]
    if rows:
        conn.execute(article_terms.insert(), rows)


def _stored(row: Row[Any], refs: Sequence[StoredRelated]) -> StoredArticle:
    return StoredArticle(
        id=row.id,
        url=row.url,
        section=row.section,
        title=row.title,
        source=row.source,
        content_hash=row.content_hash,
        first_seen_at=row.first_seen_at,
        updated_at=row.updated_at,
        guid=row.guid,
        standfirst=row.standfirst,
        author=row.author,
        published_at=row.published_at,
        read_minutes=row.read_minutes,
        body=row.body,
        image_url=row.image_url,
        related=tuple(refs),
    )
