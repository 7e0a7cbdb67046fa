"""Scoring article-page extraction against the shared corpora. Reads files; no network.

Shared by ``benchmarks/extraction_accuracy.py`` (which prints the figures) and
``tests/test_pages.py`` (which holds the extractor to floors a little below them), so both
count "right" the same way:

- title: equal after folding case, whitespace, quotes and dashes; a trailing
  " - Site" / " | Site" / " [Site]" segment on either side is forgiven (sites append their name to
  ``og:title`` and ``<title>`` inconsistently, and the reference keeps whichever it found);
- byline: equal after folding, dropping a leading By/Par/Por/Von and whatever follows the
  first line break or a date glued to the name (the reference is the raw text of the page's
  byline element, which often carries the date with it);
- date: the same instant, to the second, when the reference has a UTC offset; the same
  calendar date (ours taken in UTC) when it has none, since its zone is then unknown.
  Scrapinghub gives no dates, but many of its URLs carry one (``/2019/11/19/``): there
  ours must be within a day of it (a US evening is the next day in UTC);
- body: token-level F1 (bags of words, case-folded; CJK characters count one token each).
"""

from __future__ import annotations

import gzip
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from statistics import mean

import lxml.html

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO.parent / "shared" / "corpora" / "articles"
READABILITY_URL = "http://fakehost/test/page.html"  # the address readability's tests assume

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_TOKEN = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+")
_FOLD = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-", "\xa0": " "})
_SITE_SUFFIX = re.compile(r"\s+(?:(?:[-|–—:»·]|::)\s+[^-|–—:»·]{1,40}|\[[^\]]{1,40}\])$")
_BY_PREFIX = re.compile(r"^\s*(?:by|par|por|von)\b[:\s]*", re.IGNORECASE)
_URL_DATE = re.compile(r"/(20\d\d)[/-](\d\d)[/-](\d\d)/")
_GLUED_DATE = re.compile(
    r"\s*(?:\d{1,2}\s*[A-Za-z]{3,9}\.?\s*\d{4}|[A-Za-z]{3,9}\.?\s+\d{1,2},?\s+\d{4}"
    r"|\d{4}-\d{2}-\d{2}).*$"
)


@dataclass(frozen=True, slots=True)
class Extraction:
    """What an extractor found on one page; None where it found nothing."""

    title: str | None
    byline: str | None
    published: datetime | None
    body: str


@dataclass(frozen=True, slots=True)
class Case:
    """One corpus page with its reference values (None where the reference has none)."""

    corpus: str
    name: str
    html: bytes
    url: str | None
    body: str
    title: str | None = None
    byline: str | None = None
    published: str | None = None
    date_slack_days: int = 0


Extractor = Callable[[Case], Extraction]


@dataclass(frozen=True, slots=True)
class PageScore:
    """One page's outcome; a None check means the reference has no value to compare."""

    case: Case
    found: Extraction
    f1: float
    title_ok: bool | None
    byline_ok: bool | None
    date_ok: bool | None


@dataclass(frozen=True, slots=True)
class CorpusScore:
    """A corpus's figures: shares of right metadata (None if nothing to check) and mean F1."""

    pages: list[PageScore]

    def share(self, field: str) -> float | None:
        checks = [getattr(p, field) for p in self.pages if getattr(p, field) is not None]
        return sum(checks) / len(checks) if checks else None

    def checked(self, field: str) -> int:
        return sum(getattr(p, field) is not None for p in self.pages)

    @property
    def mean_f1(self) -> float:
        return mean(p.f1 for p in self.pages) if self.pages else 0.0


# -- loading -------------------------------------------------------------------------------


def readability_cases(corpus: Path) -> list[Case]:
    """Pages of Mozilla Readability's test suite, with their expected metadata and body."""
    cases = []
    for folder in sorted(p for p in (corpus / "readability").iterdir() if p.is_dir()):
        meta = json.loads((folder / "expected-metadata.json").read_text(encoding="utf-8"))
        expected_html = (folder / "expected.html").read_text(encoding="utf-8")
        cases.append(
            Case(
                corpus="readability",
                name=folder.name,
                html=(folder / "source.html").read_bytes(),
                url=READABILITY_URL,
                body=html_text(expected_html),
                title=meta.get("title") or None,
                byline=meta.get("byline") or None,
                published=meta.get("publishedTime") or None,
            )
        )
    return cases


