"""Feeds: RSS 0.91/1.0/2.0, Atom and JSON Feed of our own, then feedparser's whole corpus."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import ACTIVE_MARKUP, TEST_DATA, shared_path

from digest.errors import SourceError
from digest.model import Article, BlockKind, body_blocks
from digest.sources.base import Parsed, ParseOptions, RawDocument
from digest.sources.dispatch import parse_document

FEEDS = TEST_DATA / "feeds"
OPTIONS = ParseOptions(default_section="General", section_map={"TECH": "Technology"})


def parse(name: str, options: ParseOptions = OPTIONS) -> Parsed:
    path = FEEDS / name
    return parse_document(RawDocument(str(path), path.read_bytes()), options)


def by_title(parsed: Parsed) -> dict[str, Article]:
    return {a.title: a for a in parsed.articles}


def test_rss2_items_map_onto_articles() -> None:
    parsed = parse("rss2.xml")
    items = by_title(parsed)
    dredging = items["Dredging season opens early"]
    assert dredging.url == "https://harbour.example.org/news/dredging-season?utm_source=rss"
    assert dredging.guid == "harbour-101"
    assert dredging.section == "Technology"  # first category the map knows, any case
    assert dredging.author == "Ada Mensah"
    assert dredging.published_at == datetime(2025, 9, 30, 5, 15, tzinfo=UTC)
    assert (
        dredging.standfirst
        == "The channel will be deepened a month ahead of plan. Work starts Monday."
    )
    blocks = list(body_blocks(dredging.body))
    assert [b.kind for b in blocks] == [
        BlockKind.PARAGRAPH,
        BlockKind.PULL_QUOTE,
        BlockKind.PARAGRAPH,
    ]
    assert blocks[0].text == "The harbour board voted to start dredging in October."
    assert blocks[1].text == "We cannot wait for spring."
    assert dredging.image_url == "https://harbour.example.org/img/dredger.jpg"
    assert dredging.read_minutes == 1


def test_rss2_guid_permalink_stands_in_for_link_and_defaults_apply() -> None:
    items = by_title(parse("rss2.xml"))
    gauge = items["Tide gauge moved"]
    assert gauge.url == "https://harbour.example.org/news/tide-gauge"
    assert gauge.section == "General"
    assert gauge.body == "The gauge now sits on the new pier."
    assert gauge.read_minutes is None  # summary only: the full text's length is unknown


def test_untitled_item_gets_its_first_sentence_and_empty_item_is_rejected() -> None:
    parsed = parse("rss2.xml")
    untitled = by_title(parsed)[
        "A short note with no title. It still deserves a place in the digest."
    ]
    assert untitled.url is None
    assert untitled.guid == "harbour-103"
    (rejection,) = parsed.rejected
    assert rejection.item == "item 4"
    assert rejection.reason == "the item has no title and no text"


def test_rss1_and_rss091() -> None:
    (comet,) = parse("rss1.rdf").articles
    assert comet.section == "Science"
    assert comet.author == "Ruth Abara"
    assert comet.published_at == datetime(2025, 10, 2, 19, 40, tzinfo=UTC)
    (market,) = parse("rss091.xml").articles
    assert market.url == "http://crier.example.com/market-square.html"
    assert market.published_at is None


def test_atom_entries_with_relative_links_and_text_types() -> None:
    items = by_title(parse("atom.xml"))
    marsh = items["Salt marsh <restoration> works"]
    assert marsh.url == "https://field.example.com/reports/salt-marsh"
    assert marsh.guid == "tag:field.example.com,2025:salt-marsh"
    assert marsh.published_at == datetime(2025, 10, 4, 8, 0, tzinfo=UTC)
    assert marsh.author == "Kofi Boateng"
    assert marsh.section == "Environment"
    assert marsh.body.split("\n\n") == [
        "Five years ago the old dykes were breached on purpose.",
        "Today the marsh holds twice as many wading birds.",
    ]
    plain = items["Comparing 3 < 4 in plain text"]
    assert plain.url is None
    assert "<script" not in plain.body
    assert plain.body.startswith("Plain text content, where a")


def test_json_feed() -> None:
    parsed = parse("feed.json")
    bread = by_title(parsed)["Why bread costs what it costs"]
    assert bread.section == "Economy"
    assert bread.author == "Lena Varga"
    assert bread.image_url == "https://kte.example.com/img/loaf.jpg"
    assert bread.body == "Flour is the smallest part.\n\nRent, wages and energy are the rest."
    eggs = next(a for a in parsed.articles if a.guid == "kte-8")
    assert eggs.title.startswith("A note without a title about rising egg prices")
    assert eggs.author == "The KTE desk"
    assert eggs.published_at == datetime(2025, 10, 2, 4, 0, tzinfo=UTC)
    (rejection,) = parsed.rejected
    assert rejection.reason == "item 3 is a JSON str, not an object"


def test_broken_json_feed_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"version": "https://jsonfeed.org/version/1.1",\n "items": [,]}')
    with pytest.raises(SourceError, match=r"line 2, column 12"):
        parse_document(RawDocument(str(path), path.read_bytes()), OPTIONS)


def stored_strings(article: Article) -> list[str]:
    values = [article.title, article.section, article.source, article.body]
    values += [article.url or "", article.guid or "", article.standfirst or ""]
    values += [article.author or "", article.image_url or ""]
    return values


def corpus_files() -> list[Path]:
    root = shared_path("corpora", "feeds")
    return sorted(
        p for p in root.rglob("*") if p.is_file() and p.name not in {"LICENSE", "SOURCE.txt"}
    )


@pytest.mark.corpus
def test_every_corpus_feed_parses_without_crash_and_stores_nothing_active() -> None:
    outcomes = {"articles": 0, "warned": 0}
    failures: list[str] = []
    for path in corpus_files():
        doc = RawDocument(str(path), path.read_bytes())
        try:
            parsed = parse_document(doc, OPTIONS)
        except SourceError as exc:
            failures.append(exc.reason)
            continue
        outcomes["articles"] += len(parsed.articles)
        outcomes["warned"] += bool(parsed.warnings)
        for article in parsed.articles:
            for value in stored_strings(article):
                assert not ACTIVE_MARKUP.search(value), f"{path.name}: active content in {value!r}"
    assert outcomes["articles"] >= 70
    assert outcomes["warned"] >= 15
    assert all(reason.startswith("not a readable feed") for reason in failures), failures


# Under illformed/ these two are well-formed XML whose oddity is in a field digest does not
# store (a GeoRSS point without coordinates, a channel-level date in Greek): feedparser does
# not flag them and there is nothing to report.
NOT_ILL_FORMED_FOR_DIGEST = {"georss_point_no_coords.xml", "http_high_bit_date.xml"}


@pytest.mark.corpus
def test_ill_formed_corpus_feeds_are_reported_as_such() -> None:
    root = shared_path("corpora", "feeds", "illformed")
    files = sorted(p for p in root.rglob("*.xml") if p.name not in NOT_ILL_FORMED_FOR_DIGEST)
    unreported = []
    for path in files:
        doc = RawDocument(str(path), path.read_bytes())
        try:
            parsed = parse_document(doc, OPTIONS)
        except SourceError as exc:
            if not exc.reason.startswith("not a readable feed"):
                unreported.append(path.name)
            continue
        if not any(w.startswith("ill-formed feed") for w in parsed.warnings):
            unreported.append(path.name)
    assert len(files) == 9
    assert unreported == []


def test_unreadable_item_date_is_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "dates.xml"
    path.write_text(
        '<rss version="2.0"><channel><title>t</title>'
        "<item><title>Odd date</title><pubDate>the day after tomorrow</pubDate></item>"
        "</channel></rss>"
    )
    parsed = parse_document(RawDocument(str(path), path.read_bytes()), OPTIONS)
    (article,) = parsed.articles
    assert article.published_at is None
    assert parsed.warnings == [
        "item 1: date 'the day after tomorrow' could not be read; it counts as undated"
    ]


@pytest.mark.corpus
def test_hostile_markup_in_sanitize_corpus_never_survives() -> None:
    root = shared_path("corpora", "feeds", "wellformed", "sanitize")
    texts = []
    for path in sorted(root.glob("*.xml")):
        parsed = parse_document(RawDocument(str(path), path.read_bytes()), OPTIONS)
        for article in parsed.articles:
            texts += stored_strings(article)
    assert texts
    offending = [t for t in texts if ACTIVE_MARKUP.search(t)]
    assert offending == []
