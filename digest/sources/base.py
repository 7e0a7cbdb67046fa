"""What every parser takes and returns. Computes only.

A parser receives a ``RawDocument`` (bytes plus where they came from) and ``ParseOptions``
(the settings that shape interpretation) and returns ``Parsed``: the articles it could read,
the items it rejected with a reason each, and warnings about the document as a whole (an
ill-formed feed that was still partly readable). A parser never raises for one bad item; it
raises ``ItemError`` only when the document as a whole is one item and is malformed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from digest.model import Article

WORDS_PER_MINUTE = 230


@dataclass(frozen=True, slots=True)
class RawDocument:
    """A document's bytes; ``origin`` is what the user named (path or URL), for messages."""

    origin: str
    data: bytes
    url: str | None = None
    content_type: str | None = None


@dataclass(frozen=True, slots=True)
class ParseOptions:
    """How to read what a document leaves open."""

    default_section: str = "General"
    section_map: Mapping[str, str] = field(default_factory=dict)
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))

    def section_for(self, categories: list[str]) -> str:
        """The first category the map knows, else the first category, else the default."""
        folded = {key.casefold(): value for key, value in self.section_map.items()}
        for category in categories:
            mapped = folded.get(category.strip().casefold())
            if mapped:
                return mapped
        for category in categories:
            if category.strip():
                return category.strip()
        return self.default_section


@dataclass(frozen=True, slots=True)
class Rejection:
    """One item that was not stored, with where it was and why."""

    source: str
    item: str
    reason: str


@dataclass(slots=True)
class Parsed:
    """What a parser made of one document."""

    articles: list[Article] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def estimate_read_minutes(body: str) -> int | None:
    """Minutes to read ``body`` at 230 words a minute; None for an empty body."""
    words = len(re.findall(r"\w+", body))
    return max(1, math.ceil(words / WORDS_PER_MINUTE)) if words else None


def first_sentences(text: str, limit: int) -> str | None:
    """The leading sentence(s) of ``text`` that fit ``limit`` characters, cut at a word."""
    text = " ".join(text.split())
    if not text:
        return None
    if len(text) <= limit:
        return text
    sentences = re.split(r"(?<=[.!?…])\s+", text)
    kept = ""
    for sentence in sentences:
        candidate = f"{kept} {sentence}".strip()
        if len(candidate) > limit:
            break
        kept = candidate
    if kept:
        return kept
    return text[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "…"
