"""Selection: every reason an article is in or out, evergreen fill, empty editions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from digest.model import StoredArticle
from digest.select import Reason, SectionRule, Selection, Window, select, window_for

SLOT = datetime(2026, 3, 30, 5, 0, tzinfo=UTC)  # 07:00 in Paris, summer time
WINDOW = Window(SLOT - timedelta(days=1), SLOT)
RULES = [SectionRule("Science", maximum=2), SectionRule("Culture", maximum=2)]


def stored(
    id_: str,
    section: str = "Science",
    published: datetime | None = None,
    first_seen: datetime | None = None,
) -> StoredArticle:
    return StoredArticle(
        id=id_,
        url=f"https://news.example.com/{id_}",
        section=section,
        title=f"Title {id_}",
        source="test",
        content_hash=id_,
        first_seen_at=first_seen or SLOT - timedelta(days=30),
        updated_at=SLOT,
        published_at=published,
    )


def reasons(selection: Selection) -> dict[str, Reason]:
    return {d.article.id: d.reason for d in selection.decisions}


def test_articles_inside_the_window_newest_first_up_to_the_maximum() -> None:
    articles = [
        stored("old", published=SLOT - timedelta(hours=20)),
        stored("newest", published=SLOT - timedelta(hours=1)),
        stored("middle", published=SLOT - timedelta(hours=5)),
    ]
    selection = select(RULES, WINDOW, articles, carried={})
    (science,) = selection.sections
    assert [d.article.id for d in science.chosen] == ["newest", "middle"]
    assert reasons(selection) == {
        "newest": Reason.NEW,
        "middle": Reason.NEW,
        "old": Reason.OVER_MAXIMUM,
    }
    over = next(d for d in selection.decisions if d.article.id == "old")
    assert over.detail == "ranked 3 of 3 by date; the section shows at most 2"
    assert not selection.empty


def test_each_exclusion_reason() -> None:
    articles = [
        stored("sent", published=SLOT - timedelta(hours=2)),
        stored("before", published=SLOT - timedelta(days=3)),
        stored("future", published=SLOT + timedelta(minutes=1)),
        stored("undated-old", first_seen=SLOT - timedelta(days=2)),
        stored("undated-new", first_seen=SLOT - timedelta(hours=3)),
        stored("undated-later", first_seen=SLOT + timedelta(hours=3)),
        stored("edge", published=WINDOW.start),  # belonged to the previous window
        stored("at-slot", published=SLOT),
    ]
    selection = select(RULES, WINDOW, articles, carried={"sent": 4})
    assert reasons(selection) == {
        "sent": Reason.ALREADY_SENT,
        "before": Reason.OUTSIDE_WINDOW,
        "future": Reason.FUTURE,
        "undated-old": Reason.UNDATED_OLD,
        "undated-new": Reason.NEW,
        "undated-later": Reason.FUTURE,
        "edge": Reason.OUTSIDE_WINDOW,
        "at-slot": Reason.NEW,
    }
    sent = next(d for d in selection.decisions if d.article.id == "sent")
    assert sent.detail == "already sent in edition #4"
    assert sent.edition == 4
    assert {d.article.id for d in selection.excluded()} == {
        "sent", "before", "future", "undated-old", "undated-later", "edge",
    }  # fmt: skip


def test_sections_follow_the_newsletter_order_and_match_any_case() -> None:
    articles = [
        stored("c1", section="culture", published=SLOT - timedelta(hours=1)),
        stored("s1", section="SCIENCE", published=SLOT - timedelta(hours=2)),
        stored("x1", section="Sport", published=SLOT - timedelta(hours=2)),
    ]
    selection = select(RULES, WINDOW, articles, carried={})
    assert [s.name for s in selection.sections] == ["Science", "Culture"]
    assert "x1" not in reasons(selection)  # not a section of this newsletter


def test_section_with_nothing_is_left_out_and_all_empty_means_empty() -> None:
    articles = [stored("s1", published=SLOT - timedelta(hours=2))]
    selection = select(RULES, WINDOW, articles, carried={})
    assert [s.name for s in selection.sections] == ["Science"]
    nothing = select(RULES, WINDOW, [stored("s2", published=SLOT - timedelta(days=9))], {})
    assert nothing.empty
    assert nothing.sections == ()
    assert reasons(nothing) == {"s2": Reason.OUTSIDE_WINDOW}


def test_evergreen_fills_a_thin_section_oldest_unsent_first() -> None:
    rules = [SectionRule("Science", maximum=3, minimum=3)]
    fresh = stored("fresh", published=SLOT - timedelta(hours=2))
    archive = [
        stored("oldest", published=SLOT - timedelta(days=200)),
        stored("older", published=SLOT - timedelta(days=100)),
        stored("old", published=SLOT - timedelta(days=50)),
    ]
    selection = select(rules, WINDOW, [fresh], carried={}, archive={"Science": archive})
    (science,) = selection.sections
    assert [(d.article.id, d.reason) for d in science.chosen] == [
        ("fresh", Reason.NEW),
        ("oldest", Reason.ARCHIVE),
        ("older", Reason.ARCHIVE),
    ]
    assert science.chosen[1].detail == (
        "from the archive: 1 new article(s), the section's minimum is 3"
    )


def test_evergreen_never_exceeds_the_maximum_nor_repeats_a_candidate() -> None:
    rules = [SectionRule("Science", maximum=2, minimum=5)]
    candidate = stored("both", published=SLOT - timedelta(days=3))  # outside the window
    archive = [candidate, stored("a1", published=SLOT - timedelta(days=40))]
    archive += [stored("a2", published=SLOT - timedelta(days=30))]
    selection = select(rules, WINDOW, [candidate], carried={}, archive={"Science": archive})
    (science,) = selection.sections
    assert [d.article.id for d in science.chosen] == ["a1", "a2"]
    assert reasons(selection)["both"] is Reason.OUTSIDE_WINDOW


def test_evergreen_fills_an_otherwise_empty_edition() -> None:
    rules = [SectionRule("Science", maximum=2, minimum=1)]
    archive = {"Science": [stored("a1", published=SLOT - timedelta(days=40))]}
    selection = select(rules, WINDOW, [], carried={}, archive=archive)
    assert not selection.empty
    assert selection.sections[0].chosen[0].reason is Reason.ARCHIVE


def test_window_since_previous_edition_at_most_n_days() -> None:
    previous = SLOT - timedelta(days=1)
    assert window_for(SLOT, 7, True, previous) == Window(previous, SLOT)
    assert window_for(SLOT, 7, False, previous) == Window(SLOT - timedelta(days=7), SLOT)
    long_ago = SLOT - timedelta(days=30)
    assert window_for(SLOT, 7, True, long_ago) == Window(SLOT - timedelta(days=7), SLOT)
    assert window_for(SLOT, 7, True, None) == Window(SLOT - timedelta(days=7), SLOT)


def test_window_across_daylight_saving_change_is_23_hours() -> None:
    paris = ZoneInfo("Europe/Paris")
    before = datetime(2026, 3, 28, 7, 0, tzinfo=paris).astimezone(UTC)  # 06:00Z, winter time
    after = datetime(2026, 3, 29, 7, 0, tzinfo=paris).astimezone(UTC)  # 05:00Z, summer time
    window = window_for(after, 7, True, before)
    assert window.end - window.start == timedelta(hours=23)
    after_previous = stored("after", published=datetime(2026, 3, 28, 6, 30, tzinfo=UTC))
    before_previous = stored("before", published=datetime(2026, 3, 28, 5, 30, tzinfo=UTC))
    at_new_slot = stored("slot", published=datetime(2026, 3, 29, 5, 0, tzinfo=UTC))
    selection = select(RULES, window, [after_previous, before_previous, at_new_slot], {})
    assert reasons(selection) == {
        "after": Reason.NEW,
        "before": Reason.OUTSIDE_WINDOW,
        "slot": Reason.NEW,
    }


# -- editors' pins and drops ----------------------------------------------------------------


def detail_of(selection: Selection, article_id: str) -> str:
    return next(d.detail for d in selection.decisions if d.article.id == article_id)


def test_a_dropped_candidate_is_out_with_the_editors_name() -> None:
    articles = [
        stored("newest", published=SLOT - timedelta(hours=1)),
        stored("middle", published=SLOT - timedelta(hours=5)),
        stored("old", published=SLOT - timedelta(hours=20)),
    ]
    selection = select(RULES, WINDOW, articles, carried={}, drops={"newest": "ana"})
    (science,) = selection.sections
    # the next one moves up: the maximum counts what is left
    assert [d.article.id for d in science.chosen] == ["middle", "old"]
    assert reasons(selection)["newest"] is Reason.DROPPED
    assert detail_of(selection, "newest") == "dropped by ana"
    assert [d.article.id for d in selection.excluded()] == ["newest"]
    assert Reason.DROPPED.value == "dropped"
    assert not Reason.DROPPED.included


def test_pins_win_over_every_rule_and_say_what_they_overrode() -> None:
    articles = [
        stored("sent", published=SLOT - timedelta(hours=2)),
        stored("before", published=SLOT - timedelta(days=3)),
        stored("future", published=SLOT + timedelta(hours=1)),
        stored("fresh", published=SLOT - timedelta(hours=1)),
    ]
    pins = {"sent": "ana", "before": "ben", "future": "ana"}
    selection = select(RULES, WINDOW, articles, carried={"sent": 4}, pins=pins)
    (science,) = selection.sections
    # pinned first (newest first among them) and counting toward the maximum of 2: with
    # three pins "fresh" has no room, and every pin is kept even past the maximum
    assert [d.article.id for d in science.chosen] == ["future", "sent", "before"]
    assert {d.reason for d in science.chosen} == {Reason.PINNED}
    assert reasons(selection)["fresh"] is Reason.OVER_MAXIMUM
    assert detail_of(selection, "fresh") == (
        "ranked 1 of 1 by date; the section shows at most 2, 3 of them pinned"
    )
    assert detail_of(selection, "sent") == (
        "pinned by ana; without the pin: already sent in edition #4; 3 articles are pinned,"
        " above the section's maximum of 2: every pin is kept"
    )
    assert detail_of(selection, "before").startswith(
        "pinned by ben; without the pin: published before the window"
    )
    assert Reason.PINNED.value == "pinned"
    assert Reason.PINNED.included


def test_a_pin_within_the_maximum_leaves_room_for_the_newest() -> None:
    articles = [
        stored("newest", published=SLOT - timedelta(hours=1)),
        stored("middle", published=SLOT - timedelta(hours=5)),
        stored("old", published=SLOT - timedelta(hours=20)),
    ]
    selection = select(RULES, WINDOW, articles, carried={}, pins={"old": "ana"})
    (science,) = selection.sections
    assert [(d.article.id, d.reason) for d in science.chosen] == [
        ("old", Reason.PINNED),
        ("newest", Reason.NEW),
    ]
    assert detail_of(selection, "old") == "pinned by ana"
    assert detail_of(selection, "newest").endswith("ranked 1 by date after 1 pinned")
    assert reasons(selection)["middle"] is Reason.OVER_MAXIMUM


def test_a_pin_can_fill_an_otherwise_empty_edition() -> None:
    old = stored("old", section="Culture", published=SLOT - timedelta(days=30))
    assert select(RULES, WINDOW, [old], carried={}).empty
    selection = select(RULES, WINDOW, [old], carried={}, pins={"old": "ana"})
    assert [s.name for s in selection.sections] == ["Culture"]
    assert selection.excluded() == []


def test_drops_apply_to_the_archive_fill_and_show_in_the_why_list() -> None:
    rules = [SectionRule("Science", maximum=3, minimum=2)]
    archive = [
        stored("oldest", published=SLOT - timedelta(days=200)),
        stored("older", published=SLOT - timedelta(days=100)),
        stored("old", published=SLOT - timedelta(days=50)),
    ]
    selection = select(
        rules, WINDOW, [], carried={}, archive={"Science": archive}, drops={"oldest": "ana"}
    )
    (science,) = selection.sections
    assert [(d.article.id, d.reason) for d in science.chosen] == [
        ("older", Reason.ARCHIVE),
        ("old", Reason.ARCHIVE),
    ]
    assert [(d.article.id, d.reason) for d in selection.excluded()] == [("oldest", Reason.DROPPED)]


def test_a_pin_counts_toward_the_archive_minimum() -> None:
    rules = [SectionRule("Science", maximum=3, minimum=2)]
    pinned = stored("pinned", published=SLOT - timedelta(days=9))
    archive = [stored("a1", published=SLOT - timedelta(days=40)), pinned]
    selection = select(
        rules, WINDOW, [pinned], carried={}, archive={"Science": archive}, pins={"pinned": "ana"}
    )
    (science,) = selection.sections
    assert [(d.article.id, d.reason) for d in science.chosen] == [
        ("pinned", Reason.PINNED),
        ("a1", Reason.ARCHIVE),
    ]
    assert science.chosen[1].detail == (
        "from the archive: 1 new or pinned article(s), the section's minimum is 2"
    )


def test_an_article_both_pinned_and_dropped_is_dropped() -> None:
    article = stored("both", published=SLOT - timedelta(hours=1))
    selection = select(RULES, WINDOW, [article], {}, pins={"both": "ana"}, drops={"both": "ben"})
    assert selection.empty
    assert detail_of(selection, "both") == "dropped by ben"
