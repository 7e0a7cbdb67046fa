"""Article pages: small pages written here, then real pages measured against references.

The corpus tests score ``parse_page`` with ``benchmarks/extraction_scoring.py`` (the same
code ``benchmarks/extraction_accuracy.py`` prints figures with) and hold it to floors a
few points below the figures measured when they were set.
"""

from __future__ import annotations

import html
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import ACTIVE_MARKUP, shared_path

from digest.model import Article, BlockKind, body_blocks
from digest.sources.base import Parsed, ParseOptions, RawDocument
from digest.sources.page_metadata import clean_byline, decode_html
from digest.sources.pages import parse_page

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from extraction_scoring import (
    Case,
    CorpusScore,
    Extraction,
    readability_cases,
    score,
    scrapinghub_cases,
)

OPTIONS = ParseOptions(default_section="General", section_map={"world news": "World"})
PAGE_URL = "https://news.example.com/world/2025/harbour-vote"
PARAGRAPHS = [
    "The harbour board met on a grey morning to weigh the cost of dredging against the "
    "cost of waiting, and the argument ran long because both sides had numbers.",
    "Fishermen filled the back rows. Most of them had seen the channel silt up twice "
    "before, and they said so, at length, to anyone who would write it down.",
    "By noon the board had voted five to two to dredge before the spring tides, "
    "with the cost split between the port and the town over three years.",
]
QUOTE = "We cannot wait for the sea to decide for us."


def page(head: str, body: str) -> bytes:
    return f"<!DOCTYPE html><html><head>{head}</head><body>{body}</body></html>".encode()


def article_body(quote: str = QUOTE) -> str:
    paragraphs = "".join(f"<p>{text}</p>" for text in PARAGRAPHS)
    return (
        "<nav><a href='/'>Home</a> <a href='/world'>World</a></nav>"
        f"<article><h1>Harbour board votes to dredge</h1>{paragraphs}"
        f"<blockquote><p>{quote}</p></blockquote><p>{PARAGRAPHS[0]}</p></article>"
        "<footer>© News Example. All rights reserved.</footer>"
    )


def parse(data: bytes, url: str | None = PAGE_URL, options: ParseOptions = OPTIONS) -> Parsed:
    return parse_page(RawDocument("harbour.html", data, url=url), options)


def only_article(parsed: Parsed) -> Article:
    assert parsed.rejected == []
    (article,) = parsed.articles
    return article


def stored_strings(article: Article) -> list[str]:
    values = [article.title, article.section, article.source, article.body]
    values += [article.url or "", article.guid or "", article.standfirst or ""]
    return [*values, article.author or "", article.image_url or ""]


JSON_LD_HEAD = """
<title>Harbour board votes to dredge | News Example</title>
<link rel="canonical" href="/world/harbour-vote">
<script type="application/ld+json">
{"@context": "https://schema.org", "@graph": [
  {"@type": "WebSite", "name": "News Example"},
  {"@type": ["NewsArticle"], "headline": "Harbour board votes to dredge",
   "description": "The channel will be dredged before the spring tides. The town pays half.",
   "datePublished": "2025-03-10T09:30:00+01:00", "articleSection": ["World news", "Ports"],
   "author": [{"@type": "Person", "name": "Ada Mensah"}, {"@type": "Person", "name": "Tom Lee"}],
   "image": {"@type": "ImageObject", "url": "https://img.example.com/harbour.jpg"}}
]}
</script>"""


def test_json_ld_page() -> None:
    article = only_article(parse(page(JSON_LD_HEAD, article_body())))
    assert article.title == "Harbour board votes to dredge"
    assert article.author == "Ada Mensah, Tom Lee"
    assert article.published_at == datetime(2025, 3, 10, 8, 30, tzinfo=UTC)
    assert article.section == "World"  # the first category, through the section map
    assert article.standfirst == (
        "The channel will be dredged before the spring tides. The town pays half."
    )
    assert article.image_url == "https://img.example.com/harbour.jpg"
    assert article.url == "https://news.example.com/world/harbour-vote"
    assert article.source == "harbour.html"
    blocks = list(body_blocks(article.body))
    assert [b.text for b in blocks if b.kind is BlockKind.PARAGRAPH][:3] == PARAGRAPHS
    assert [b.text for b in blocks if b.kind is BlockKind.PULL_QUOTE] == [QUOTE]
    assert f"\n\n> {QUOTE}\n\n" in article.body
    assert "Home" not in article.body
    assert "rights reserved" not in article.body
    assert "Harbour board votes" not in article.body  # the headline is a field, not body
    assert article.read_minutes == 1


