"""The article store, on SQLite and PostgreSQL: identity, updates, related references."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from conftest import BASE_URL, TEST_DATA
from sqlalchemy import Connection, Engine

import digest.store.editorial_schema
import digest.store.ledger_schema
import digest.store.queue_schema
import digest.store.schedule_schema  # noqa: F401  (and the scheduler's)
import subscribers.schema  # noqa: F401  (the subscriber tables are on the same metadata)
from digest.model import Article, RelatedRef
from digest.sources.base import ParseOptions, RawDocument
from digest.sources.export import parse_export
from digest.store.articles import ArticleStore, Outcome
from digest.store.migrate import current_revision, head_revision, is_ours
from digest.store.schema import metadata
from digest.terms import bucket, unpack

WHEN = datetime(2025, 10, 3, 8, 0, tzinfo=UTC)


def article(title: str = "Tides and tables", **fields: object) -> Article:
    values: dict[str, object] = {
        "title": title,
        "section": "Science",
        "source": "test",
        "url": f"https://news.example.com/science/{title.lower().replace(' ', '-')}",
        "standfirst": f"Standfirst of {title}.",
        "published_at": WHEN,
        "body": f"Body of {title}.",
    }
    values.update(fields)
    return Article(**values)  # type: ignore[arg-type]


def exports() -> list[Article]:
    found = []
    for path in sorted((TEST_DATA / "exports").glob("*.txt")):
        found += parse_export(RawDocument(str(path), path.read_bytes()), ParseOptions()).articles
    return found


def test_migrations_create_exactly_the_schema(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        # procrastinate's own tables (revision 0011, PostgreSQL) are not on our metadata
        options = {"compare_type": True, "include_name": is_ours}
        context = MigrationContext.configure(conn, opts=options)
        assert compare_metadata(context, metadata) == []


def test_ingesting_twice_changes_nothing(store: ArticleStore) -> None:
    batch = [article("One"), article("Two")]
    assert store.upsert(batch) == [Outcome.ADDED, Outcome.ADDED]
    first = {a.id: a for a in store.list_articles()}
    assert store.upsert(batch) == [Outcome.UNCHANGED, Outcome.UNCHANGED]
    assert {a.id: a for a in store.list_articles()} == first
    assert store.count() == 2


def test_changed_article_is_updated_in_place(store: ArticleStore) -> None:
    store.upsert([article("One")])
    before = store.list_articles()[0]
    assert store.upsert([article("One", body="A corrected body.")]) == [Outcome.UPDATED]
    (after,) = store.list_articles()
    assert after.id == before.id
    assert after.body == "A corrected body."
    assert after.first_seen_at == before.first_seen_at
    assert after.updated_at > before.updated_at
    assert after.content_hash != before.content_hash


def test_urls_are_canonical_so_tracking_variants_are_one_article(store: ArticleStore) -> None:
    plain = article("One", url="https://News.Example.com:443/science/one#comments")
    tracked = article("One", url="https://news.example.com/science/one?utm_source=x&fbclid=y")
    assert store.upsert([plain]) == [Outcome.ADDED]
    assert store.upsert([tracked]) == [Outcome.UNCHANGED]
    (stored,) = store.list_articles()
    assert stored.url == "https://news.example.com/science/one"


def test_source_without_url_gets_a_stable_built_url(store: ArticleStore) -> None:
    store.upsert([article("Lanterns & Floods: a History", url=None, section="Culture")])
    (stored,) = store.list_articles()
    assert stored.url == f"{BASE_URL}/culture/lanterns-floods-a-history"
    assert store.upsert([article("Lanterns & Floods: a History", url=None, section="Culture")]) == [
        Outcome.UNCHANGED
    ]


def test_guid_keeps_identity_when_title_changes(store: ArticleStore) -> None:
    store.upsert([article("Draft title", url=None, guid="tag:news,2025:42")])
    (before,) = store.list_articles()
    outcome = store.upsert([article("Final title", url=None, guid="tag:news,2025:42")])
    assert outcome == [Outcome.UPDATED]
    (after,) = store.list_articles()
    assert (after.id, after.url, after.title) == (before.id, before.url, "Final title")


def test_content_hash_identifies_items_without_url_or_guid(store: ArticleStore) -> None:
    item = article("Untitled note", url=None, section="General")
    store.upsert([item])
    # the same content under another base URL is still recognised as the same article
    other = ArticleStore(store.engine, base_url="https://elsewhere.example", clock=store.clock)
    assert other.upsert([item]) == [Outcome.UNCHANGED]
    assert store.count() == 1


def test_same_url_twice_in_one_batch(store: ArticleStore) -> None:
    outcomes = store.upsert([article("One"), article("One", body="Second version.")])
    assert outcomes == [Outcome.ADDED, Outcome.UPDATED]
    (stored,) = store.list_articles()
    assert stored.body == "Second version."


def test_times_are_aware_utc_after_a_round_trip(store: ArticleStore) -> None:
    paris_morning = datetime(2025, 7, 19, 9, 30, tzinfo=timezone(timedelta(hours=2)))
    store.upsert([article("One", published_at=paris_morning)])
    (stored,) = store.list_articles()
    assert stored.published_at == datetime(2025, 7, 19, 7, 30, tzinfo=UTC)
    assert stored.published_at is not None
    assert stored.published_at.tzinfo is not None
    assert stored.first_seen_at.tzinfo is not None


def test_listing_filters_and_order(store: ArticleStore) -> None:
    store.upsert(
        [
            article("Old", published_at=WHEN - timedelta(days=10)),
            article("New", published_at=WHEN),
            article("Culture piece", section="Culture", published_at=WHEN - timedelta(days=1)),
            article("Undated", published_at=None),
        ]
    )
    titles = [a.title for a in store.list_articles()]
    assert titles == ["Undated", "New", "Culture piece", "Old"]  # undated: first seen (2026)
    assert [a.title for a in store.list_articles(section="science", limit=2)] == ["Undated", "New"]
    since = [a.title for a in store.list_articles(since=WHEN - timedelta(days=2))]
    assert since == ["Undated", "New", "Culture piece"]


def test_related_references_resolve_in_both_directions(store: ArticleStore) -> None:
    tides, lanterns, ports = _by_section(exports())
    # tides first: its references to lanterns and ports have no target yet
    store.upsert([tides])
    stored = store.get_by_url(_url_of(store, tides))
    assert stored is not None
    assert [r.target_id for r in stored.related] == [None, None, None]
    # lanterns arrives later: the reference printed in tides now finds it
    store.upsert([lanterns])
    stored = store.get_by_url(_url_of(store, tides))
    lanterns_stored = store.get_by_url(_url_of(store, lanterns))
    assert stored is not None
    assert lanterns_stored is not None
    assert stored.related[0].target_id == lanterns_stored.id
    # lanterns' own reference points back at tides, which was already stored
    assert lanterns_stored.related[0].target_id == stored.id
    # ports: tides printed its standfirst with a small difference ("they’re" for "they are")
    store.upsert([ports])
    stored = store.get_by_url(_url_of(store, tides))
    ports_stored = store.get_by_url(_url_of(store, ports))
    assert stored is not None
    assert ports_stored is not None
    assert stored.related[1].target_id == ports_stored.id
    assert stored.related[1].target_title == ports_stored.title
    # a reference to an article nobody has ingested stays unresolved
    assert stored.related[2].target_id is None
    # a reworded standfirst is a different sentence, not a small difference
    assert ports_stored.related[0].target_id is None


def test_related_references_of_an_updated_article_are_replaced(store: ArticleStore) -> None:
    refs = (RelatedRef(section="Science", standfirst="Something else entirely.", date=WHEN.date()),)
    store.upsert([article("One", related=refs)])
    store.upsert([article("One", related=())])
    (stored,) = store.list_articles()
    assert stored.related == ()


def test_reference_never_resolves_to_its_own_article(store: ArticleStore) -> None:
    own = article("Self", standfirst="A standfirst that points at itself.")
    ref = RelatedRef(section="Science", standfirst="A standfirst that points at itself.")
    store.upsert([replace(own, related=(ref,))])
    (stored,) = store.list_articles()
    assert stored.related[0].target_id is None


def test_reference_by_date_and_section_is_not_fooled_by_other_sections(store: ArticleStore) -> None:
    target = article(
        "Harbours", standfirst="Ports wait for the grid to catch up with their cranes."
    )
    store.upsert([replace(target, section="Economy")])
    near_miss = RelatedRef(
        section="Science",
        standfirst="Ports wait for the grid to catch up with their new cranes.",
        date=date(2025, 10, 3),
    )
    store.upsert([article("Referrer", related=(near_miss,))])
    referrer = next(a for a in store.list_articles() if a.title == "Referrer")
    assert referrer.related[0].target_id is None


def _by_section(found: list[Article]) -> tuple[Article, Article, Article]:
    sections = {a.section: a for a in found}
    return sections["Science"], sections["Culture"], sections["Economy"]


def _url_of(store: ArticleStore, item: Article) -> str:
    from digest.identity import built_url

    return built_url(store.base_url, item.section, item.title)


def test_article_stored_by_another_process_meanwhile_is_not_an_error(
    store: ArticleStore,
) -> None:
    other = ArticleStore(store.engine, base_url=BASE_URL, clock=store.clock)

    class RacingStore(ArticleStore):
        """Another writer stores the same articles between our look-up and our insert."""

        def _compare(self, conn: Connection, batch: Sequence[Article]) -> Any:
            compared = super()._compare(conn, batch)
            other.upsert(batch)
            return compared

    racing = RacingStore(store.engine, base_url=BASE_URL, clock=store.clock)
    racing.upsert([article("One"), article("Two")])
    assert sorted(a.title for a in store.list_articles()) == ["One", "Two"]


def test_term_vectors_follow_the_content(store: ArticleStore) -> None:
    store.upsert([article("Tides", body="Tides tides harbour moon.")])
    (row,) = store.term_vectors()
    indices, counts = unpack(row.vector)
    assert dict(zip(indices.tolist(), counts.tolist(), strict=True))[bucket("tides")] == 3 + 2 + 2
    store.upsert([article("Tides", body="Lanterns only.")])
    (row,) = store.term_vectors()
    indices, _ = unpack(row.vector)
    assert bucket("lanterns") in indices.tolist()
    assert bucket("harbour") not in indices.tolist()


def test_term_vectors_leave_out_future_articles(store: ArticleStore) -> None:
    store.upsert([article("Now"), article("Later", published_at=WHEN + timedelta(days=2))])
    assert [r.section for r in store.term_vectors(published_until=WHEN)] == ["Science"]
    assert len(store.term_vectors()) == 2


def test_sections_match_in_any_letter_case_accents_included(store: ArticleStore) -> None:
    store.upsert([article("Prix du pain", section="Économie")])
    assert [a.title for a in store.list_articles(section="économie")] == ["Prix du pain"]
    assert store.list_articles(section="ÉCONOMIE")[0].section == "Économie"
