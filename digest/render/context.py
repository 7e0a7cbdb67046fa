"""What the digest template sees for one variant, built from a frozen snapshot. Computes only.

A variant is the set of sections one subscriber receives, in the newsletter's order. The
context holds only values the snapshot froze (plus the size guard's trimming), so rendering
an edition twice gives the same email. Dates are written out in the newsletter's time zone;
links are checked (http(s) only) and tagged with the newsletter's UTM parameters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from digest.identity import slugify
from digest.render.links import safe_link, tag_url
from digest.render.personal import Placeholders
from digest.sentences import split_sentences

SHORT_SUMMARY_WORDS = 30
LANG = "en"


@dataclass(frozen=True, slots=True)
class Trim:
    """How far the size guard went: leaner markup, shorter summaries, articles left out."""

    compact: bool = False
    short_summaries: bool = False
    dropped: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ContextOptions:
    base_url: str
    utm: Mapping[str, str] | None = None


def variant_sections(snapshot: Mapping[str, Any], wanted: Sequence[str] | None) -> tuple[str, ...]:
    """The edition's sections a subscriber receives, in the newsletter's order."""
    names = [section["name"] for section in snapshot["sections"]]
    if wanted is None:
        return tuple(names)
    folded = {name.casefold() for name in wanted}
    return tuple(name for name in names if name.casefold() in folded)


def digest_context(
    snapshot: Mapping[str, Any],
    variant: Sequence[str],
    options: ContextOptions,
    trim: Trim,
    patterns: Mapping[str, str],
) -> dict[str, Any]:
    zone = ZoneInfo(snapshot["newsletter"]["timezone"])
    sections = [
        _section(section, trim, options)
        for section in snapshot["sections"]
        if section["name"] in variant
    ]
    count = sum(len(s["articles"]) for s in sections)
    return {
        "lang": LANG,
        "title": f"{snapshot['newsletter']['title']} #{snapshot.get('issue_number')}",
        "preheader": patterns["preheader"],
        "publication": snapshot["publication"],
        "newsletter": snapshot["newsletter"],
        "edition": {
            "issue_number": snapshot.get("issue_number"),
            "date_text": long_date(datetime.fromisoformat(snapshot["slot"]), zone),
        },
        "intro": _intro(count, len(sections)),
        "sections": sections,
        "compact": trim.compact,
        "personal": Placeholders(),
    }


def pattern_context(snapshot: Mapping[str, Any], variant: Sequence[str]) -> dict[str, Any]:
    """What subject and preheader patterns may use: plain values, no objects."""
    zone = ZoneInfo(snapshot["newsletter"]["timezone"])
    chosen = [s for s in snapshot["sections"] if s["name"] in variant]
    top = chosen[0]["articles"][0] if chosen and chosen[0]["articles"] else None
    return {
        "newsletter": {
            "title": snapshot["newsletter"]["title"],
            "name": snapshot["newsletter"]["name"],
        },
        "publication": {"name": snapshot["publication"]["name"]},
        "issue_number": snapshot.get("issue_number"),
        "date": long_date(datetime.fromisoformat(snapshot["slot"]), zone),
        "top_story": {"title": top["title"], "section": top["section"]} if top else None,
        "article_count": sum(len(s["articles"]) for s in chosen),
        "sections": [s["name"] for s in chosen],
    }


def long_date(moment: datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    return f"{local:%A} {local.day} {local:%B %Y}"


def short_date(iso: str | None, zone: ZoneInfo | None = None) -> str | None:
    if not iso:
        return None
    moment = datetime.fromisoformat(iso)
    if zone is not None:
        moment = moment.astimezone(zone)
    return f"{moment.day} {moment:%b %Y}"


def _intro(articles: int, sections: int) -> str:
    noun = "article" if articles == 1 else "articles"
    where = "section" if sections == 1 else "sections"
    return f"Here are {articles} {noun} from {sections} {where}, chosen for you."


def _section(section: Mapping[str, Any], trim: Trim, options: ContextOptions) -> dict[str, Any]:
    articles = list(section["articles"])
    dropped = trim.dropped.get(section["name"], 0)
    kept = articles[: len(articles) - dropped] if dropped else articles
    more = None
    if dropped:
        url = tag_url(f"{options.base_url.rstrip('/')}/{slugify(section['name'])}", options.utm)
        more = {"count": dropped, "url": url}
    return {
        "name": section["name"],
        "articles": [_article(a, trim, options) for a in kept],
        "more": more,
    }


def _article(article: Mapping[str, Any], trim: Trim, options: ContextOptions) -> dict[str, Any]:
    url = safe_link(article["url"])
    summary = article.get("summary")
    if summary and trim.short_summaries:
        summary = shorten(summary)
    return {
        "title": article["title"],
        "url": tag_url(url, options.utm) if url else None,
        "section": article["section"],
        "byline": _byline(article),
        "summary": summary,
        "archive": article["archive"],
        "image_url": safe_link(article.get("image_url")),
        "related": [
            {"title": link["title"], "url": tag_url(href, options.utm)}
            for link in article["related"]
            if (href := safe_link(link["url"]))
        ],
    }


def _byline(article: Mapping[str, Any]) -> str | None:
    parts = []
    if article.get("author"):
        parts.append(f"By {article['author']}")
    date = short_date(article.get("published_at"))
    if date:
        parts.append(date)
    if article.get("read_minutes"):
        parts.append(f"{article['read_minutes']} min read")
    return " · ".join(parts) or None


def shorten(summary: str) -> str:
    """The first sentence, at most ``SHORT_SUMMARY_WORDS`` words."""
    sentences = split_sentences(summary)
    first = sentences[0] if sentences else summary
    words = first.split()
    if len(words) <= SHORT_SUMMARY_WORDS:
        return first
    return " ".join(words[:SHORT_SUMMARY_WORDS]).rstrip(",;:") + "…"
