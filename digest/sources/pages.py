"""HTML article pages: one page in, one article out. Computes only.

The page's own metadata (``page_metadata``: JSON-LD, OpenGraph, Dublin Core, microdata)
names the title, byline, date, section, summary and image; trafilatura finds the main text
among the navigation, adverts and comments, and fills in metadata the markup leaves out.
Its paragraph structure is kept: headings and paragraphs become paragraphs, quotations
become pull quotes; tables are left out (flattened cells read as noise in a digest, and
on the measured corpora leaving them out scored slightly better).

Every string that leaves this module has been through the sanitize helpers. Pages are
untrusted: a field must not turn active even if a consumer decodes entities once more
than it should (``_inert``).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import lxml.etree
import lxml.html
import trafilatura

from digest.model import Article, Block, join_blocks
from digest.sources.base import (
    Parsed,
    ParseOptions,
    RawDocument,
    Rejection,
    estimate_read_minutes,
    first_sentences,
)
from digest.sources.page_metadata import (
    PageMetadata,
    as_utc,
    clean_byline,
    decode_html,
    document_title,
    parse_tree,
    parse_when,
    read_metadata,
)
from digest.sources.sanitize import clean_optional, html_to_blocks, neutralize, safe_url

STANDFIRST_MAX = 300
NULL_WORDS = frozenset({"nil", "null", "none", "undefined", "n/a"})
# trafilatura's XML vocabulary, renamed to the HTML that ``html_to_blocks`` reads.
XML_TO_HTML = {
    "head": "h2",
    "quote": "blockquote",
    "list": "ul",
    "item": "li",
    "lb": "br",
    "row": "tr",
    "cell": "td",
    "code": "pre",
}
FALLBACK_CONTAINERS = ("//article", "//main", "//*[@role='main']", "//body")
_DECODES_TO_MARKUP = re.compile(r"<\s*/?\s*[a-z!?]|(?:java|vb)\s*script\s*:", re.IGNORECASE)


def parse_page(doc: RawDocument, options: ParseOptions) -> Parsed:
    """The article a page holds, or a rejection saying what it lacks."""
    text = decode_html(doc.data, doc.content_type)
    root = parse_tree(text)
    if root is None:
        return _rejected(doc, "the page is empty: no HTML to read")
    meta = read_metadata(root)
    extracted = _trafilatura(text, doc.url)
    _add_guesses(meta, extracted, root)
    title = _first(meta.titles)
    if not title:
        return _rejected(doc, "no article title found in the page's metadata or headings")
    standfirst = _standfirst(meta.descriptions)
    blocks = _without_repeats(_body_blocks(extracted, root), [title, standfirst])
    if not blocks:
        return _rejected(doc, "no article text found in the page")
    body = join_blocks(blocks)
    url = _first_url([*meta.urls, doc.url or ""], doc.url)
    article = Article(
        title=title,
        section=options.section_for(_sections(meta.sections)),
        source=doc.origin,
        url=url,
        standfirst=standfirst,
        author=_byline(meta.authors),
        published_at=_published(meta.dates, options.zone),
        read_minutes=estimate_read_minutes(body),
        body=body,
        image_url=_first_url(meta.images, doc.url or url),
    )
    return Parsed(articles=[article])


def _add_guesses(meta: PageMetadata, extracted: Any, root: lxml.html.HtmlElement) -> None:
    """Append the weaker sources as last candidates: the headline from ``<title>``/``<h1>``,
    then what trafilatura's heuristics read from the page."""
    meta.titles.append(document_title(root) or "")
    found = extracted.as_dict() if extracted is not None else {}
    for candidates, key in (
        (meta.titles, "title"),
        (meta.authors, "author"),
        (meta.dates, "date"),
        (meta.descriptions, "description"),
        (meta.images, "image"),
    ):
        value = found.get(key)
        if isinstance(value, str) and value.strip():
            candidates.append(value)


def _rejected(doc: RawDocument, reason: str) -> Parsed:
    return Parsed(rejected=[Rejection(doc.origin, doc.origin, reason)])


def _inert(text: str) -> str:
    """``neutralize``, and again after one more entity decoding when that would make markup.

    A page that double-escapes (``&amp;lt;script&amp;gt;``) leaves ``&lt;script&gt;`` as
    text: harmless here, active for a consumer that unescapes once too often.
    """
    cleaned = neutralize(text)
    decoded = html.unescape(cleaned)
    if decoded != cleaned and _DECODES_TO_MARKUP.search(decoded):
        return neutralize(decoded)
    return cleaned


