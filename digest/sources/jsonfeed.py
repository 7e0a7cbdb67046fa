"""JSON Feed 1.0 and 1.1 (https://jsonfeed.org). Computes only.

feedparser 6 reads only XML, so JSON Feed has this small reader of its own that produces the
same ``FeedItem`` values as the XML path; everything after that is shared.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from digest.errors import SourceError
from digest.sources.base import Parsed, ParseOptions, RawDocument, Rejection
from digest.sources.feed_items import FeedItem, add_items

VERSION_PREFIX = "https://jsonfeed.org/version/"


def is_json_feed(data: bytes) -> bool:
    """Cheap sniff: a JSON object that declares a jsonfeed.org version near its start."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"{") and b"jsonfeed.org/version" in head


def parse_json_feed(doc: RawDocument, options: ParseOptions) -> Parsed:
    """Every item of a JSON Feed; an item that is not an object is rejected."""
    feed = _load(doc)
    result = Parsed()
    items = feed.get("items")
    if not isinstance(items, list):
        raise SourceError(doc.origin, "a JSON Feed needs an 'items' list")
    good = []
    for position, item in enumerate(items, start=1):
        if isinstance(item, Mapping):
            good.append(item)
        else:
            reason = f"item {position} is a JSON {type(item).__name__}, not an object"
            result.rejected.append(Rejection(doc.origin, f"item {position}", reason))
    add_items(result, _feed_items(good, feed, options), doc, options)
    return result


def _load(doc: RawDocument) -> Mapping[str, Any]:
    try:
        feed = json.loads(doc.data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise SourceError(doc.origin, f"a JSON Feed must be UTF-8: {exc}") from exc
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise SourceError(doc.origin, f"not valid JSON at {where}: {exc.msg}") from exc
    if not isinstance(feed, dict) or not str(feed.get("version", "")).startswith(VERSION_PREFIX):
        raise SourceError(
            doc.origin, f"not a JSON Feed: 'version' must start with {VERSION_PREFIX}"
        )
    return feed


def _feed_items(
    items: list[Mapping[str, Any]], feed: Mapping[str, Any], options: ParseOptions
) -> Iterator[FeedItem]:
    feed_author = _author(feed)
    for position, item in enumerate(items, start=1):
        yield FeedItem(
            position=position,
            title_html=_text_as_html(item.get("title")),
            link=_str(item.get("url")) or _str(item.get("external_url")),
            guid=_str(item.get("id")),
            content_html=_str(item.get("content_html")) or _text_as_html(item.get("content_text")),
            summary_html=_text_as_html(item.get("summary")),
            categories=[str(tag) for tag in item.get("tags") or [] if isinstance(tag, str)],
            author=_author(item) or feed_author,
            published_at=_when(item.get("date_published") or item.get("date_modified"), options),
            image_url=_str(item.get("image")) or _str(item.get("banner_image")),
        )


def _str(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def _text_as_html(value: Any) -> str | None:
    text = _str(value)
    return html.escape(text) if text else None


def _author(obj: Mapping[str, Any]) -> str | None:
    authors = obj.get("authors")
    if isinstance(authors, list):
        names = [_str(a.get("name")) for a in authors if isinstance(a, Mapping)]
        joined = ", ".join(name for name in names if name)
        if joined:
            return joined
    author = obj.get("author")
    return _str(author.get("name")) if isinstance(author, Mapping) else None


def _when(value: Any, options: ParseOptions) -> datetime | None:
    text = _str(value)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    aware = moment if moment.tzinfo else moment.replace(tzinfo=options.zone)
    return aware.astimezone(UTC)
