"""Editions in the store: frozen plans, unique per (newsletter, slot). I/O.

The database is the arbiter of "plan once": ``(newsletter, slot)`` and
``(newsletter, issue_number)`` are unique, so when two processes plan at once one insert
wins and the other learns so from ``EditionConflict`` and reads the winner's edition. The
issue number is the newsletter's highest plus one, taken in the inserting statement's
transaction; empty editions (nothing to send) have none, so numbers run without gaps.

``replace`` swaps a stored edition's plan for a re-planned one (editors' pins and drops),
in one transaction that first makes sure none of its deliveries has left pending: what
subscribers get must be the stored snapshot, so it cannot change once sending began.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, Row, and_, delete, exists, func, select, update
from sqlalchemy.exc import IntegrityError

from digest.errors import DigestError, NotFoundError
from digest.store.ledger_schema import deliveries
from digest.store.schema import articles, edition_articles, edition_renders, editions

STARTED = ("sending", "sent", "failed")
"""Delivery statuses that mean an edition has started going out to subscribers."""


class EditionConflict(DigestError):
    """Another process stored an edition for the same slot or issue number first."""


class EditionStarted(DigestError):
    """The edition has deliveries that left pending: its snapshot can no longer change."""

    def __init__(self, edition_id: str, started: int) -> None:
        super().__init__(
            f"edition {edition_id} has started sending ({started} deliveries sent, failed"
            " or in flight)"
        )
        self.started = started


@dataclass(frozen=True, slots=True)
class CarriedArticle:
    """One article of an edition, as the store records it for later selection."""

    article_id: str
    section: str
    position: int
    archive: bool


@dataclass(frozen=True, slots=True)
class Edition:
    id: str
    newsletter: str
    slot: datetime
    issue_number: int | None
    window_start: datetime
    empty: bool
    snapshot: dict[str, Any]
    planned_at: datetime


@dataclass(frozen=True, slots=True)
class RenderRecord:
    """What rendering one variant of an edition measured, trimmed and found."""

    variant: tuple[str, ...]
    html_bytes: int
    text_bytes: int
    trimmed: tuple[str, ...]
    lint: dict[str, Any]
    rendered_at: datetime


class EditionStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, newsletter: str, slot: datetime) -> Edition | None:
        condition = and_(editions.c.newsletter == newsletter, editions.c.slot == slot)
        return self._one(condition)

    def get_by_id(self, edition_id: str) -> Edition | None:
        return self._one(editions.c.id == edition_id)

    def latest(self, newsletter: str, before: datetime | None = None) -> Edition | None:
        """The newsletter's edition with the latest slot (before ``before``), empty or not."""
        return self._latest(newsletter, before, with_articles_only=False)

    def previous_sent(self, newsletter: str, before: datetime) -> Edition | None:
        """The latest edition before ``before`` that had articles: where a window starts."""
        return self._latest(newsletter, before, with_articles_only=True)

    def _latest(
        self, newsletter: str, before: datetime | None, *, with_articles_only: bool
    ) -> Edition | None:
        query = select(editions).where(editions.c.newsletter == newsletter)
        if before is not None:
            query = query.where(editions.c.slot < before)
        if with_articles_only:
            query = query.where(editions.c.empty.is_(False))
        query = query.order_by(editions.c.slot.desc()).limit(1)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return _edition(row) if row else None

    def _one(self, condition: Any) -> Edition | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(editions).where(condition)).first()
        return _edition(row) if row else None

    def list_editions(self, newsletter: str | None = None) -> list[Edition]:
        query = select(editions).order_by(editions.c.newsletter, editions.c.slot)
        if newsletter is not None:
            query = query.where(editions.c.newsletter == newsletter)
        with self.engine.connect() as conn:
            return [_edition(row) for row in conn.execute(query)]

    def record_render(self, edition_id: str, record: RenderRecord) -> None:
        """Keep the latest render of a variant (an edition re-rendered replaces its record)."""
        key = orjson.dumps(list(record.variant)).decode()
        values = {
            "html_bytes": record.html_bytes,
            "text_bytes": record.text_bytes,
            "trimmed": orjson.dumps(list(record.trimmed)).decode(),
            "lint": orjson.dumps(record.lint).decode(),
            "rendered_at": record.rendered_at,
        }
        mine = and_(edition_renders.c.edition_id == edition_id, edition_renders.c.variant == key)
        with self.engine.begin() as conn:
            if conn.execute(edition_renders.update().where(mine).values(**values)).rowcount == 0:
                conn.execute(
                    edition_renders.insert().values(edition_id=edition_id, variant=key, **values)
                )

    def renders(self, edition_id: str) -> list[RenderRecord]:
        query = (
            select(edition_renders)
            .where(edition_renders.c.edition_id == edition_id)
            .order_by(edition_renders.c.variant)
        )
        with self.engine.connect() as conn:
            return [
                RenderRecord(
                    variant=tuple(orjson.loads(row.variant)),
                    html_bytes=row.html_bytes,
                    text_bytes=row.text_bytes,
                    trimmed=tuple(orjson.loads(row.trimmed)),
                    lint=orjson.loads(row.lint),
                    rendered_at=row.rendered_at,
                )
                for row in conn.execute(query)
            ]

    def carried(
        self, newsletter: str, article_ids: Sequence[str], excluding: str | None = None
    ) -> dict[str, int]:
        """Which of these articles an edition of the newsletter carried: id -> its issue.

        ``excluding`` leaves one edition out: the one being re-planned does not count
        its own articles as already sent.
        """
        found: dict[str, int] = {}
        for start in range(0, len(article_ids), 500):
            chunk = article_ids[start : start + 500]
            query = (
                select(edition_articles.c.article_id, func.min(editions.c.issue_number))
                .join(editions, editions.c.id == edition_articles.c.edition_id)
                .where(editions.c.newsletter == newsletter)
                .where(edition_articles.c.article_id.in_(chunk))
                .group_by(edition_articles.c.article_id)
            )
            if excluding is not None:
                query = query.where(editions.c.id != excluding)
            with self.engine.connect() as conn:
                for article_id, issue in conn.execute(query):
                    found[article_id] = issue
        return found

    def never_carried(self, newsletter: str, excluding: str | None = None) -> Any:
        """A condition on ``articles.c.id``: no edition of the newsletter (but
        ``excluding``) carried it."""
        carried = (
            select(edition_articles.c.article_id)
            .join(editions, editions.c.id == edition_articles.c.edition_id)
            .where(editions.c.newsletter == newsletter)
            .where(edition_articles.c.article_id == articles.c.id)
        )
        if excluding is not None:
            carried = carried.where(editions.c.id != excluding)
        return ~exists(carried)

    def next_issue_number(self, newsletter: str) -> int:
        """The number the newsletter's next edition with articles would get (for previews)."""
        with self.engine.connect() as conn:
            return _next_issue(conn, newsletter)

    def started(self, edition_id: str) -> int:
        """How many of the edition's deliveries have left pending (sending, sent, failed)."""
        with self.engine.connect() as conn:
            return _started(conn, edition_id)

    def planned_at(self, edition_id: str) -> datetime | None:
        """When the edition's stored plan was made (a re-plan moves it): a cheap version."""
        query = select(editions.c.planned_at).where(editions.c.id == edition_id)
        with self.engine.connect() as conn:
            moment: datetime | None = conn.execute(query).scalar()
        return moment

    def insert(self, edition: Edition, carried: Sequence[CarriedArticle]) -> Edition:
        """Store a planned edition, numbering it; ``EditionConflict`` if another won.

        The snapshot is stored without the issue number, which only this transaction
        knows; reading an edition puts the number into its snapshot.
        """
        try:
            with self.engine.begin() as conn:
                number = None if edition.empty else _next_issue(conn, edition.newsletter)
                conn.execute(
                    editions.insert().values(
                        id=edition.id,
                        newsletter=edition.newsletter,
                        slot=edition.slot,
                        issue_number=number,
                        window_start=edition.window_start,
                        empty=edition.empty,
                        snapshot=orjson.dumps(edition.snapshot).decode(),
                        planned_at=edition.planned_at,
                    )
                )
                _store_carried(conn, edition.id, carried)
        except IntegrityError as exc:
            raise EditionConflict(
                f"an edition of {edition.newsletter} for {edition.slot} or its issue number "
                "was stored by another process first"
            ) from exc
        stored = self.get_by_id(edition.id)
        assert stored is not None
        return stored

    def replace(self, edition: Edition, carried: Sequence[CarriedArticle]) -> Edition:
        """Swap the stored edition ``edition.id``'s plan for this one, in one transaction.

        The snapshot, window, empty flag, plan time and carried articles are replaced and
        the edition's stored render records dropped (they measured the old plan). The
        issue number is kept while the edition has articles; an edition that was empty
        and now is not takes the next number, and one that becomes empty gives its number
        up (the caller only re-plans a newsletter's latest edition, so no gap opens).

        ``planned_at`` is the plan's version (a send loop holding an older plan stops when
        it moved): it must be later than the stored one, else another re-plan got there
        first and this one raises ``EditionConflict``, as when another process took the
        number. ``EditionStarted`` when a delivery has left pending.
        """
        mine = editions.c.id == edition.id
        try:
            with self.engine.begin() as conn:
                # the row lock makes two re-plans of one edition (PostgreSQL) take turns
                current = conn.execute(
                    select(editions.c.issue_number, editions.c.planned_at)
                    .where(mine)
                    .with_for_update()
                ).first()
                if current is None:
                    raise NotFoundError(f"no edition {edition.id!r}; `digest editions` lists them")
                if edition.planned_at <= current.planned_at:
                    raise EditionConflict(f"edition {edition.id} was re-planned meanwhile")
                started = _started(conn, edition.id)
                if started:
                    raise EditionStarted(edition.id, started)
                number = None
                if not edition.empty:
                    number = current.issue_number or _next_issue(conn, edition.newsletter)
                conn.execute(
                    update(editions)
                    .where(mine)
                    .values(
                        issue_number=number,
                        window_start=edition.window_start,
                        empty=edition.empty,
                        snapshot=orjson.dumps(edition.snapshot).decode(),
                        planned_at=edition.planned_at,
                    )
                )
                conn.execute(
                    delete(edition_articles).where(edition_articles.c.edition_id == edition.id)
                )
                conn.execute(
                    delete(edition_renders).where(edition_renders.c.edition_id == edition.id)
                )
                _store_carried(conn, edition.id, carried)
        except IntegrityError as exc:
            raise EditionConflict(
                f"the issue number for edition {edition.id} of {edition.newsletter} was taken"
                " by another process first"
            ) from exc
        stored = self.get_by_id(edition.id)
        assert stored is not None
        return stored


def _started(conn: Connection, edition_id: str) -> int:
    query = (
        select(func.count())
        .select_from(deliveries)
        .where(deliveries.c.edition_id == edition_id, deliveries.c.status.in_(STARTED))
    )
    return int(conn.execute(query).scalar_one())


def _next_issue(conn: Connection, newsletter: str) -> int:
    query = select(func.max(editions.c.issue_number)).where(editions.c.newsletter == newsletter)
    return int(conn.execute(query).scalar_one() or 0) + 1


def _edition(row: Row[Any]) -> Edition:
    return Edition(
        id=row.id,
        newsletter=row.newsletter,
        slot=row.slot,
        issue_number=row.issue_number,
        window_start=row.window_start,
        empty=row.empty,
        snapshot={**orjson.loads(row.snapshot), "issue_number": row.issue_number},
        planned_at=row.planned_at,
    )


def _store_carried(conn: Connection, edition_id: str, carried: Sequence[CarriedArticle]) -> None:
    """The articles an edition carries, which later selections must not send again."""
    if carried:
        conn.execute(
            edition_articles.insert(),
            [{"edition_id": edition_id, **asdict(item)} for item in carried],
        )
