"""Turning untrusted markup and text into the plain text the store keeps. Computes only.

Article text is data: the store holds text, never markup, and everything downstream escapes
it. This module is the gate. HTML becomes paragraphs of text (script, style, embedded
objects and forms dropped whole); every stored string then passes ``neutralize``, which
defangs what a double-escaped feed can smuggle through as *text*: a literal ``<script>``
after one round of entity decoding, a tag-like string with an ``onerror=``, a
``javascript:`` link. So no stored field can turn active even if some later consumer
forgets to escape it.

Defanging keeps the words and breaks the syntax, the way security writers print hostile
samples: ``<script>`` becomes ``‹script›`` (single angle quotation marks) and
``javascript:`` becomes ``javascript[:]``. An article *about* cross-site scripting keeps
its meaning; nothing in it can run. URLs are kept only when they are absolute http(s).
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urljoin, urlsplit

import lxml.etree
import lxml.html

from digest.model import Block, BlockKind

DROPPED_ELEMENTS = frozenset(
    """script style noscript template iframe frame frameset object embed applet svg math form
    input button select textarea head title meta link base canvas audio video source track
    nav aside footer""".split()
)
BLOCK_ELEMENTS = frozenset(
    """p div br li ul ol dl dt dd h1 h2 h3 h4 h5 h6 tr table thead tbody tfoot section article
    header main pre figure figcaption hr address center details summary""".split()
)
QUOTE_ELEMENTS = frozenset({"blockquote"})

_ACTIVE_TAG = re.compile(
    r"<\s*/?\s*(?:script|iframe|object|embed|style|svg|math|template|base|meta|link|frame|applet)"
    r"\b[^>]*>?",
    re.IGNORECASE,
)
_TAG_WITH_HANDLER = re.compile(r"<\s*[a-z][^>]*?\bon[a-z]+\s*=[^>]*>?", re.IGNORECASE)
_SCRIPT_SCHEME = re.compile(r"((?:java|vb)\s*script\s*):", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\u2028\u2029\ufeff]")
_SPACES = re.compile(r"[ \t\r\xa0]+")
_ANGLES = str.maketrans({"<": "‹", ">": "›"})


def _defang_tag(match: re.Match[str]) -> str:
    return match.group(0).translate(_ANGLES)


def neutralize(text: str) -> str:
    """Clean one run of text: no control characters, no active markup, folded spaces."""
    text = _CONTROL.sub("", text)
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    if "<" in text or "script" in text.lower():  # cheap test first: most text has neither
        for _ in range(3):  # defanging one pattern must not leave another behind
            cleaned = _ACTIVE_TAG.sub(_defang_tag, text)
            cleaned = _TAG_WITH_HANDLER.sub(_defang_tag, cleaned)
            cleaned = _SCRIPT_SCHEME.sub(r"\1[:]", cleaned)
            if cleaned == text:
                break
            text = cleaned
    return _SPACES.sub(" ", text).strip()


def clean_optional(text: str | None) -> str | None:
    """``neutralize`` a single-line field; empty becomes None."""
    if text is None:
        return None
    cleaned = neutralize(text.replace("\n", " "))
    return cleaned or None


def safe_url(url: str | None, base: str | None = None) -> str | None:
    """An absolute http(s) URL, resolved against ``base`` when relative; otherwise None."""
    if not url:
        return None
    url = _CONTROL.sub("", url).strip()
    if base:
        url = urljoin(base, url)
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    if any(ch.isspace() for ch in url) or _SCRIPT_SCHEME.search(url):
        return None
    return url


def _parse_fragment(html: str) -> lxml.html.HtmlElement | None:
    try:
        return lxml.html.fragment_fromstring(html, create_parent="div")
    except (lxml.etree.ParserError, ValueError):
        return None


def html_to_blocks(html: str) -> list[Block]:
    """Paragraphs and quotes of an HTML fragment, as neutralized text blocks."""
    if "<" not in html and "&" not in html:  # plain text: no parser needed (most titles)
        text = neutralize(" ".join(html.split()))
        return [Block(BlockKind.PARAGRAPH, text)] if text else []
    root = _parse_fragment(html)
    if root is None:
        text = neutralize(re.sub(r"<[^>]*>", " ", html))
        return [Block(BlockKind.PARAGRAPH, text)] if text else []
    collector = _BlockCollector()
    collector.walk(root, quoted=False)
    collector.flush(quoted=False)
    return collector.blocks


def html_to_text(html: str) -> str:
    """One line of text from an HTML fragment (titles, bylines, summaries)."""
    return " ".join(block.text for block in html_to_blocks(html))


class _BlockCollector:
    """Walks an element tree, cutting text into blocks at block-level elements."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self._pieces: list[str] = []

    def flush(self, *, quoted: bool) -> None:
        if not self._pieces:
            return
        text = neutralize(" ".join("".join(self._pieces).split()))
        self._pieces.clear()
        if text:
            kind = BlockKind.PULL_QUOTE if quoted else BlockKind.PARAGRAPH
            self.blocks.append(Block(kind, text))

    def walk(self, element: lxml.html.HtmlElement, *, quoted: bool) -> None:
        tag = element.tag.lower() if isinstance(element.tag, str) else ""
        if tag and tag not in DROPPED_ELEMENTS:
            inner_quoted = quoted or tag in QUOTE_ELEMENTS
            breaks = tag in BLOCK_ELEMENTS or tag in QUOTE_ELEMENTS
            if breaks:
                self.flush(quoted=quoted)
            if element.text:
                self._pieces.append(element.text)
            for child in element:
                self.walk(child, quoted=inner_quoted)
            if breaks:
                self.flush(quoted=inner_quoted)
        if element.tail:  # comments and dropped elements still carry the text after them
            self._pieces.append(element.tail)
