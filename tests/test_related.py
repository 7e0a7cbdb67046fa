"""Related links: the choice (pure), the similarity index, and both over a real store."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time

import pytest

from digest.demo import load_articles
from digest.model import Article, RelatedRef
from digest.related import MAX_RELATED, RelatedChoice, choose_related, related_for_edition
from digest.similarity import MIN_COSINE, SimilarityIndex
from digest.store.articles import ArticleStore, TermRow
from digest.terms import term_vector, unpack

# -- choose_related -----------------------------------------------------------------------


def test_references_come_first_in_printed_order_then_similar_fills_up() -> None:
    chosen = choose_related("me", ["r2", "r1"], [("s1", 0.5), ("s2", 0.4)], exclude=())
    assert chosen == [
        RelatedChoice("r2", "reference", None),
        RelatedChoice("r1", "reference", None),
        RelatedChoice("s1", "similar", 0.5),
    ]


def test_references_skip_unresolved_self_excluded_and_repeats() -> None:
    chosen = choose_related(
        "me",
        [None, "me", "in-edition", "r1", "r1", None, "r2"],
        [("r1", 0.9), ("me", 0.8), ("in-edition", 0.7), ("s1", 0.3), ("s1", 0.3), ("s2", 0.2)],
        exclude={"in-edition", "other-in-edition"},
        limit=4,
    )
    assert [(c.article_id, c.kind) for c in chosen] == [
        ("r1", "reference"),
        ("r2", "reference"),
        ("s1", "similar"),
        ("s2", "similar"),
    ]


def test_never_more_than_the_limit() -> None:
    references = ["r1", "r2", "r3", "r4"]
    similar = [("s1", 0.5), ("s2", 0.4)]
    assert len(choose_related("me", references, similar, ())) == MAX_RELATED == 3
    assert [c.article_id for c in choose_related("me", references, similar, (), 2)] == [
        "r1",
        "r2",
    ]
    assert choose_related("me", references, similar, (), 0) == []
    assert len(choose_related("me", [], similar, ())) == 2


def test_choice_is_deterministic() -> None:
    args = ("me", ["r1", None], [("s2", 0.4), ("s1", 0.4)], {"x"})
    assert choose_related(*args) == choose_related(*args)
    assert [c.article_id for c in choose_related(*args)] == ["r1", "s2", "s1"]


# -- SimilarityIndex ------------------------------------------------------------------------

TIDES_A = (
    "Why spring tides run so high at the equinox",
    "The moon and the sun line up twice a month, and the tides answer with a surge.",
    "Spring tides come when the moon and sun pull together. At the equinox the tidal "
    "range is at its widest, and harbour masters watch the tide tables for flooding. "
    "Neap tides, a week later, barely move the water in the harbour.",
)
TIDES_B = (
    "Walking the tidal flats before the tide turns",
    "Guides lead walkers across the mud at low tide, reading the tide tables closely.",
    "The tide comes back faster than a walker can run. Guides check the tide tables, "
    "the moon and the wind before they set out across the flats; a spring tide "
    "covers the mud in minutes.",
)
OCTOPUS = (
    "The octopus and its distributed mind",
    "Most of its neurons sit in eight arms, which seem to think for themselves.",
    "Researchers watch the octopus open jars, squeeze through gaps and recognise keepers. "
    "Its arms taste and decide without the brain.",
)
BREAD = (
    "A sourdough starter older than its baker",
    "Flour, water and patience keep a culture of yeast alive for decades.",
    "Bakers feed the starter daily; the yeast and bacteria sour the dough and raise "
    "the loaf. An old starter is an heirloom in many bakeries.",
)
RAILWAYS = (
    "Night trains return to the continent",
    "Sleeper carriages are back on routes that airlines had taken over.",
    "Operators are buying new sleeper carriages and reopening night routes between "
    "capitals; passengers board after dinner and wake at their destination.",
)
LANTERNS = (
    "Paper lanterns",
    "Glowing paper lanterns float skyward.",
    "Glowing paper lanterns float skyward.",
)


def row(id_: str, section: str, text: tuple[str, str, str]) -> TermRow:
    return TermRow(id_, section, term_vector(*text))


def little_index() -> SimilarityIndex:
    return SimilarityIndex.build(
        [
            row("tides-a", "Science", TIDES_A),
            row("tides-b", "Travel", TIDES_B),
            row("octopus", "Science", OCTOPUS),
            row("bread", "Culture", BREAD),
            row("railways", "Travel", RAILWAYS),
            row("lanterns", "Culture", LANTERNS),
        ]
    )


def test_an_article_about_tides_finds_the_other_tides_article_first() -> None:
    index = little_index()
    (best, *_) = index.similar("tides-a", 3)
    assert best[0] == "tides-b"
    assert index.similar("tides-b", 1)[0][0] == "tides-a"
    assert all(id_ != "tides-a" for id_, _ in index.similar("tides-a", 10))


def test_nothing_below_the_minimum_cosine_is_offered() -> None:
    index = little_index()
    assert index.similar("lanterns", 5) == []
    for article_id in ("tides-a", "tides-b", "octopus", "bread", "railways"):
        assert all(score >= MIN_COSINE for _, score in index.similar(article_id, 5))


def test_exclude_and_unknown_ids() -> None:
    index = little_index()
    assert "tides-b" not in [id_ for id_, _ in index.similar("tides-a", 5, exclude={"tides-b"})]
    assert "nowhere" not in index
    assert "tides-a" in index
    assert index.similar("nowhere", 3) == []
    assert index.similar("tides-a", 0) == []


def test_same_section_breaks_an_even_contest_and_ties_go_by_id() -> None:
    twins = [
        row("query", "Science", TIDES_A),
        row("a-twin", "Travel", TIDES_B),
        row("b-twin", "Science", TIDES_B),
        row("filler", "Culture", BREAD),
    ]
    ranked = SimilarityIndex.build(twins).similar("query", 2)
    assert [id_ for id_, _ in ranked] == ["b-twin", "a-twin"]
    assert ranked[0][1] == ranked[1][1]  # the score is the plain cosine; only the order moves
    same_section = [twins[0], row("a-twin", "Travel", TIDES_B), row("b-twin", "travel", TIDES_B)]
    for _ in range(3):
        ordered = SimilarityIndex.build(list(reversed(same_section))).similar("query", 2)
        assert [id_ for id_, _ in ordered] == ["a-twin", "b-twin"]


def test_similar_many_answers_each_article_as_similar_does() -> None:
    index = little_index()
    ids = ["tides-a", "bread", "nowhere", "railways"]
    many = index.similar_many(ids, 3, exclude={"octopus"})
    assert list(many) == ids
    for article_id in ids:
        assert many[article_id] == index.similar(article_id, 3, exclude={"octopus"})


def test_scores_are_the_tf_idf_cosine_by_its_definition() -> None:
    rows = [
        row("tides-a", "Science", TIDES_A),
        row("tides-b", "Travel", TIDES_B),
        row("bread", "Culture", BREAD),
        row("railways", "Travel", RAILWAYS),
        TermRow("empty", "Culture", term_vector("", "", "")),
    ]
    counts = [dict(zip(*(a.tolist() for a in unpack(r.vector)), strict=True)) for r in rows]
    df: dict[int, int] = {}
    for terms in counts:
        for term in terms:
            df[term] = df.get(term, 0) + 1
    vectors = []
    for terms in counts:
        weights = {
            t: (1 + math.log(c)) * (math.log((1 + len(rows)) / (1 + df[t])) + 1)
            for t, c in terms.items()
        }
        norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
        vectors.append({t: w / norm for t, w in weights.items()})
    expected = sum(w * vectors[1].get(t, 0.0) for t, w in vectors[0].items())
    index = SimilarityIndex.build(rows)
    assert dict(index.similar("tides-a", 5))["tides-b"] == pytest.approx(expected, rel=1e-5)
    assert index.similar("empty", 5) == []
    assert index.nnz == sum(len(terms) for terms in counts)


def test_an_empty_index_and_bad_rows() -> None:
    index = SimilarityIndex.build([])
    assert len(index) == 0
    assert index.similar_many(["x"], 3) == {"x": []}
    with pytest.raises(ValueError, match="twice"):
        SimilarityIndex.build([row("x", "Science", TIDES_A), row("x", "Science", TIDES_B)])
    with pytest.raises(ValueError, match="whole number"):
        SimilarityIndex.build([TermRow("x", "Science", b"\x01\x02\x03")])


# -- the demo corpus in a real store ---------------------------------------------------------

# Measured: 32 of the 45 demo articles (71%) on SQLite and PostgreSQL alike; two of the 13
# misses have nothing above the minimum cosine at all (the demo's essays are far apart).
TOP_SAME_SECTION_FLOOR = 0.65


def demo_store(store: ArticleStore) -> None:
    demo = load_articles(date.today())
    by_key = {a.key: a for a in demo}
    store.upsert(
        [
            Article(
                title=a.title,
                section=a.section,
                source="demo",
                url=None,
                standfirst=a.standfirst,
                author=a.author,
                published_at=datetime.combine(a.published, time(6, tzinfo=UTC)),
                body="\n\n".join(a.body),
                related=tuple(
                    RelatedRef(
                        section=by_key[k].section,
                        standfirst=by_key[k].standfirst,
                        date=by_key[k].published,
                    )
                    for k in a.related
                ),
            )
            for a in demo
        ]
    )


def test_demo_articles_find_their_own_section_first(store: ArticleStore) -> None:
    demo_store(store)
    rows = store.term_vectors()
    assert len(rows) == 45
    index = SimilarityIndex.build(rows)
    section = {r.id: r.section for r in rows}
    top = index.similar_many([r.id for r in rows], 1)
    same = sum(1 for id_, found in top.items() if found and section[found[0][0]] == section[id_])
    assert same / len(rows) >= TOP_SAME_SECTION_FLOOR, f"{same} of {len(rows)}"


def test_an_edition_never_links_inside_itself(store: ArticleStore) -> None:
    demo_store(store)
    index = SimilarityIndex.build(store.term_vectors())
    edition_articles = store.list_articles(limit=6)
    edition = {
        a.id: [ref.target_id for ref in a.related]
        for a in (store.get(s.id) for s in edition_articles)
        if a is not None
    }
    assert len(edition) == 6
    assert any(any(targets) for targets in edition.values()), "some references resolved"
    links = related_for_edition(edition, index)
    assert list(links) == list(edition)
    for article_id, chosen in links.items():
        ids = [c.article_id for c in chosen]
        assert len(ids) <= MAX_RELATED
        assert len(set(ids)) == len(ids)
        assert article_id not in ids
        assert not set(ids) & set(edition)
        references = list(dict.fromkeys(t for t in edition[article_id] if t and t not in edition))
        assert ids[: len(references)] == references[:MAX_RELATED]
        assert all(c.kind == "reference" for c in chosen[: len(references)])
    assert sum(len(chosen) == MAX_RELATED for chosen in links.values()) >= 4
    assert any(c.kind == "similar" for chosen in links.values() for c in chosen)
    assert related_for_edition(edition, index) == links
