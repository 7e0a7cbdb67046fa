"""Planning editions on real stores: once per slot, in order, frozen, numbered without gaps."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import BASE_URL, TEST_DATA, StepClock, shared_path, url_of
from sqlalchemy import Engine

from digest.editions import Planner
from digest.errors import PlanningError
from digest.model import Article
from digest.newsletters import NewsletterConfig, parse_newsletters
from digest.sources.base import ParseOptions, RawDocument
from digest.sources.export import parse_export
from digest.store.articles import ArticleStore
from digest.store.editions import CarriedArticle, Edition, EditionStore
from digest.store.engine import create_store_engine

CONFIG = """
[publication]
name = "Test Gazette"
sections = ["Science", "Culture", "Political history"]
postal_address = "1 Test Street, Testville"

[[newsletter]]
name = "daily"
title = "Test Daily"
sender_name = "Test Gazette"
sender_address = "digest@gazette.example"
timezone = "Europe/Paris"
cadence = "0 7 * * *"
window_days = {window_days}
{evergreen}

[[newsletter.sections]]
name = "Science"
maximum = 2

[[newsletter.sections]]
name = "Culture"
maximum = 2
"""
# 07:00 in Paris on Friday 27 November 2026 (winter time): 06:00 UTC
SLOT = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)


def config(window_days: int = 7, evergreen: str = "") -> NewsletterConfig:
    text = CONFIG.format(window_days=window_days, evergreen=evergreen)
    return parse_newsletters(text, Path("test-newsletters.toml"))


def article(title: str, published: datetime, section: str = "Science", **more: object) -> Article:
    values: dict[str, object] = {
        "title": title,
        "section": section,
        "source": "test",
        "url": f"https://news.example.com/{title.lower().replace(' ', '-')}",
        "standfirst": f"A standfirst about {title.lower()}.",
        "published_at": published,
        "body": f"The body of {title}. It has a few sentences about {title.lower()}.",
    }
    values.update(more)
    return Article(**values)  # type: ignore[arg-type]


def planner(store: ArticleStore, cfg: NewsletterConfig | None = None) -> Planner:
    clock = StepClock(SLOT + timedelta(minutes=5))
    return Planner(store, EditionStore(store.engine), cfg or config(), clock=clock)


def titles(edition: Edition) -> list[str]:
    return [a["title"] for s in edition.snapshot["sections"] for a in s["articles"]]


def test_planning_a_slot_twice_gives_one_edition(store: ArticleStore) -> None:
    store.upsert([article("Tides", SLOT - timedelta(hours=3))])
    first = planner(store).plan("daily", at=SLOT + timedelta(hours=2))
    again = planner(store).plan("daily", at=SLOT + timedelta(hours=5))
    assert again == first
    assert first.slot == SLOT
    assert first.issue_number == 1
    assert first.snapshot["issue_number"] == 1
    assert len(EditionStore(store.engine).list_editions()) == 1


def test_next_slot_carries_none_of_the_first_editions_articles(store: ArticleStore) -> None:
    store.upsert(
        [
            article("Tides", SLOT - timedelta(hours=3)),
            article("Lanterns", SLOT - timedelta(hours=30), section="Culture"),
            article("Comets", SLOT - timedelta(days=2)),
            article("Tomorrow's piece", SLOT + timedelta(hours=3)),
        ]
    )
    first = planner(store).plan("daily", at=SLOT)
    second = planner(store).plan("daily", at=SLOT + timedelta(days=1))
    assert sorted(titles(first)) == ["Comets", "Lanterns", "Tides"]
    assert titles(second) == ["Tomorrow's piece"]
    assert second.issue_number == 2
    assert second.window_start == first.slot
    excluded = {e["title"]: e["reason"] for e in second.snapshot["excluded"]}
    assert excluded["Tides"] == "already sent in edition #1"


def test_empty_edition_is_kept_unnumbered_and_numbers_stay_gapless(store: ArticleStore) -> None:
    store.upsert([article("Tides", SLOT - timedelta(hours=3))])
    first = planner(store).plan("daily", at=SLOT)
    empty = planner(store).plan("daily", at=SLOT + timedelta(days=1))
    assert empty.empty
    assert empty.issue_number is None
    assert empty.snapshot["sections"] == []
    store.upsert([article("Comets", SLOT + timedelta(days=1, hours=2))])
    third = planner(store).plan("daily", at=SLOT + timedelta(days=2))
    assert (first.issue_number, third.issue_number) == (1, 2)
    # the window reaches back past the empty edition to the last edition that was sent
    assert third.window_start == first.slot


def test_the_snapshot_is_frozen_against_later_edits(store: ArticleStore) -> None:
    store.upsert([article("Tides", SLOT - timedelta(hours=3))])
    planned = planner(store).plan("daily", at=SLOT)
    store.upsert([article("Tides", SLOT - timedelta(hours=3), body="A corrected body.")])
    store.upsert([replace(article("Tides", SLOT - timedelta(hours=3)), standfirst="Changed.")])
    stored = EditionStore(store.engine).get_by_id(planned.id)
    assert stored is not None
    assert stored.snapshot == planned.snapshot
    (item,) = stored.snapshot["sections"][0]["articles"]
    assert item["summary"] == "A standfirst about tides."


def test_planning_an_earlier_slot_after_a_later_one_is_refused(store: ArticleStore) -> None:
    store.upsert([article("Tides", SLOT - timedelta(hours=3))])
    planner(store).plan("daily", at=SLOT)
    with pytest.raises(PlanningError, match="editions are planned in order"):
        planner(store).plan("daily", at=SLOT - timedelta(days=3))


def test_evergreen_fills_from_never_sent_archive_articles(store: ArticleStore) -> None:
    cfg = config(evergreen="[newsletter.evergreen]\nminimum = 2\nmax_age_days = 90")
    store.upsert(
        [
            article("Fresh", SLOT - timedelta(hours=2)),
            article("Archive one", SLOT - timedelta(days=40)),
            article("Archive two", SLOT - timedelta(days=30)),
            article("Too old", SLOT - timedelta(days=200)),
        ]
    )
    first = planner(store, cfg).plan("daily", at=SLOT)
    science = first.snapshot["sections"][0]["articles"]
    assert [(a["title"], a["archive"]) for a in science] == [
        ("Fresh", False),
        ("Archive one", True),
    ]
    second = planner(store, cfg).plan("daily", at=SLOT + timedelta(days=1))
    assert [a["title"] for a in second.snapshot["sections"][0]["articles"]] == ["Archive two"]


def test_slots_and_windows_across_a_daylight_saving_change(store: ArticleStore) -> None:
    saturday = datetime(2026, 3, 28, 6, 0, tzinfo=UTC)  # 07:00 Paris, winter time
    sunday = datetime(2026, 3, 29, 5, 0, tzinfo=UTC)  # 07:00 Paris, summer time
    store.upsert(
        [
            article("Before", saturday - timedelta(hours=1)),
            article("Between", saturday + timedelta(minutes=30)),
        ]
    )
    first = planner(store).plan("daily", at=datetime(2026, 3, 28, 9, 0, tzinfo=UTC))
    second = planner(store).plan("daily", at=datetime(2026, 3, 29, 5, 30, tzinfo=UTC))
    assert (first.slot, second.slot) == (saturday, sunday)
    assert second.slot - second.window_start == timedelta(hours=23)
    assert titles(first) == ["Before"]
    assert titles(second) == ["Between"]


def test_seed_related_links_point_at_the_articles_its_references_name(
    store: ArticleStore,
) -> None:
    seed = shared_path("seed", "000_911321bf76807308.txt")
    found = []
    for path in [seed, *sorted((TEST_DATA / "seed_related").glob("*.txt"))]:
        found += parse_export(RawDocument(str(path), path.read_bytes()), ParseOptions()).articles
    store.upsert(found)
    cfg = parse_newsletters(
        CONFIG.format(window_days=1, evergreen="").replace(
            'name = "Culture"', 'name = "Political history"'
        ),
        Path("test.toml"),
    )
    edition = planner(store, cfg).plan("daily", at=datetime(2025, 7, 19, 12, 0, tzinfo=UTC))
    (section,) = edition.snapshot["sections"]
    (seed_item,) = section["articles"]
    assert seed_item["title"].startswith("The role of secret diplomatic agreements")
    related = [(r["title"], r["kind"]) for r in seed_item["related"]]
    assert related == [
        ("State visits and the theatre of alliance", "reference"),
        ("Hunger and the reforming state", "reference"),
        ("Cash crops and the landlord's fading grip", "reference"),
    ]
    assert seed_item["related"][0]["url"] == (
        f"{BASE_URL}/political-history/state-visits-and-the-theatre-of-alliance"
    )


def test_a_plan_that_loses_the_race_returns_the_winners_edition(store: ArticleStore) -> None:
    store.upsert([article("Tides", SLOT - timedelta(hours=3))])
    rival = planner(store)

    class RacingEditions(EditionStore):
        """Another process stores its plan of the same slot just before we do."""

        def insert(self, edition: Edition, carried: Sequence[CarriedArticle]) -> Edition:
            winner = rival.plan("daily", at=SLOT)
            assert winner.id == edition.id
            return super().insert(edition, carried)

    racing = Planner(store, RacingEditions(store.engine), config(), clock=StepClock(SLOT))
    assert racing.plan("daily", at=SLOT).id == rival.plan("daily", at=SLOT).id
    assert len(EditionStore(store.engine).list_editions()) == 1


def _plan_in_another_process(url: str, start_at: float) -> tuple[str, int | None]:
    engine = create_store_engine(url)
    store = ArticleStore(engine, base_url=BASE_URL)
    time.sleep(max(0.0, start_at - time.time()))
    edition = Planner(store, EditionStore(engine), config()).plan("daily", at=SLOT)
    engine.dispose()
    return edition.id, edition.issue_number


def test_concurrent_plans_of_one_slot_in_separate_processes(engine: Engine) -> None:
    store = ArticleStore(engine, base_url=BASE_URL)
    store.upsert([article(f"Piece {n}", SLOT - timedelta(hours=n + 1)) for n in range(6)])
    context = multiprocessing.get_context("spawn")
    start_at = time.time() + 3.0  # every process is up and waiting by then
    with ProcessPoolExecutor(max_workers=4, mp_context=context) as pool:
        futures = [
            pool.submit(_plan_in_another_process, url_of(engine), start_at) for _ in range(4)
        ]
        results = {future.result() for future in futures}
    (edition_id, issue), *others = results
    assert others == []
    assert issue == 1
    (stored,) = EditionStore(engine).list_editions()
    assert stored.id == edition_id
