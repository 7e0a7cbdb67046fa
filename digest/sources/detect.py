"""Telling a feed from an article page from a page export. Computes only.

The content decides first (a root element or a JSON Feed version cannot lie about what the
document is), then the HTTP Content-Type, then the file name's extension; a plain-text file
with no markup is a page export. ``None`` means none of them fits.
"""

from __future__ import annotations

import enum
import re
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from digest.sources.base import RawDocument
from digest.sources.jsonfeed import is_json_feed


class Format(enum.Enum):
    FEED = "feed"
    JSON_FEED = "json feed"
    PAGE = "article page"
    EXPORT = "page export"


FEED_ROOTS = frozenset({"rss", "feed", "rdf:rdf", "channel"})
PAGE_ROOTS = frozenset({"!doctype html", "html", "head", "body", "article", "div", "meta"})
_PROLOGUE = re.compile(
    rb"\A(?:\s+|<\?.*?\?>|<!--.*?-->|<!doctype\s+(?!html)[^>]*>)", re.IGNORECASE | re.DOTALL
)
_FIRST_TAG = re.compile(rb"\A<(!doctype\s+html|[a-z][\w:.-]*)", re.IGNORECASE)
EXTENSIONS = {
    ".xml": Format.FEED,
    ".rss": Format.FEED,
    ".atom": Format.FEED,
    ".rdf": Format.FEED,
    ".feed": Format.FEED,
    ".json": Format.JSON_FEED,
    ".html": Format.PAGE,
    ".htm": Format.PAGE,
    ".xhtml": Format.PAGE,
    ".txt": Format.EXPORT,
}
CONTENT_TYPES = (
    ("rss", Format.FEED),
    ("atom", Format.FEED),
    ("rdf", Format.FEED),
    ("xml", Format.FEED),
    ("json", Format.JSON_FEED),
    ("html", Format.PAGE),
)
UNICODE_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


def detect_format(doc: RawDocument) -> Format | None:
    return _by_content(doc.data) or _by_content_type(doc.content_type) or _by_name(doc)


def _first_tag(data: bytes) -> str | None:
    """The document's first element name, past BOMs, XML declarations, comments and doctypes.

    Only the start of a document counts: an article that mentions ``<html>`` in its text is
    still a page export.
    """
    head = data[:8192].replace(b"\x00", b"")  # UTF-16/32 sniff as ASCII without zero bytes
    for bom in UNICODE_BOMS:
        head = head.removeprefix(bom)
    while match := _PROLOGUE.match(head):
        head = head[match.end() :]
    match = _FIRST_TAG.match(head)
    if match is None:
        return None
    return " ".join(match.group(1).decode("ascii", "replace").lower().split())


def _by_content(data: bytes) -> Format | None:
    if is_json_feed(data):
        return Format.JSON_FEED
    tag = _first_tag(data)
    if tag in FEED_ROOTS:
        return Format.FEED
    if tag in PAGE_ROOTS:
        return Format.PAGE
    if tag is None and data.lstrip(b"".join(UNICODE_BOMS) + b" \t\r\n").startswith(b"<?xml"):
        return Format.FEED
    return None


def _by_content_type(content_type: str | None) -> Format | None:
    if not content_type:
        return None
    kind = content_type.split(";")[0].strip().lower()
    return next((fmt for word, fmt in CONTENT_TYPES if word in kind), None)


def _by_name(doc: RawDocument) -> Format | None:
    name = urlsplit(doc.url).path if doc.url else doc.origin
    suffixes = PurePosixPath(name.lower().removesuffix(".gz")).suffixes
    found = EXTENSIONS.get(suffixes[-1]) if suffixes else None
    if found is not None:
        return found
    if not suffixes and _looks_like_text(doc.data):
        return Format.EXPORT
    return None


def _looks_like_text(data: bytes) -> bool:
    head = data[:4096]
    return b"\x00" not in head and not head.lstrip().startswith((b"<", b"{", b"["))
