"""What an article page says about itself in its markup. Computes only.

Publishers describe an article several times over: JSON-LD (schema.org ``NewsArticle`` and
kin), OpenGraph and ``article:*`` properties, Dublin Core, plain ``<meta name>`` tags and
``itemprop`` microdata. ``read_metadata`` gathers all of them into ``PageMetadata``, each
field a list of raw candidates best first, so the caller can take the first one that
survives cleaning and fall back to text extraction only when the page says nothing.

Everything here is untrusted text: candidates are raw, and ``pages`` passes what it keeps
through the sanitize helpers. Helpers to decode the bytes, read a date and clean a byline
live here too, since they are about the same markup conventions.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from zoneinfo import ZoneInfo

import lxml.html

from digest.sources.sanitize import html_to_blocks

ARTICLE_TYPES = frozenset(
    """article newsarticle blogposting reportagenewsarticle analysisnewsarticle
    opinionnewsarticle reviewnewsarticle backgroundnewsarticle liveblogposting
    scholarlyarticle techarticle report socialmediaposting""".split()
)
# Keys of <meta> tags (property, name or itemprop, lower-cased, "." read as ":"), best first.
TITLE_KEYS = ("dc:title", "dcterms:title", "og:title", "title", "twitter:title", "parsely-title")
AUTHOR_KEYS = ("dc:creator", "dcterms:creator", "author", "parsely-author", "article:author")
AUTHOR_KEYS_LATE = ("og:article:author", "sailthru:author", "byl", "byline")
DATE_KEYS = (
    "article:published_time", "og:article:published_time", "datepublished", "dc:date",
    "dc:date:issued", "dcterms:created", "dcterms:issued", "date", "pubdate", "publishdate",
    "publish-date", "published_at", "sailthru:date", "parsely-pub-date", "article:published",
)  # fmt: skip
SECTION_KEYS = ("article:section", "og:article:section", "articlesection")
DESCRIPTION_KEYS = (
    "og:description", "description", "dc:description", "dcterms:description",
    "twitter:description",
)  # fmt: skip
IMAGE_KEYS = ("og:image", "og:image:url", "og:image:secure_url", "twitter:image", "image")

_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)
_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)
BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_BYLINE_CLASS = re.compile(r"byline|\bauthor\b", re.IGNORECASE)
_NOT_THE_ARTICLE = (
    "self::aside or self::nav or self::footer or contains(@class, 'comment')"
    " or contains(@id, 'comment')"
)
LEGACY_LATIN = frozenset({"iso-8859-1", "latin-1", "latin1", "ascii", "us-ascii", "iso8859-1"})

# "By", also after a word or two ("Analysis by"); "Par"/"Por"/"Von" only when a full name
# follows, since they also start names ("Von Miller", "Por" rarely, "von der Leyen" never
# matches, being mid-name).
_BYLINE_PREFIX = re.compile(
    r"^(?:(?:[^\W\d_]+\s+){0,2}?by\b[:\s]+|(?:par|por|von)\s+(?=\S+\s+\S))", re.IGNORECASE
)
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_TRAILING_DATE = re.compile(
    rf"[\s,|·•–—-]*(?:(?:updated|published|posted)\b[:\s]*)?"
    rf"(?:\d{{1,2}}\s*{_MONTH}\s*\d{{4}}|{_MONTH}\s+\d{{1,2}},?\s+\d{{4}}|\d{{4}}-\d{{2}}-\d{{2}}"
    rf"|\d{{1,2}}/\d{{1,2}}/\d{{2,4}}).*$",
    re.IGNORECASE,
)
_LOOKS_LIKE_ADDRESS = re.compile(r"^(?:https?:|www\.|/)|\.(?:com|org|net)/", re.IGNORECASE)
BYLINE_MAX_WORDS = 12


@dataclass(slots=True)
class PageMetadata:
    """Raw candidates for each field, best first; all of it untrusted text."""

    titles: list[str] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)
    dates: list[str] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)
    descriptions: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)


# -- bytes to tree ---------------------------------------------------------------------------


def decode_html(data: bytes, content_type: str | None = None) -> str:
    """Text of an HTML document: BOM, then valid UTF-8, then the declared charset.

    Valid UTF-8 wins over a declaration because pages are often re-saved as UTF-8 with
    their old ``<meta charset>`` left in place; text in a legacy encoding is almost never
    valid UTF-8 by accident.
    """
    for bom, codec in BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(codec, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    header = _HEADER_CHARSET.search(content_type or "")
    meta = _META_CHARSET.search(data[:8192])
    declared_names = (header.group(1) if header else None, meta.group(1).decode() if meta else None)
    for declared in declared_names:
        legacy = _codec(declared)
        if legacy:
            return data.decode(legacy, errors="replace")
    return data.decode("utf-8", errors="replace")


def _codec(name: str | None) -> str | None:
    """A Python codec for a declared charset; Latin-1 read as windows-1252, as browsers do."""
    if not name:
        return None
    name = name.strip().lower()
    if name in LEGACY_LATIN:
        return "cp1252"
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def parse_tree(text: str) -> lxml.html.HtmlElement | None:
    """The document element, or None when there is no markup to parse."""
    text = _XML_DECLARATION.sub("", text, count=1)
    if not text.strip():
        return None
    try:
        return lxml.html.document_fromstring(text)
    except (lxml.etree.ParserError, ValueError):
        return None


# -- metadata --------------------------------------------------------------------------------


def read_metadata(root: lxml.html.HtmlElement) -> PageMetadata:
    """Every description the page gives of itself, best first.

    JSON-LD leads for text fields, being written for machines and scoped to the article;
    for the page's address and image, ``<link rel=canonical>`` and OpenGraph lead, since
    JSON-LD ``url`` often names an AMP or syndicated copy.
    """
    found = PageMetadata()
    for item in json_ld_articles(root):
        _add_json_ld(found, item)
    metas = meta_values(root)

    def pick(*keys: str) -> list[str]:
        return [value for key in keys for value in metas.get(key, [])]

    found.titles += pick(*TITLE_KEYS) + _itemprop_texts(root, "headline")
    found.authors += pick(*AUTHOR_KEYS) + _itemprop_authors(root) + _byline_elements(root)
    found.authors += pick(*AUTHOR_KEYS_LATE)
    found.dates += pick(*DATE_KEYS) + _time_elements(root)
    found.sections += pick(*SECTION_KEYS)
    found.descriptions += pick(*DESCRIPTION_KEYS)
    found.images[:0] = pick(*IMAGE_KEYS)
    found.images += root.xpath("//link[@rel='image_src']/@href")
    found.urls[:0] = root.xpath("//link[@rel='canonical']/@href") + pick("og:url")
    return found


def json_ld_articles(root: lxml.html.HtmlElement) -> Iterator[dict[str, Any]]:
    """The article-typed objects of every JSON-LD block, through lists and ``@graph``."""
    for script in root.xpath("//script[@type='application/ld+json']"):
        try:
            data = json.loads(_strip_cdata(script.text or ""))
        except ValueError:
            continue
        for item in _walk_json_ld(data):
            types = item.get("@type")
            names = types if isinstance(types, list) else [types]
            if any(isinstance(t, str) and t.lower() in ARTICLE_TYPES for t in names):
                yield item


def _strip_cdata(text: str) -> str:
    text = text.strip()
    text = re.sub(r"^(?://\s*)?<!\[CDATA\[|(?://\s*)?\]\]>$", "", text).strip()
    return text.rstrip(";")


def _walk_json_ld(data: Any) -> Iterator[dict[str, Any]]:
    if isinstance(data, list):
        for item in data:
            yield from _walk_json_ld(item)
    elif isinstance(data, dict):
        yield data
        if "@graph" in data:
            yield from _walk_json_ld(data["@graph"])


def _add_json_ld(found: PageMetadata, item: dict[str, Any]) -> None:
    found.titles += _strings(item.get("headline")) + _strings(item.get("name"))
    found.authors += _names(item.get("author")) + _names(item.get("creator"))
    found.dates += _strings(item.get("datePublished")) + _strings(item.get("dateCreated"))
    found.sections += _strings(item.get("articleSection"))
    found.descriptions += _strings(item.get("description"))
    found.images += _urls(item.get("image")) + _urls(item.get("thumbnailUrl"))
    found.urls += _urls(item.get("url")) + _urls(item.get("mainEntityOfPage"))


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str) and v.strip()]
    return []


def _names(value: Any) -> list[str]:
    """Author names from a string, a Person/Organization, or a list of them, joined."""
    items = value if isinstance(value, list) else [value]
    names = []
    for item in items:
        name = item.get("name") if isinstance(item, dict) else item
        if isinstance(name, list):
            name = ", ".join(n for n in name if isinstance(n, str))
        if isinstance(name, str) and name.strip() and not _LOOKS_LIKE_ADDRESS.search(name):
            names.append(name.strip())
    return [", ".join(dict.fromkeys(names))] if names else []


def _urls(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    urls = []
    for item in items:
        url = item.get("url") or item.get("@id") if isinstance(item, dict) else item
        if isinstance(url, str) and url.strip():
            urls.append(url.strip())
    return urls


def meta_values(root: lxml.html.HtmlElement) -> dict[str, list[str]]:
    """``<meta>`` contents by key; ``property`` before ``name``, then ``itemprop``.

    One tag may list several space-separated keys (``property="og:title twitter:title"``),
    and ``DC.title`` is read as ``dc:title``.
    """
    values: dict[str, list[str]] = {}
    for attribute in ("property", "name", "itemprop"):
        for meta in root.xpath(f"//meta[@{attribute}][@content]"):
            content = meta.get("content", "").strip()
            if not content:
                continue
            for key in meta.get(attribute, "").lower().replace(".", ":").split():
                values.setdefault(key, []).append(content)
    return values


def _element_value(element: lxml.html.HtmlElement) -> str:
    for attribute in ("content", "datetime"):
        if element.get(attribute):
            return str(element.get(attribute))
    return " ".join(element.text_content().split())


def _itemprop_texts(root: lxml.html.HtmlElement, name: str) -> list[str]:
    elements = root.xpath(
        f"//*[not(self::meta)][contains(concat(' ', @itemprop, ' '), ' {name} ')]"
    )
    return [text for text in map(_element_value, elements) if text]


def _itemprop_authors(root: lxml.html.HtmlElement) -> list[str]:
    """Authors marked with microdata: the nested ``name`` when there is one."""
    names = []
    for element in root.xpath("//*[not(self::meta)][contains(@itemprop, 'author')]"):
        inner = element.xpath(".//*[@itemprop='name']")
        text = _element_value(inner[0]) if inner else _element_value(element)
        if text:
            names.append(text)
    return names


def _byline_elements(root: lxml.html.HtmlElement) -> list[str]:
    """Visible bylines: ``rel=author`` links and elements whose class says byline or author.

    A byline element often holds more than the name (a job title, the date on the next
    line), so a link to the author's page inside it is preferred, else its first line.
    Asides, navigation, footers and comment threads name other people's bylines: skipped.
    """
    texts = []
    for element in root.xpath("//*[@rel='author' or @class]"):
        if element.get("rel") != "author" and not _BYLINE_CLASS.search(element.get("class", "")):
            continue
        if element.xpath(f"ancestor-or-self::*[{_NOT_THE_ARTICLE}]"):
            continue
        links = element.xpath(".//a[contains(@href, 'author') or @rel='author']")
        text = _first_line(links[0] if links else element)
        if text:
            texts.append(text)
    return texts


def _first_line(element: lxml.html.HtmlElement) -> str:
    """The element's text up to its first line break (``<br>`` or a block element)."""
    blocks = html_to_blocks(lxml.html.tostring(element, encoding="unicode", with_tail=False))
    return blocks[0].text if blocks else ""


