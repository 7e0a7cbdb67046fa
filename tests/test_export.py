"""Page exports: the seed export and exports of our own in the same shape."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from conftest import ACTIVE_MARKUP, TEST_DATA, shared_path

from digest.model import BlockKind, body_blocks
from digest.sources.base import Parsed, ParseOptions, RawDocument
from digest.sources.export import parse_date_line, parse_export

OPTIONS = ParseOptions()
SEED_NAME = "000_911321bf76807308.txt"


def parse_file(path: Path, options: ParseOptions = OPTIONS) -> Parsed:
    return parse_export(RawDocument(str(path), path.read_bytes()), options)


def test_seed_export_reads_every_field() -> None:
    parsed = parse_file(shared_path("seed", SEED_NAME))
    assert parsed.rejected == []
    (article,) = parsed.articles
    assert article.section == "Political history"
    assert article.title.startswith("The role of secret diplomatic agreements")
    assert article.title.endswith("precipitating alliances and conflicts.")
    assert article.standfirst is not None
    assert article.standfirst.startswith("Secret agreements and backchannel talks quietly mold")
    assert article.author == "Robert Harris"
    assert article.published_at == datetime(2025, 7, 19, tzinfo=UTC)
    assert article.read_minutes == 3
    assert article.url is None  # the store builds one from the base URL


def test_seed_body_has_no_share_line_adverts_or_related_block() -> None:
    (article,) = parse_file(shared_path("seed", SEED_NAME)).articles
    assert "ADVERTISEMENT" not in article.body
    assert "Linkedin" not in article.body
    assert "Related Articles" not in article.body
    assert "Ceremonial diplomacy" not in article.body
    blocks = list(body_blocks(article.body))
    assert blocks[0].text.startswith("In international history, many pivotal alignments")
    assert blocks[-1].text.startswith("Ultimately, the study of secret diplomatic arrangements")
    quotes = [b.text for b in blocks if b.kind is BlockKind.PULL_QUOTE]
    assert quotes == [
        "Hidden coalitions rise and fall on strategic patience and perception.",
        "Covert deals shape alliances and rivalries by reframing perceived options.",
        "Secrecy can accelerate or derail diplomacy depending on context and trust.",
        "Public accountability remains the ultimate test of covert diplomacy.",
    ]
    assert sum(1 for b in blocks if b.kind is BlockKind.PARAGRAPH) == 12


def test_seed_related_block_has_twelve_references() -> None:
    (article,) = parse_file(shared_path("seed", SEED_NAME)).articles
    assert len(article.related) == 12
    assert all(ref.section == "Political history" for ref in article.related)
    assert article.related[0].date == date(2025, 7, 16)
    assert article.related[0].standfirst is not None
    assert article.related[0].standfirst.startswith("Ceremonial diplomacy, including state visits")
    assert article.related[-1].date == date(2025, 7, 31)
    assert all(ref.date is not None and ref.standfirst for ref in article.related)


def test_missing_byline_and_missing_read_time() -> None:
    (lanterns,) = parse_file(TEST_DATA / "exports" / "culture-lanterns.txt").articles
    assert lanterns.author is None
    assert lanterns.read_minutes == 3
    (ports,) = parse_file(TEST_DATA / "exports" / "economy-ports.txt").articles
    assert ports.author == "Tomás Ferreira"
    # no read time printed: estimated from the body's words instead
    assert ports.read_minutes == 1
    assert ports.published_at == datetime(2025, 9, 29, tzinfo=UTC)


def test_windows_line_endings_and_bom_read_the_same(tmp_path: Path) -> None:
    source = (TEST_DATA / "exports" / "science-tides.txt").read_text("utf-8")
    variant = tmp_path / "tides-crlf-bom.txt"
    variant.write_bytes(b"\xef\xbb\xbf" + source.replace("\n", "\r\n").encode("utf-8"))
    (plain,) = parse_file(TEST_DATA / "exports" / "science-tides.txt").articles
    (crlf,) = parse_file(variant).articles
    assert crlf.section == "Science"  # no BOM glued to the first field
    assert (crlf.title, crlf.body, crlf.related) == (plain.title, plain.body, plain.related)
    assert "\r" not in crlf.body


def test_dates_mean_midnight_in_the_publication_zone() -> None:
    paris = ParseOptions(zone=ZoneInfo("Europe/Paris"))
    (article,) = parse_file(TEST_DATA / "exports" / "science-tides.txt", paris).articles
    assert article.published_at is not None
    assert article.published_at.astimezone(UTC) == datetime(2025, 10, 2, 22, 0, tzinfo=UTC)


def test_malformed_export_is_rejected_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.txt"
    path.write_text("Science\nA title\nA standfirst\nPublished by Someone\nsoon, probably\nBody.\n")
    parsed = parse_file(path)
    assert parsed.articles == []
    (rejection,) = parsed.rejected
    assert rejection.source == str(path)
    assert "line 5" in rejection.reason
    assert "expected a date line" in rejection.reason


def test_too_short_export_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "short.txt"
    path.write_text("Just one line\n")
    (rejection,) = parse_file(path).rejected
    assert "at least section, title, standfirst and date" in rejection.reason


def test_export_text_is_kept_as_data_but_never_active(tmp_path: Path) -> None:
    path = tmp_path / "hostile.txt"
    path.write_text(
        "Technology\nWhy <script>alert(1)</script> still works\nA standfirst about a < b.\n"
        "March 2, 2025 - 2 min Read\n"
        'Click <a href="javascript:alert(1)">here</a> or <img src=x onerror=alert(1)>.\n'
        "Comparisons like 3 < 4 and x > y stay as they are.\n"
    )
    (article,) = parse_file(path).articles
    for value in [article.title, article.standfirst or "", article.body]:
        assert not ACTIVE_MARKUP.search(value), value
    # defanged, not deleted: an article about scripting keeps its words
    assert article.title == "Why ‹script›alert(1)‹/script› still works"
    assert "javascript[:]alert(1)" in article.body
    assert "‹img src=x onerror=alert(1)›" in article.body
    assert article.standfirst == "A standfirst about a < b."
    assert "3 < 4 and x > y" in article.body


def test_date_line_variants() -> None:
    assert parse_date_line("July 19, 2025 - 3 min Read") == (date(2025, 7, 19), 3)
    assert parse_date_line("Sept 3, 2024 — 12 minutes read") == (date(2024, 9, 3), 12)
    assert parse_date_line("August 07, 2025") == (date(2025, 8, 7), None)
    assert parse_date_line("February 30, 2025") is None
    assert parse_date_line("Published by July") is None
