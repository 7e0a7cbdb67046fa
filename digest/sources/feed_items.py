"""One feed item, whatever the feed format, and how it becomes an article. Computes only.

RSS, Atom and JSON Feed say the same things in different words; ``FeedItem`` is what they
have in common, and ``to_article`` is the one place that decides how an item's fields map
onto an article: section from its categories, text from its content (or summary), standfirst
from its summary, and a title from the text's first sentence when the item has none (JSON
Feed and RSS allow untitled items; a digest cannot show one).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from digest.model import Article, join_blocks
from digest.sources.base import (
    Parsed,
    ParseOptions,
    RawDocument,
    Rejection,
    estimate_read_minutes,
    first_sentences,
)
from digest.sources.sanitize import clean_optional, html_to_blocks, html_to_text, safe_url

STANDFIRST_MAX = 300
DERIVED_TITLE_MAX = 100


@dataclass(frozen=True, slots=True)
class FeedItem:
    """An item's fields as the feed gave them; HTML fields are untrusted markup."""

    position: int
    title_html: str | None = None
    link: str | None = None
    guid: str | None = None
    content_html: str | None = None
    summary_html: str | None = None
    categories: list[str] = field(default_factory=list)
    author: str | None = None
    published_at: datetime | None = None
    image_url: str | None = None

    def label(self) -> str:
        """How a rejection names this item: its title, link or guid, else its position."""
        title = html_to_text(self.title_html) if self.title_html else ""
        return title[:80] or self.link or self.guid or f"item {self.position}"


def to_article(item: FeedItem, doc: RawDocument, options: ParseOptions) -> Article | Rejection:
    """The article an item describes, or the reason it cannot be one."""
    body_blocks = html_to_blocks(item.content_html or item.summary_html or "")
    body = join_blocks(body_blocks)
    summary = html_to_text(item.summary_html) if item.summary_html else ""
    title = html_to_text(item.title_html) if item.title_html else ""
    if not title:
        title = first_sentences(summary or body, DERIVED_TITLE_MAX) or ""
    if not title:
        return Rejection(doc.origin, item.label(), "the item has no title and no text")
    base = doc.url or None
    standfirst = first_sentences(summary, STANDFIRST_MAX) if summary != title else None
    return Article(
        title=title,
        section=options.section_for([html_to_text(c) for c in item.categories]),
        source=doc.origin,
        url=safe_url(item.link, base) or _guid_as_url(item.guid, item.link),
        guid=clean_optional(item.guid),
        standfirst=standfirst,
        author=clean_optional(html_to_text(item.author)) if item.author else None,
        published_at=item.published_at,
        read_minutes=estimate_read_minutes(body) if item.content_html else None,
        body=body,
        image_url=safe_url(item.image_url, base),
    )


def add_items(
    result: Parsed, items: Iterable[FeedItem], doc: RawDocument, options: ParseOptions
) -> None:
    """Convert items into ``result``: articles kept, the unreadable ones rejected."""
    for item in items:
        outcome = to_article(item, doc, options)
        if isinstance(outcome, Rejection):
            result.rejected.append(outcome)
        else:
            result.articles.append(outcome)


def _guid_as_url(guid: str | None, link: str | None) -> str | None:
    """A guid that is itself a web address stands in for a missing link (RSS isPermaLink)."""
    if link or not guid:
        return None
    return safe_url(guid)
