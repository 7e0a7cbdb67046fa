"""Plain-text page exports: the publication's own export of an article page. Computes only.

The shape, one field per line (see ``../shared/seed/``)::

    Political history                                  section
    The role of secret diplomatic agreements ...       title
    Secret agreements and backchannel talks ...        standfirst
    X Linkedin Facebook Reddit Email Bluesky           share links (optional; not body)
    Published by Robert Harris                         byline (optional)
    July 19, 2025 - 3 min Read                         date, read time optional
    In international history, many pivotal ...         body paragraphs; short one-sentence
    Hidden coalitions rise and fall on ...             lines between them are pull quotes;
    ADVERTISEMENT                                      "ADVERTISEMENT" lines are dropped
    Related Articles                                   then (section, standfirst, date) triples

An export has no URL: the store builds one from the base URL, section and title. Dates have
no time of day, so they mean midnight in the publication's time zone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time

from digest.errors import ItemError
from digest.model import Article, Block, BlockKind, RelatedRef, join_blocks
from digest.sources.base import Parsed, ParseOptions, RawDocument, Rejection, estimate_read_minutes
from digest.sources.sanitize import clean_optional, neutralize

SHARE_WORDS = frozenset(
    "x twitter linkedin facebook reddit email e-mail bluesky whatsapp telegram threads "
    "mastodon pinterest print copy link share".split()
)
MONTHS = (
    "january february march april may june july august september october november december".split()
)
_DATE_LINE = re.compile(
    r"^(?P<month>[A-Za-z]+)\.?\s+(?P<day>\d{1,2}),?\s+(?P<year>\d{4})"
    r"(?:\s*[-–—|·]\s*(?P<minutes>\d+)\s*min(?:ute)?s?\.?(?:\s+read)?)?\s*$",
    re.IGNORECASE,
)
_BYLINE = re.compile(r"^(?:published\s+)?by\s+(?P<author>.+)$", re.IGNORECASE)
_ADVERT = re.compile(r"^(?:advertisement|advert|sponsored)$", re.IGNORECASE)
RELATED_HEADING = re.compile(r"^related(?:\s+articles|\s+stories|\s+reading)?:?$", re.IGNORECASE)
PULL_QUOTE_MAX_WORDS = 16


@dataclass(frozen=True, slots=True)
class _Line:
    number: int
    text: str


def parse_export(doc: RawDocument, options: ParseOptions) -> Parsed:
    """Read one page export; a malformed one is rejected with the line that is wrong."""
    try:
        article = read_export(decode_text(doc.data), doc.origin, options)
    except ItemError as exc:
        return Parsed(rejected=[Rejection(doc.origin, doc.origin, str(exc))])
    return Parsed(articles=[article])


def decode_text(data: bytes) -> str:
    """UTF-8 with or without BOM (UTF-16 when it has one), any line endings, as ``\\n`` lines."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16")
    else:
        text = data.decode("utf-8-sig", errors="replace")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_export(text: str, origin: str, options: ParseOptions) -> Article:
    lines = [_Line(n, neutralize(raw)) for n, raw in enumerate(text.split("\n"), start=1)]
    lines = [line for line in lines if line.text]
    if len(lines) < 4:
        raise ItemError(
            "a page export needs at least section, title, standfirst and date lines; "
            f"found {len(lines)} non-empty line(s)",
            line=lines[-1].number if lines else 1,
        )
    section, title, standfirst = (line.text for line in lines[:3])
    rest = lines[3:]
    if rest and _is_share_line(rest[0].text):
        rest = rest[1:]
    author, rest = _take_byline(rest)
    published, minutes, rest = _take_date(rest, options)
    body_lines, related = _split_related(rest)
    body = join_blocks(_body_blocks(body_lines))
    if not body:
        raise ItemError(
            "the page export has no body text after its date line", line=lines[-1].number
        )
    return Article(
        title=title,
        section=section,
        source=origin,
        standfirst=standfirst,
        author=author,
        published_at=published,
        read_minutes=minutes if minutes is not None else estimate_read_minutes(body),
        body=body,
        related=tuple(related),
    )


def _is_share_line(text: str) -> bool:
    words = text.casefold().split()
    return bool(words) and all(word in SHARE_WORDS for word in words)


def _take_byline(lines: list[_Line]) -> tuple[str | None, list[_Line]]:
    match = _BYLINE.match(lines[0].text) if lines else None
    if match is None:
        return None, lines
    return clean_optional(match["author"]), lines[1:]


def parse_date_line(text: str) -> tuple[date, int | None] | None:
    """``July 19, 2025 - 3 min Read`` as (date, minutes); None when it is not a date line."""
    match = _DATE_LINE.match(text)
    if match is None:
        return None
    month_name = match["month"].casefold()
    months = [i for i, name in enumerate(MONTHS, 1) if name.startswith(month_name[:3])]
    if len(month_name) < 3 or not months:
        return None
    try:
        day = date(int(match["year"]), months[0], int(match["day"]))
    except ValueError:
        return None
    minutes = int(match["minutes"]) if match["minutes"] else None
    return day, minutes


def _take_date(
    lines: list[_Line], options: ParseOptions
) -> tuple[datetime, int | None, list[_Line]]:
    if not lines:
        raise ItemError("the page export ends before its date line")
    parsed = parse_date_line(lines[0].text)
    if parsed is None:
        raise ItemError(
            f"expected a date line like 'July 19, 2025 - 3 min Read', found {lines[0].text[:60]!r}",
            line=lines[0].number,
        )
    day, minutes = parsed
    return datetime.combine(day, time.min, tzinfo=options.zone), minutes, lines[1:]


def _split_related(lines: list[_Line]) -> tuple[list[_Line], list[RelatedRef]]:
    for index, line in enumerate(lines):
        if RELATED_HEADING.match(line.text):
            return lines[:index], _related_refs(lines[index + 1 :])
    return lines, []


def _related_refs(lines: list[_Line]) -> list[RelatedRef]:
    """Group the lines after "Related Articles" into references, each ended by its date."""
    refs: list[RelatedRef] = []
    pending: list[str] = []
    for line in lines:
        parsed = parse_date_line(line.text)
        if parsed is None:
            pending.append(line.text)
            continue
        refs.append(_ref_from(pending, parsed[0]))
        pending = []
    if pending:
        refs.append(_ref_from(pending, None))
    return refs


def _ref_from(texts: list[str], day: date | None) -> RelatedRef:
    if len(texts) >= 2:
        return RelatedRef(section=texts[0], standfirst=" ".join(texts[1:]), date=day)
    return RelatedRef(standfirst=texts[0] if texts else None, date=day)


def _body_blocks(lines: list[_Line]) -> list[Block]:
    """Paragraphs, with short one-sentence lines between paragraphs marked as pull quotes."""
    texts = [line.text for line in lines if not _ADVERT.match(line.text)]
    blocks = []
    for index, text in enumerate(texts):
        quote = 0 < index < len(texts) - 1 and _looks_like_pull_quote(text)
        blocks.append(Block(BlockKind.PULL_QUOTE if quote else BlockKind.PARAGRAPH, text))
    return blocks


def _looks_like_pull_quote(text: str) -> bool:
    words = text.split()
    sentences = re.findall(r"[.!?…](?:\s|$)", text)
    return len(words) <= PULL_QUOTE_MAX_WORDS and len(sentences) <= 1