def _time_elements(root: lxml.html.HtmlElement) -> list[str]:
    """``<time>`` elements that say they are the publication time."""
    query = "//time[@pubdate or @itemprop='datePublished' or contains(@class, 'publish')]/@datetime"
    return [str(value) for value in root.xpath(query)]


# -- interpreting values ---------------------------------------------------------------------

_DATE_FORMATS = (
    "%B %d, %Y %I:%M %p", "%B %d, %Y", "%b %d, %Y", "%d %B %Y", "%d %b %Y", "%Y/%m/%d",
    "%Y%m%d", "%d.%m.%Y",
)  # fmt: skip
EARLIEST_YEAR, LATEST_YEAR = 1990, 2100


def parse_when(raw: str) -> datetime | None:
    """A page's date string as a datetime, naive when the page gives no UTC offset."""
    when = _parse_naive_or_aware(" ".join(raw.split())) if raw.strip() else None
    if when is None or not EARLIEST_YEAR <= when.year <= LATEST_YEAR:
        return None
    return when


def as_utc(when: datetime, zone: ZoneInfo) -> datetime:
    """``when`` in UTC; a naive time is taken to be local time in ``zone``."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone)
    return when.astimezone(UTC)


def _parse_naive_or_aware(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        pass
    for pattern in _DATE_FORMATS:
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    return None


def clean_byline(raw: str) -> str | None:
    """The names in a byline: no "By"/"Par" lead-in, no date after them, one line.

    A byline element often carries the date on its next line or glued to the name
    ("Lucas Nolan22 Dec 2016"); the date is cut only when a name is left before it.
    Addresses (``article:author`` is often a profile URL) and long text are refused.
    """
    lines = [line.strip() for line in raw.strip().splitlines() if line.strip()]
    if not lines:
        return None
    text = _BYLINE_PREFIX.sub("", " ".join(lines[0].split()))
    without_date = _TRAILING_DATE.sub("", text).strip(" ,;|·-")
    if re.search(r"\w", without_date):
        text = without_date
    text = text.strip(" ,;|·-")
    if not text or _LOOKS_LIKE_ADDRESS.search(text) or text.startswith("@"):
        return None
    if len(text.split()) > BYLINE_MAX_WORDS:
        return None
    return text


_TITLE_SEPARATOR = re.compile(r"\s+(?:[|–—»·/\\>-]|::)\s+")
MIN_TITLE_WORDS = 3


def document_title(root: lxml.html.HtmlElement) -> str | None:
    """The headline from ``<title>`` and ``<h1>`` when the metadata names none.

    ``<title>`` usually carries the site's name after a separator. An ``<h1>`` found
    inside it is the headline; otherwise the last separated segment is dropped when the
    rest is still a real title, and with no ``<title>`` the first ``<h1>`` stands in.
    """
    title = " ".join(" ".join(root.xpath("//title//text()")).split())
    headings = [" ".join(h.text_content().split()) for h in root.xpath("//h1")]
    headings = [h for h in headings if h]
    if not title:
        return headings[0] if headings else None
    for heading in headings:
        if len(heading.split()) >= MIN_TITLE_WORDS and heading.casefold() in title.casefold():
            return heading
    parts = _TITLE_SEPARATOR.split(title)
    if len(parts) > 1:
        kept = title[: title.rfind(parts[-1])].rstrip(" |–—»·/\\>-:")
        if len(kept.split()) >= MIN_TITLE_WORDS:
            return kept
    return title