def test_opengraph_only_page_and_relative_image() -> None:
    head = """
    <meta property="og:title" content="Harbour board votes to dredge">
    <meta property="og:description" content="Five votes to two.">
    <meta property="og:image" content="../img/harbour.jpg?w=800&amp;h=600">
    <meta property="og:url" content="https://news.example.com/harbour">
    <meta property="article:published_time" content="2025-03-10T09:30:00Z">
    <meta property="article:author" content="https://news.example.com/staff/ada">
    <meta name="author" content="By  Ada   Mensah">"""
    article = only_article(parse(page(head, article_body())))
    assert article.title == "Harbour board votes to dredge"
    assert article.standfirst == "Five votes to two."
    assert article.image_url == "https://news.example.com/world/img/harbour.jpg?w=800&h=600"
    assert article.url == "https://news.example.com/harbour"
    assert article.published_at == datetime(2025, 3, 10, 9, 30, tzinfo=UTC)
    assert article.author == "Ada Mensah"  # not the profile URL of article:author
    assert article.section == "General"


def test_naive_date_is_read_in_the_zone_of_the_options() -> None:
    head = """<meta property="og:title" content="Harbour vote">
    <meta property="article:published_time" content="2025-07-01T09:30:00">"""
    options = ParseOptions(zone=ZoneInfo("Europe/Paris"))
    article = only_article(parse(page(head, article_body()), options=options))
    assert article.published_at == datetime(2025, 7, 1, 7, 30, tzinfo=UTC)
    assert article.published_at.tzinfo is not None


def test_title_from_headings_and_url_from_the_document() -> None:
    article = only_article(parse(page("", article_body()), url="https://x.example.org/a"))
    assert article.title == "Harbour board votes to dredge"
    assert article.url == "https://x.example.org/a"
    assert article.image_url is None
    assert article.author is None


def test_page_without_title_is_rejected_with_reason() -> None:
    body = "".join(f"<p>{text}</p>" for text in PARAGRAPHS)
    parsed = parse(page("<meta charset='utf-8'>", f"<div>{body}</div>"))
    assert parsed.articles == []
    (rejection,) = parsed.rejected
    assert rejection.source == rejection.item == "harbour.html"
    assert rejection.reason == "no article title found in the page's metadata or headings"


def test_page_without_text_or_markup_is_rejected() -> None:
    empty = "<div><img src='a.jpg'></div><script>var text = 'not text';</script><p> </p>"
    parsed = parse(page("<title>Only a title</title>", empty))
    assert [r.reason for r in parsed.rejected] == ["no article text found in the page"]
    assert parse(b"   ").rejected[0].reason == "the page is empty: no HTML to read"


HOSTILE_HEAD = """
<title>Harbour <script>alert(1)</script>vote</title>
<meta property="og:title" content="&lt;script&gt;alert(1)&lt;/script&gt;Harbour vote">
<meta property="og:description"
      content="&amp;lt;img src=x onerror=alert(1)&amp;gt; Five votes &amp;lt;script&amp;gt;x()">
<meta property="og:image" content="javascript:alert(1)">
<link rel="canonical" href="javascript:alert(document.cookie)">
<meta property="article:section" content="&lt;svg onload=alert(1)&gt;World">
<script type="application/ld+json">
{"@type": "NewsArticle", "author": {"name": "<img src=x onerror=alert(1)>Eve Ryder"}}
</script>"""
HOSTILE_BODY = f"""
<article><h1 onclick="alert(1)">Harbour vote</h1>
<p>{PARAGRAPHS[0]} <img src="x" onerror="alert(1)"> <a href="javascript:alert(1)">link</a></p>
<p>{PARAGRAPHS[1]} &amp;lt;script&amp;gt;alert(1)&amp;lt;/script&amp;gt; done.</p>
<script>document.write('<p>injected</p>')</script>
<p>{PARAGRAPHS[2]} javascript:alert(2) &lt;iframe src=x onload=alert(1)&gt;</p>
<blockquote onmouseover="alert(1)">{QUOTE}</blockquote></article>"""


def test_hostile_page_keeps_nothing_active_in_any_field() -> None:
    article = only_article(parse(page(HOSTILE_HEAD, HOSTILE_BODY)))
    for value in stored_strings(article):
        assert not ACTIVE_MARKUP.search(value), value
        assert not ACTIVE_MARKUP.search(html.unescape(value)), value  # not even one decode away
    assert article.title == "Harbour vote"
    assert article.author == "Eve Ryder"
    assert article.url == PAGE_URL  # the script canonical is refused, the page URL stands
    assert article.image_url is None
    assert "injected" not in article.body
    assert PARAGRAPHS[2][:40] in article.body


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("By Nathan Willis\n   March 25, 2015", "Nathan Willis"),
        ("by Lucas Nolan22 Dec 2016651", "Lucas Nolan"),
        ("Par Sébastien Farcis", "Sébastien Farcis"),
        ("Von Max Mustermann", "Max Mustermann"),
        ("Por  Ana  Pérez | 2019-11-20", "Ana Pérez"),
        ("Analysis by Chris Cillizza", "Chris Cillizza"),
        ("Ursula von der Leyen", "Ursula von der Leyen"),
        ("Von Miller", "Von Miller"),
        ("https://example.com/author/jane", None),
        ("@handle", None),
        ("", None),
    ],
)
def test_bylines_are_cleaned(raw: str, clean: str | None) -> None:
    assert clean_byline(raw) == clean


