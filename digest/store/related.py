"""Resolving related references to stored articles, in both directions. I/O.

A page prints its related articles as (section, standfirst, date); the articles they name
may be stored already or arrive later. When an article with references is written, its
unresolved references look for their targets (``resolve_refs_of``); when any article is
written, unresolved references anywhere that name it find it (``resolve_refs_to``).

Matching goes from cheap to tolerant: the canonical URL if the reference has one; then the
folded text (``identity.match_key``) equal to the target's folded title or standfirst; then,
among articles of the same section published within two days of the reference's date, a
text at least 90% alike (``identity.keys_match``). A reference never resolves to the article
that carries it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, or_, select, update

from digest.identity import keys_match
from digest.model import RelatedRef, StoredRelated
from digest.store.schema import articles, related_refs

DATE_SLACK = timedelta(days=2)
CHUNK = 400


def _chunks(values: Sequence[Any]) -> list[Sequence[Any]]:
    return [values[i : i + CHUNK] for i in range(0, len(values), CHUNK)]


def _set_targets(conn: Connection, matches: dict[tuple[str, int], str]) -> None:
    if not matches:
        return
    conn.execute(
        update(related_refs)
        .where(related_refs.c.article_id == bindparam("b_article"))
        .where(related_refs.c.position == bindparam("b_position"))
        .values(target_id=bindparam("b_target")),
        [{"b_article": a, "b_position": p, "b_target": t} for (a, p), t in matches.items()],
    )


def _unresolved(conn: Connection, condition: Any) -> list[Any]:
    query = select(related_refs).where(related_refs.c.target_id.is_(None)).where(condition)
    return list(conn.execute(query))


def resolve_refs_of(conn: Connection, article_ids: Sequence[str]) -> None:
    """Find stored targets for the unresolved references of these articles."""
    refs = []
    for chunk in _chunks(list(article_ids)):
        refs += _unresolved(conn, related_refs.c.article_id.in_(chunk))
    matches: dict[tuple[str, int], str] = {}
    _match_exact(conn, refs, matches)
    for ref in refs:
        if (ref.article_id, ref.position) not in matches and ref.match_key and ref.ref_date:
            target = _fuzzy_target(conn, ref)
            if target is not None:
                matches[(ref.article_id, ref.position)] = target
    _set_targets(conn, matches)


def _match_exact(conn: Connection, refs: list[Any], matches: dict[tuple[str, int], str]) -> None:
    keys = sorted({r.match_key for r in refs if r.match_key})
    urls = sorted({r.url for r in refs if r.url})
    by_text: dict[str, list[tuple[str, str]]] = defaultdict(list)
    by_url: dict[str, str] = {}
    for chunk in _chunks(keys):
        query = select(
            articles.c.id, articles.c.section, articles.c.title_key, articles.c.standfirst_key
        )
        query = query.where(
            or_(articles.c.title_key.in_(chunk), articles.c.standfirst_key.in_(chunk))
        )
        for row in conn.execute(query):
            for key in {row.title_key, row.standfirst_key} - {None}:
                by_text[key].append((row.id, row.section))
    for chunk in _chunks(urls):
        query = select(articles.c.url, articles.c.id).where(articles.c.url.in_(chunk))
        by_url.update({row.url: row.id for row in conn.execute(query)})
    for ref in refs:
        target = by_url.get(ref.url) if ref.url else None
        if target is None and ref.match_key:
            target = _best_candidate(by_text.get(ref.match_key, []), ref)
        if target is not None and target != ref.article_id:
            matches[(ref.article_id, ref.position)] = target


def _best_candidate(candidates: list[tuple[str, str]], ref: Any) -> str | None:
    """Prefer a candidate of the reference's own section; never the referring article."""
    others = [(id_, section) for id_, section in candidates if id_ != ref.article_id]
    if not others:
        return None
    wanted = (ref.section or "").casefold()
    same_section = [id_ for id_, section in others if section.casefold() == wanted]
    return same_section[0] if same_section else others[0][0]


