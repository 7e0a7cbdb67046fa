"""The frozen plan of an edition: everything that will be rendered, as plain JSON data.

Computes only. Once stored, an edition never reads the articles again: later corrections to
an article do not change an edition already planned, and re-rendering it gives the same
email. The snapshot also keeps every candidate's reason, for editors.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from digest.model import StoredArticle
from digest.newsletters import Newsletter, Publication
from digest.related import RelatedChoice
from digest.select import Decision, Selection, Window

SNAPSHOT_VERSION = 1


def edition_id(newsletter: str, slot: datetime) -> str:
    """The same id for the same (newsletter, slot) in every process."""
    return hashlib.sha256(f"{newsletter}|{slot.isoformat()}".encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class PlanParts:
    """What planning worked out, handed to ``build_snapshot`` in one piece."""

    publication: Publication
    newsletter: Newsletter
    slot: datetime
    window: Window
    selection: Selection
    summaries: Mapping[str, str | None]
    related: Mapping[str, Sequence[RelatedChoice]]
    related_articles: Mapping[str, StoredArticle]
    planned_at: datetime


def build_snapshot(parts: PlanParts) -> dict[str, Any]:
    newsletter = parts.newsletter
    return {
        "version": SNAPSHOT_VERSION,
        "edition_id": edition_id(newsletter.name, parts.slot),
        "publication": {
            "name": parts.publication.name,
            "postal_address": parts.publication.postal_address,
        },
        "newsletter": {
            "name": newsletter.name,
            "title": newsletter.title,
            "sender_name": newsletter.sender_name,
            "sender_address": newsletter.sender_address,
            "reply_to": newsletter.reply_to,
            "timezone": newsletter.timezone,
            "template": newsletter.template,
            "subject": newsletter.subject,
            "preheader": newsletter.preheader,
            "utm": dict(newsletter.utm) if newsletter.utm else None,
        },
        "slot": parts.slot.isoformat(),
        "window": {"start": parts.window.start.isoformat(), "end": parts.window.end.isoformat()},
        "empty": parts.selection.empty,
        "sections": [
            {"name": section.name, "articles": [_article(d, parts) for d in section.chosen]}
            for section in parts.selection.sections
        ],
        "excluded": [_excluded(d) for d in parts.selection.excluded()],
        "planned_at": parts.planned_at.isoformat(),
    }


def _article(decision: Decision, parts: PlanParts) -> dict[str, Any]:
    article = decision.article
    return {
        "id": article.id,
        "url": article.url,
        "section": decision.section,
        "title": article.title,
        "summary": parts.summaries.get(article.id),
        "standfirst": article.standfirst,
        "author": article.author,
        "published_at": article.published_at.isoformat() if article.published_at else None,
        "read_minutes": article.read_minutes,
        "image_url": article.image_url,
        "archive": decision.reason.value == "archive",
        "reason": decision.detail,
        "reason_code": decision.reason.value,
        "related": [
            _related(choice, parts.related_articles[choice.article_id])
            for choice in parts.related.get(article.id, ())
            if choice.article_id in parts.related_articles
        ],
    }


def _related(choice: RelatedChoice, target: StoredArticle) -> dict[str, Any]:
    return {"id": target.id, "title": target.title, "url": target.url, "kind": choice.kind}


def _excluded(decision: Decision) -> dict[str, Any]:
    article = decision.article
    return {
        "id": article.id,
        "url": article.url,
        "title": article.title,
        "section": decision.section,
        "reason": decision.detail,
        "reason_code": decision.reason.value,
        "edition": decision.edition,
    }


PLAN_ARTICLE_KEYS = (
    "url", "title", "summary", "author", "published_at", "read_minutes", "archive", "reason",
)  # fmt: skip


def plan_json(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    """The plan as ``digest plan --json`` prints it: the snapshot's public shape."""
    return {
        "edition_id": snapshot["edition_id"],
        "newsletter": snapshot["newsletter"]["name"],
        "issue_number": snapshot.get("issue_number"),
        "slot": snapshot["slot"],
        "sections": [
            {"name": section["name"], "articles": [_plan_article(a) for a in section["articles"]]}
            for section in snapshot["sections"]
        ],
        "excluded": [
            {"url": e["url"], "title": e["title"], "reason": e["reason"]}
            for e in snapshot["excluded"]
        ],
        "empty": snapshot["empty"],
    }


def _plan_article(article: Mapping[str, Any]) -> dict[str, Any]:
    public = {key: article[key] for key in PLAN_ARTICLE_KEYS}
    public["related"] = [{"title": r["title"], "url": r["url"]} for r in article["related"]]
    return public