def test_decoding_follows_bom_then_utf8_then_declared_charset() -> None:
    latin = "<meta charset='iso-8859-1'><p>Café – crème</p>".encode("cp1252")
    assert "Café – crème" in decode_html(latin)
    assert decode_html(b"\xef\xbb\xbf<p>\xc3\xa9</p>") == "<p>é</p>"
    assert "é" in decode_html("<meta charset='iso-8859-1'><p>é</p>".encode())  # valid UTF-8 wins
    assert "\ufffd" in decode_html(b"<p>\xff broken</p>")


# -- real pages ------------------------------------------------------------------------------

# Measured when these floors were set (benchmarks/extraction_accuracy.py): readability
# titles 100% (of 43), bylines 91.7% (of 36), dates 100% (of 12), body F1 0.904;
# scrapinghub dates 100% (of 18 URLs with a date), body F1 0.967. Floors are about three
# points lower; where a single page is worth more than that, one miss is allowed.
FLOORS = {"title_ok": 0.97, "byline_ok": 0.88, "date_ok": 0.91}
READABILITY_F1_FLOOR = 0.87
SCRAPINGHUB_DATE_FLOOR = 0.94
SCRAPINGHUB_F1_FLOOR = 0.93


@pytest.fixture(scope="module")
def corpus() -> Path:
    return shared_path("corpora", "articles")


def parsed_case(case: Case) -> Parsed:
    return parse_page(RawDocument(case.name, case.html, url=case.url), ParseOptions())


def as_extraction(parsed: Parsed) -> Extraction:
    if not parsed.articles:
        return Extraction(None, None, None, "")
    article = parsed.articles[0]
    return Extraction(article.title, article.author, article.published_at, article.body)


@pytest.fixture(scope="module")
def readability_results(corpus: Path) -> tuple[CorpusScore, list[Parsed]]:
    return scored(readability_cases(corpus))


@pytest.fixture(scope="module")
def scrapinghub_results(corpus: Path) -> tuple[CorpusScore, list[Parsed]]:
    return scored(scrapinghub_cases(corpus))


def scored(cases: list[Case]) -> tuple[CorpusScore, list[Parsed]]:
    parsed = {case.name: parsed_case(case) for case in cases}
    return score(cases, lambda case: as_extraction(parsed[case.name])), list(parsed.values())


@pytest.mark.corpus
@pytest.mark.parametrize("field", sorted(FLOORS))
def test_readability_metadata_accuracy(
    readability_results: tuple[CorpusScore, list[Parsed]], field: str
) -> None:
    result, _ = readability_results
    wrong = [p.case.name for p in result.pages if getattr(p, field) is False]
    share = result.share(field)
    assert share is not None
    assert share >= FLOORS[field], f"{field}: {share:.1%}, wrong: {wrong}"


@pytest.mark.corpus
def test_readability_body_f1(readability_results: tuple[CorpusScore, list[Parsed]]) -> None:
    result, _ = readability_results
    assert len(result.pages) >= 40
    assert result.mean_f1 >= READABILITY_F1_FLOOR


@pytest.mark.corpus
def test_scrapinghub_body_f1(scrapinghub_results: tuple[CorpusScore, list[Parsed]]) -> None:
    result, _ = scrapinghub_results
    assert len(result.pages) >= 70
    assert result.mean_f1 >= SCRAPINGHUB_F1_FLOOR


@pytest.mark.corpus
def test_scrapinghub_dates_agree_with_urls(
    scrapinghub_results: tuple[CorpusScore, list[Parsed]],
) -> None:
    result, _ = scrapinghub_results
    wrong = [p.case.url for p in result.pages if p.date_ok is False]
    assert result.checked("date_ok") >= 15
    assert (result.share("date_ok") or 0) >= SCRAPINGHUB_DATE_FLOOR, wrong


@pytest.mark.corpus
def test_corpus_pages_store_nothing_active(
    readability_results: tuple[CorpusScore, list[Parsed]],
    scrapinghub_results: tuple[CorpusScore, list[Parsed]],
) -> None:
    articles = [
        a for parsed in readability_results[1] + scrapinghub_results[1] for a in parsed.articles
    ]
    assert len(articles) >= 110
    offending = [v for a in articles for v in stored_strings(a) if ACTIVE_MARKUP.search(v)]
    assert offending == []
    assert all(a.published_at is None or a.published_at.tzinfo is not None for a in articles)