def _day_window(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start - DATE_SLACK, start + timedelta(days=1) + DATE_SLACK


def _fuzzy_target(conn: Connection, ref: Any) -> str | None:
    low, high = _day_window(ref.ref_date)
    query = select(
        articles.c.id, articles.c.section, articles.c.title_key, articles.c.standfirst_key
    )
    query = query.where(articles.c.published_at.between(low, high), articles.c.id != ref.article_id)
    for row in conn.execute(query):
        if ref.section and row.section.casefold() != ref.section.casefold():
            continue
        if any(
            key and keys_match(ref.match_key, key) for key in (row.title_key, row.standfirst_key)
        ):
            return str(row.id)
    return None


def resolve_refs_to(conn: Connection, article_ids: Sequence[str]) -> None:
    """Point unresolved references anywhere at these newly written articles."""
    written = []
    for chunk in _chunks(list(article_ids)):
        query = select(
            articles.c.id,
            articles.c.url,
            articles.c.section,
            articles.c.published_at,
            articles.c.title_key,
            articles.c.standfirst_key,
        ).where(articles.c.id.in_(chunk))
        written += list(conn.execute(query))
    if not written:
        return
    by_key: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for row in written:
        for key in {row.title_key, row.standfirst_key, row.url} - {None}:
            by_key[key].append((row.id, row.section))
    matches: dict[tuple[str, int], str] = {}
    for chunk in _chunks(sorted(by_key)):
        for ref in _unresolved(
            conn, or_(related_refs.c.match_key.in_(chunk), related_refs.c.url.in_(chunk))
        ):
            target = _best_candidate(
                by_key.get(ref.url or "", []) or by_key.get(ref.match_key, []), ref
            )
            if target is not None:
                matches[(ref.article_id, ref.position)] = target
    _match_fuzzy_to(conn, written, matches)
    _set_targets(conn, matches)


def _match_fuzzy_to(
    conn: Connection, written: list[Any], matches: dict[tuple[str, int], str]
) -> None:
    dated = [row for row in written if row.published_at is not None]
    if not dated:
        return
    low = min(row.published_at for row in dated).date() - DATE_SLACK
    high = max(row.published_at for row in dated).date() + DATE_SLACK
    window = and_(related_refs.c.ref_date.between(low, high), related_refs.c.match_key.is_not(None))
    by_section: dict[str, list[Any]] = defaultdict(list)
    for row in dated:
        by_section[row.section.casefold()].append(row)
    for ref in _unresolved(conn, window):
        if (ref.article_id, ref.position) in matches:
            continue
        candidates = by_section.get(ref.section.casefold(), []) if ref.section else dated
        for row in candidates:
            if row.id == ref.article_id or abs(row.published_at.date() - ref.ref_date) > DATE_SLACK:
                continue
            if any(
                key and keys_match(ref.match_key, key)
                for key in (row.title_key, row.standfirst_key)
            ):
                matches[(ref.article_id, ref.position)] = row.id
                break


def refs_of(conn: Connection, article_ids: Sequence[str]) -> dict[str, list[StoredRelated]]:
    """The related references of these articles, in printed order, with their targets."""
    found: dict[str, list[StoredRelated]] = defaultdict(list)
    target = articles.alias("target")
    for chunk in _chunks(list(article_ids)):
        query = (
            select(
                related_refs, target.c.url.label("target_url"), target.c.title.label("target_title")
            )
            .outerjoin(target, target.c.id == related_refs.c.target_id)
            .where(related_refs.c.article_id.in_(chunk))
            .order_by(related_refs.c.article_id, related_refs.c.position)
        )
        for row in conn.execute(query):
            ref = RelatedRef(row.section, row.standfirst, row.title, row.ref_date, row.url)
            found[row.article_id].append(
                StoredRelated(ref, row.target_id, row.target_url, row.target_title)
            )
    return found