def _one_line(text: str) -> str:
    """A metadata value as one clean line.

    Values often arrive escaped twice (JSON-LD especially: ``&quot;``), and some hold
    markup; both are decoded here and the result made inert like any other text.
    """
    text = html.unescape(text)
    if "<" in text:
        text = " ".join(block.text for block in html_to_blocks(text))
    return _inert(clean_optional(text) or "")


def _first(candidates: Iterable[str]) -> str | None:
    """The first candidate that is not empty once cleaned."""
    for candidate in candidates:
        cleaned = _one_line(candidate)
        if cleaned:
            return cleaned
    return None


def _first_url(candidates: Iterable[str], base: str | None) -> str | None:
    for candidate in candidates:
        url = safe_url(html.unescape(candidate.strip()), base)
        if url:
            return url
    return None


def _byline(candidates: Iterable[str]) -> str | None:
    for candidate in candidates:
        byline = clean_byline(_one_line(candidate))
        if byline:
            return _inert(byline)
    return None


def _sections(candidates: Iterable[str]) -> list[str]:
    """Section names; one value may list several, comma-separated, the main one first."""
    parts = (part.strip() for value in candidates for part in _one_line(value).split(","))
    return [part for part in parts if part and part.casefold() not in NULL_WORDS]


def _standfirst(candidates: Iterable[str]) -> str | None:
    summary = _first(candidates)
    return first_sentences(summary, STANDFIRST_MAX) if summary else None


def _published(candidates: Iterable[str], zone: ZoneInfo) -> datetime | None:
    """The first date the page gives, in UTC; a naive one is read in ``zone``.

    When the best candidate has no UTC offset but a later one names the same day with
    one (JSON-LD without offset, ``article:published_time`` with it), the later one
    knows the instant and wins.
    """
    dates = [when for when in map(parse_when, candidates) if when is not None]
    if not dates:
        return None
    first = dates[0]
    if first.tzinfo is None:
        same_day = (d for d in dates if d.tzinfo is not None and d.date() == first.date())
        first = next(same_day, first)
    return as_utc(first, zone)


# -- main text -------------------------------------------------------------------------------


def _trafilatura(text: str, url: str | None) -> Any:
    """trafilatura's reading of the page (main text and metadata), or None if it found none."""
    try:
        return trafilatura.bare_extraction(
            text,
            url=url,
            with_metadata=True,
            include_comments=False,
            include_tables=False,
            include_images=False,
            fast=True,
        )
    except Exception:  # a third-party extractor on hostile markup: fall back, never crash
        return None


def _body_blocks(extracted: Any, root: lxml.html.HtmlElement) -> list[Block]:
    """Paragraphs of the main text: trafilatura's, else the page's main container's."""
    body = getattr(extracted, "body", None)
    blocks = _xml_blocks(body) if body is not None else []
    if not blocks:
        for query in FALLBACK_CONTAINERS:
            containers = root.xpath(query)
            if containers:
                blocks = html_to_blocks(lxml.html.tostring(containers[0], encoding="unicode"))
                break
    cleaned = (Block(block.kind, " ".join(_inert(block.text).split())) for block in blocks)
    return [block for block in cleaned if block.text]


def _without_repeats(blocks: list[Block], shown: list[str | None]) -> list[Block]:
    """The body without the title and standfirst that pages print again above the text.

    They are fields of their own; repeated at the top of the body they would show twice.
    Only leading blocks go, and never the whole body.
    """
    repeated = {_folded(text) for text in shown if text}
    start = 0
    while start < min(len(blocks) - 1, 3) and _folded(blocks[start].text) in repeated:
        start += 1
    return blocks[start:]


def _folded(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.casefold()))


def _xml_blocks(body: lxml.etree._Element) -> list[Block]:
    """Blocks of trafilatura's XML body (renamed in place to HTML: the tree is ours)."""
    for element in body.iter():
        if isinstance(element.tag, str):
            element.tag = XML_TO_HTML.get(element.tag, element.tag)
    body.tag = "div"
    return html_to_blocks(lxml.etree.tostring(body, encoding="unicode"))
