"""The article as the pipeline passes it around: plain immutable data, no I/O.

Sources produce ``Article`` values; the store keeps them and hands back ``StoredArticle``
values, which add what only the store knows (the id, first-seen and updated times, and the
articles that related references turned out to point at).

Body text keeps its paragraphs separated by a blank line. A pull quote is a paragraph that
starts with ``"> "``, the convention of e-mail quoting and Markdown, so the text stays
readable as it is and the renderer can still tell the two apart (``body_blocks``).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime

PULL_QUOTE_PREFIX = "> "


@dataclass(frozen=True, slots=True)
class RelatedRef:
    """A pointer from one article to another, as the source printed it."""

    section: str | None = None
    standfirst: str | None = None
    title: str | None = None
    date: date | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Article:
    """One article as a source read it; ``url`` is None when the source has no address."""

    title: str
    section: str
    source: str
    url: str | None = None
    guid: str | None = None
    standfirst: str | None = None
    author: str | None = None
    published_at: datetime | None = None
    read_minutes: int | None = None
    body: str = ""
    image_url: str | None = None
    related: tuple[RelatedRef, ...] = ()


@dataclass(frozen=True, slots=True)
class StoredRelated:
    """A related reference with the stored article it resolved to, if any yet."""

    ref: RelatedRef
    target_id: str | None = None
    target_url: str | None = None
    target_title: str | None = None


@dataclass(frozen=True, slots=True)
class StoredArticle:
    """An article as the store holds it."""

    id: str
    url: str
    section: str
    title: str
    source: str
    content_hash: str
    first_seen_at: datetime
    updated_at: datetime
    guid: str | None = None
    standfirst: str | None = None
    author: str | None = None
    published_at: datetime | None = None
    read_minutes: int | None = None
    body: str = ""
    image_url: str | None = None
    related: tuple[StoredRelated, ...] = field(default_factory=tuple)


class BlockKind(enum.Enum):
    PARAGRAPH = "paragraph"
    PULL_QUOTE = "pull_quote"


@dataclass(frozen=True, slots=True)
class Block:
    kind: BlockKind
    text: str


def join_blocks(blocks: list[Block]) -> str:
    """Write blocks as body text: paragraphs split by blank lines, pull quotes marked."""
    parts = []
    for block in blocks:
        prefix = PULL_QUOTE_PREFIX if block.kind is BlockKind.PULL_QUOTE else ""
        parts.append(prefix + block.text)
    return "\n\n".join(parts)


def body_blocks(body: str) -> Iterator[Block]:
    """Read body text back into paragraphs and pull quotes."""
    for chunk in body.split("\n\n"):
        text = chunk.strip()
        if not text:
            continue
        if text.startswith(PULL_QUOTE_PREFIX):
            yield Block(BlockKind.PULL_QUOTE, text[len(PULL_QUOTE_PREFIX) :].strip())
        else:
            yield Block(BlockKind.PARAGRAPH, text)