def scrapinghub_cases(corpus: Path) -> list[Case]:
    """News pages of the scrapinghub article-extraction benchmark, with their body text."""
    root = corpus / "scrapinghub"
    truth = json.loads((root / "ground-truth.json").read_text(encoding="utf-8"))
    return [
        Case(
            corpus="scrapinghub",
            name=sha[:12],
            html=gzip.decompress((root / "html" / f"{sha}.html.gz").read_bytes()),
            url=entry.get("url"),
            body=entry.get("articleBody") or "",
            published=url_date(entry.get("url") or ""),
            date_slack_days=1,
        )
        for sha, entry in sorted(truth.items())
    ]


def url_date(url: str) -> str | None:
    """The date a URL's path spells out (``/2019/11/19/``), as ``YYYY-MM-DD``."""
    match = _URL_DATE.search(url)
    if match is None:
        return None
    try:
        return date(*map(int, match.groups())).isoformat()
    except ValueError:
        return None


def html_text(html: str) -> str:
    """The text of an HTML fragment, block by block (the reference bodies are HTML)."""
    if not html.strip():
        return ""
    root = lxml.html.fromstring(html)
    for bad in root.xpath("//script|//style"):
        bad.drop_tree()
    return " ".join(root.text_content().split())


# -- normalising and comparing ---------------------------------------------------------------


def fold(text: str) -> str:
    """Case, width, quotes, dashes and whitespace folded away."""
    text = unicodedata.normalize("NFKC", text).translate(_FOLD).casefold()
    return " ".join(text.split())


def tokens(text: str) -> list[str]:
    """Folded word tokens; each CJK character is one token (those scripts have no spaces)."""
    return _TOKEN.findall(fold(text))


def f1(found: str, expected: str) -> float:
    """Token-level F1 of two texts as bags of words; two empty texts agree perfectly."""
    got, want = Counter(tokens(found)), Counter(tokens(expected))
    if not got or not want:
        return 1.0 if not got and not want else 0.0
    common = sum((got & want).values())
    if not common:
        return 0.0
    precision, recall = common / sum(got.values()), common / sum(want.values())
    return 2 * precision * recall / (precision + recall)


def _title_forms(title: str) -> set[str]:
    folded = fold(title)
    return {folded, _SITE_SUFFIX.sub("", folded)}


def title_right(found: str | None, expected: str) -> bool:
    return bool(found) and bool(_title_forms(found or "") & _title_forms(expected))


def normalise_byline(byline: str) -> str:
    """The name part of a byline: first line, no By/Par prefix, no date glued after it."""
    first_line = byline.strip().splitlines()[0] if byline.strip() else ""
    name = _GLUED_DATE.sub("", _BY_PREFIX.sub("", first_line))
    return fold(name).strip(" ,;|-")


def byline_right(found: str | None, expected: str) -> bool:
    return bool(found) and normalise_byline(found or "") == normalise_byline(expected)


def date_right(found: datetime | None, expected: str, slack_days: int = 0) -> bool:
    if found is None:
        return False
    try:
        want = datetime.fromisoformat(expected.strip().replace("Z", "+00:00"))
    except ValueError:
        return False
    if want.tzinfo is None:
        return abs((found.astimezone(UTC).date() - want.date()).days) <= slack_days
    return abs((found - want).total_seconds()) < 1 + slack_days * 86400


# -- scoring -------------------------------------------------------------------------------


def score_page(case: Case, found: Extraction) -> PageScore:
    return PageScore(
        case=case,
        found=found,
        f1=f1(found.body, case.body),
        title_ok=title_right(found.title, case.title) if case.title else None,
        byline_ok=byline_right(found.byline, case.byline) if case.byline else None,
        date_ok=(
            date_right(found.published, case.published, case.date_slack_days)
            if case.published
            else None
        ),
    )


def score(cases: Iterable[Case], extractor: Extractor) -> CorpusScore:
    return CorpusScore([score_page(case, extractor(case)) for case in cases])
