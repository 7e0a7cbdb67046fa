"""Article-page extraction accuracy on real pages, against a naive baseline.

Runs ``digest.sources.pages.parse_page`` over two corpora in ``../shared/corpora/articles``:
Mozilla Readability's test pages (expected title, byline, date and body) and the
scrapinghub article-extraction benchmark's news pages (expected body). Prints the share of
titles, bylines and dates right and the mean token-level F1 of the body text, beside the
same figures for a naive extractor (``<title>``, ``meta name=author``,
``article:published_time`` and the text of every ``<p>``), so what the real extractor adds
is visible in one run. "Right" is defined in ``extraction_scoring``'s docstring.

    .venv/bin/python benchmarks/extraction_accuracy.py [--corpus PATH] [--verbose]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from extraction_scoring import (
    DEFAULT_CORPUS,
    Case,
    CorpusScore,
    Extraction,
    PageScore,
    readability_cases,
    score,
    scrapinghub_cases,
)

from digest.sources.base import ParseOptions, RawDocument
from digest.sources.page_metadata import as_utc, decode_html, parse_tree, parse_when
from digest.sources.pages import parse_page

OPTIONS = ParseOptions()
RIGHT_MEANS = """\
right means: title equal after folding case, spaces, quotes and dashes (a trailing
  " - Site" or " [Site]" segment forgiven); byline equal after folding, without
  By/Par/Por/Von and without a date or second line after the name; date the same instant
  (reference with offset) or the same calendar date in UTC (reference without offset;
  scrapinghub: the date in the page's URL, within a day);
  body = mean token-level F1 (bag of words, CJK characters one token each)."""


def digest_extractor(case: Case) -> Extraction:
    parsed = parse_page(RawDocument(case.name, case.html, url=case.url), OPTIONS)
    if not parsed.articles:
        return Extraction(None, None, None, "")
    article = parsed.articles[0]
    return Extraction(article.title, article.author, article.published_at, article.body)


def naive_extractor(case: Case) -> Extraction:
    """What a few lines of lxml get: the <title>, two meta tags, every paragraph."""
    root = parse_tree(decode_html(case.html))  # decoding is not what is compared
    if root is None:
        return Extraction(None, None, None, "")
    title = " ".join(root.xpath("string(//title)").split()) or None
    author = root.xpath("string(//meta[@name='author']/@content)") or None
    raw_date = root.xpath("string(//meta[@property='article:published_time']/@content)")
    body = "\n\n".join(p.text_content().strip() for p in root.xpath("//p"))
    when = parse_when(raw_date)
    published = as_utc(when, OPTIONS.zone) if when else None
    return Extraction(title, author, published, body)


def percent(share: float | None) -> str:
    return "   n/a" if share is None else f"{share:6.1%}"


def print_table(name: str, ours: CorpusScore, naive: CorpusScore) -> None:
    print(f"\n{name} ({len(ours.pages)} pages)            digest   naive")
    for label, field in (("titles", "title_ok"), ("bylines", "byline_ok"), ("dates", "date_ok")):
        if ours.checked(field):
            heading = f"  {label} right (of {ours.checked(field)})"
            print(f"{heading:<32}{percent(ours.share(field))}   {percent(naive.share(field))}")
    print(f"{'  body token F1, mean':<32}{ours.mean_f1:6.3f}   {naive.mean_f1:6.3f}")


def mark(ok: bool | None) -> str:
    return {None: "-", True: "ok", False: "NO"}[ok]


def print_pages(pages: list[PageScore]) -> None:
    for page in pages:
        case, found = page.case, page.found
        print(
            f"  {case.corpus[:5]}/{case.name:<40} F1 {page.f1:.2f}  title {mark(page.title_ok):2}"
            f"  byline {mark(page.byline_ok):2}  date {mark(page.date_ok)}"
        )
        if page.title_ok is False:
            print(f"      title  {found.title!r}\n      wanted {case.title!r}")
        if page.byline_ok is False:
            print(f"      byline {found.byline!r}\n      wanted {case.byline!r}")
        if page.date_ok is False:
            print(f"      date   {found.published}\n      wanted {case.published}")


def timed(cases: list[Case], extractor: Callable[[Case], Extraction]) -> tuple[CorpusScore, float]:
    started = time.perf_counter()
    result = score(cases, extractor)
    return result, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--verbose", action="store_true", help="one line per page")
    args = parser.parse_args()
    if not (args.corpus / "readability").is_dir():
        print(f"corpus not found: {args.corpus} (expected readability/ and scrapinghub/)")
        return 2
    print(f"Article-page extraction accuracy, corpus {args.corpus.resolve()}")
    print(RIGHT_MEANS)
    total = 0.0
    for name, cases in (
        ("readability", readability_cases(args.corpus)),
        ("scrapinghub", scrapinghub_cases(args.corpus)),
    ):
        ours, seconds = timed(cases, digest_extractor)
        naive, _ = timed(cases, naive_extractor)
        total += seconds
        print_table(name, ours, naive)
        if args.verbose:
            print_pages(ours.pages)
    print(f"\nparse_page time: {total:.1f} s for all pages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
