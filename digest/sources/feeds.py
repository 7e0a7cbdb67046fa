"""RSS 0.9x/1.0/2.0 and Atom feeds, through feedparser. Computes only.

feedparser is handed bytes, never a URL, so it cannot fetch anything itself; fetching is
``fetch``'s job. It already drops dangerous markup from HTML fields; ``feed_items`` then turns
what is left into plain text. An ill-formed feed that feedparser could still partly read
keeps its items and gets a warning naming the problem; one it could not read at all is a
``SourceError``.
"""

from __future__ import annotations

import html
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import feedparser

from digest.errors import SourceError
from digest.sources.base import Parsed, ParseOptions, RawDocument
from digest.sources.feed_items import FeedItem, add_items

HTML_TYPES = ("text/html", "application/xhtml+xml", "html", "xhtml")


def parse_feed(doc: RawDocument, options: ParseOptions) -> Parsed:
    """Every item of an RSS or Atom document; bad items are rejected, the rest kept."""
    headers = {"content-type": doc.content_type or "application/xml"}
    if doc.url:
        headers["content-location"] = doc.url
    try:
        parsed = feedparser.parse(
            doc.data, response_headers=headers, sanitize_html=False, resolve_relative_uris=False
        )
    except Exception as exc:  # feedparser can raise from deep inside its parsers
        raise SourceError(doc.origin, f"feedparser could not read it: {exc}") from exc
    if not parsed.get("version") and not parsed.entries:
        problem = parsed.get("bozo_exception") or "no RSS or Atom root element"
        raise SourceError(doc.origin, f"not a readable feed: {problem}")
    result = Parsed()
    if parsed.get("bozo"):
        result.warnings.append(_ill_formed_warning(parsed))
    items = [feed_item(entry, position) for position, entry in enumerate(parsed.entries, 1)]
    result.warnings += _unreadable_dates(parsed.entries, items)
    add_items(result, items, doc, options)
    return result


def _unreadable_dates(entries: list[Mapping[str, Any]], items: list[FeedItem]) -> list[str]:
    """Items that print a date feedparser could not read: they would silently be undated."""
    warnings = []
    for entry, item in zip(entries, items, strict=True):
        printed = _own(entry, "published") or _own(entry, "updated")
        if printed and item.published_at is None:
            warnings.append(
                f"item {item.position}: date {printed!r} could not be read; it counts as undated"
            )
    return warnings


def _ill_formed_warning(parsed: Mapping[str, Any]) -> str:
    problem = parsed.get("bozo_exception")
    name = type(problem).__name__ if problem is not None else "unknown problem"
    count = len(parsed.get("entries", []))
    return f"ill-formed feed ({name}: {problem}); {count} item(s) read by the lenient parser"


def feed_item(entry: Mapping[str, Any], position: int) -> FeedItem:
    """The common fields of a feedparser entry."""
    return FeedItem(
        position=position,
        title_html=_as_html(entry.get("title"), entry.get("title_detail")),
        link=entry.get("link"),
        guid=entry.get("id"),
        content_html=_content_html(entry.get("content") or []),
        summary_html=_as_html(entry.get("summary"), entry.get("summary_detail")),
        categories=[tag.get("term") or "" for tag in entry.get("tags") or []],
        author=entry.get("author"),
        published_at=_when(entry),
        image_url=_image(entry),
    )


def _as_html(value: str | None, detail: Mapping[str, Any] | None) -> str | None:
    """Plain-text fields are escaped so that one HTML-to-text path serves every field."""
    if not value:
        return None
    kind = (detail or {}).get("type", "text/html")
    return value if kind in HTML_TYPES else html.escape(value)


def _content_html(contents: list[Mapping[str, Any]]) -> str | None:
    html_parts = [c for c in contents if c.get("type") in HTML_TYPES and c.get("value")]
    chosen = html_parts[0] if html_parts else next((c for c in contents if c.get("value")), None)
    if chosen is None:
        return None
    return _as_html(chosen.get("value"), chosen)


def _when(entry: Mapping[str, Any]) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed: time.struct_time | None = _own(entry, key)
        if parsed is None:
            continue
        try:
            return datetime(*parsed[:6], tzinfo=UTC)
        except (ValueError, OverflowError):
            continue
    return None


def _own(entry: Mapping[str, Any], key: str) -> Any:
    """A field the entry really has; ``entry.get`` would map "updated" onto "published"
    (feedparser's temporary fallback, which also warns)."""
    return dict.get(entry, key) if isinstance(entry, dict) else entry.get(key)


def _image(entry: Mapping[str, Any]) -> str | None:
    for thumb in entry.get("media_thumbnail") or []:
        if thumb.get("url"):
            return str(thumb["url"])
    for media in entry.get("media_content") or []:
        if media.get("url") and (
            media.get("medium") == "image" or "image" in media.get("type", "")
        ):
            return str(media["url"])
    for enclosure in entry.get("enclosures") or []:
        if enclosure.get("href") and enclosure.get("type", "").startswith("image/"):
            return str(enclosure["href"])
    image = entry.get("image")
    if isinstance(image, Mapping) and image.get("href"):
        return str(image["href"])
    return None
