"""Editors' pins, drops and approvals on real stores (SQLite, and PostgreSQL where set).

The store round trips; planning, drafting and re-planning with the overrides; and the
approval gate as ``Operations.paused_reason`` (what the send loops ask before each claim)
reports it on a frozen clock. ``test_editorial_run.py`` runs the same through ``digest
run``'s tick.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import StepClock, make_settings, url_of
from sqlalchemy import Engine, func, select
from test_editions import SLOT, article, titles
from test_schedule import FrozenClock

from digest.editions import Planner
from digest.errors import RefusedError
from digest.newsletters import NewsletterConfig, parse_newsletters
from digest.ops import Operations
from digest.store.articles import ArticleStore
from digest.store.editions import Edition, EditionStore
from digest.store.editorial_schema import edition_overrides
from digest.store.ledger import Status
from digest.store.ledger_schema import deliveries
from digest.store.overrides import EditorialStore
from digest.wiring import Parts, build
from subscribers.model import Cadence

DAY = timedelta(days=1)
CONFIG = """
[publication]
name = "Test Gazette"
sections = ["Science", "Culture"]
postal_address = "1 Test Street, Testville"

[[newsletter]]
name = "daily"
title = "Test Daily"
sender_name = "Test Gazette"
sender_address = "digest@gazette.example"
timezone = "Europe/Paris"
cadence = "0 7 * * *"
{approval}

[[newsletter.sections]]
name = "Science"
maximum = 2

[[newsletter.sections]]
name = "Culture"
maximum = 2
"""


def config(approval: str = "") -> NewsletterConfig:
    return parse_newsletters(CONFIG.format(approval=approval), Path("editorial.toml"))


def article_id(store: ArticleStore, title: str) -> str:
    found = store.get_by_url(f"https://news.example.com/{title.lower().replace(' ', '-')}")
    assert found is not None
    return found.id


# -- the store ------------------------------------------------------------------------------


def test_pins_and_drops_round_trip_and_replace_each_other(engine: Engine) -> None:
    editorial = EditorialStore(engine, StepClock())
    editorial.pin("daily", SLOT, "a1", "ana")
    editorial.drop("daily", SLOT, "a2", "ben")
    editorial.pin("daily", SLOT + DAY, "a3", "ana")  # another slot
    editorial.drop("weekly", SLOT, "a1", "ana")  # another newsletter
    assert editorial.overrides("daily", SLOT) == ({"a1": "ana"}, {"a2": "ben"})

    editorial.drop("daily", SLOT, "a1", "ben")  # a drop replaces the pin
    editorial.pin("daily", SLOT, "a2", "cy")  # and a pin the drop
    assert editorial.overrides("daily", SLOT) == ({"a2": "cy"}, {"a1": "ben"})
    # the same instant written in another zone is the same slot
    paris = SLOT.astimezone(ZoneInfo("Europe/Paris"))
    editorial.clear("daily", paris, "a1")
    editorial.clear("daily", SLOT, "never-overridden")
    assert editorial.overrides("daily", paris) == ({"a2": "cy"}, {})
    assert editorial.overrides("daily", SLOT + DAY) == ({"a3": "ana"}, {})
    assert editorial.overrides("weekly", SLOT) == ({}, {"a1": "ana"})
    with engine.connect() as conn:
        rows = conn.execute(select(func.count()).select_from(edition_overrides)).scalar_one()
    assert rows == 3  # one row per (newsletter, slot, article), whatever happened to it


def test_approvals_round_trip_and_a_change_of_the_slot_withdraws_one(engine: Engine) -> None:
    editorial = EditorialStore(engine, StepClock(SLOT))
    assert editorial.approval("daily", SLOT) is None
    assert editorial.approve("daily", SLOT, "ana") == ("ana", SLOT + timedelta(seconds=1))
    assert editorial.approve("daily", SLOT, "ben") == ("ben", SLOT + timedelta(seconds=2))
    assert editorial.approval("daily", SLOT) == ("ben", SLOT + timedelta(seconds=2))
    assert editorial.approval("daily", SLOT + DAY) is None
    editorial.approve("daily", SLOT + DAY, "ana")

    assert editorial.pin("daily", SLOT, "a1", "cy") is True  # withdrew ben's approval
    assert editorial.approval("daily", SLOT) is None
    assert editorial.approval("daily", SLOT + DAY) is not None  # other slots keep theirs
    assert editorial.drop("daily", SLOT, "a1", "cy") is False  # nothing left to withdraw
    editorial.approve("daily", SLOT, "ana")
    assert editorial.clear("daily", SLOT, "a1") is True
    with pytest.raises(ValueError, match="editor's name"):
        editorial.approve("daily", SLOT, "  ")


# -- planning with overrides ----------------------------------------------------------------


def planner(store: ArticleStore, cfg: NewsletterConfig | None = None) -> Planner:
    clock = StepClock(SLOT + timedelta(minutes=5))
    editorial = EditorialStore(store.engine, clock)
    return Planner(store, EditionStore(store.engine), cfg or config(), clock, editorial)


def reasons(edition: Edition) -> dict[str, tuple[str, str]]:
    """title -> (reason code, reason) of every candidate, in or out."""
    found = {
        a["title"]: (a["reason_code"], a["reason"])
        for s in edition.snapshot["sections"]
        for a in s["articles"]
    }
    found.update(
        {e["title"]: (e["reason_code"], e["reason"]) for e in edition.snapshot["excluded"]}
    )
    return found


def test_a_plan_applies_pins_even_beyond_the_candidates_and_drops(store: ArticleStore) -> None:
    store.upsert(
        [
            article("Tides", SLOT - timedelta(hours=3)),
            article("Comets", SLOT - timedelta(hours=2)),
            article("Ancient", SLOT - timedelta(days=90)),  # far beyond the candidate query
        ]
    )
    plan = planner(store)
    assert plan.editorial is not None
    plan.editorial.pin("daily", SLOT, article_id(store, "Ancient"), "ana")
    plan.editorial.drop("daily", SLOT, article_id(store, "Comets"), "ben")
    edition = plan.plan("daily", at=SLOT)
    assert titles(edition) == ["Ancient", "Tides"]
    why = reasons(edition)
    assert why["Ancient"][0] == "pinned"
    assert why["Ancient"][1].startswith("pinned by ana; without the pin: published before")
    assert why["Comets"] == ("dropped", "dropped by ben")
    assert why["Tides"][0] == "new"


def test_a_draft_previews_the_next_slot_without_storing_it(store: ArticleStore) -> None:
    store.upsert([article("Tides", SLOT - timedelta(hours=3))])
    plan = planner(store)
    first = plan.plan("daily", at=SLOT)
    store.upsert(
        [
            article("Comets", SLOT + timedelta(hours=5)),
            article("Lanterns", SLOT + timedelta(hours=6), section="Culture"),
        ]
    )
    assert plan.editorial is not None
    plan.editorial.drop("daily", SLOT + DAY, article_id(store, "Lanterns"), "ana")

    draft = plan.draft("daily", SLOT + DAY)
    assert draft.slot == SLOT + DAY
    assert titles(draft) == ["Comets"]
    assert (draft.issue_number, draft.snapshot["issue_number"]) == (2, 2)
    assert draft.snapshot["draft"] is True
    assert reasons(draft)["Lanterns"] == ("dropped", "dropped by ana")
    editions = EditionStore(store.engine)
    assert editions.get("daily", SLOT + DAY) is None
    assert [e.id for e in editions.list_editions()] == [first.id]

    planned = plan.plan("daily", at=SLOT + DAY)  # the slot comes: what the draft showed
    assert (planned.id, titles(planned), planned.issue_number) == (draft.id, ["Comets"], 2)
    assert "draft" not in planned.snapshot
    assert plan.draft("daily", SLOT + DAY + timedelta(hours=3)) == planned


def test_replan_replaces_the_plan_keeping_id_and_number(store: ArticleStore) -> None:
    store.upsert(
        [
            article("Tides", SLOT - timedelta(hours=3)),
            article("Comets", SLOT - timedelta(hours=2)),
            article("Lanterns", SLOT - timedelta(hours=4), section="Culture"),
        ]
    )
    plan = planner(store)
    before = plan.plan("daily", at=SLOT)
    assert titles(before) == ["Comets", "Tides", "Lanterns"]
    assert plan.editorial is not None
    comets = article_id(store, "Comets")
    plan.editorial.drop("daily", SLOT, comets, "ben")

    after = plan.replan(before.id, "ben")
    assert (after.id, after.slot, after.issue_number) == (before.id, before.slot, 1)
    assert titles(after) == ["Tides", "Lanterns"]
    # its own articles are not "already sent" by itself
    assert reasons(after)["Tides"][0] == "new"
    assert reasons(after)["Comets"] == ("dropped", "dropped by ben")
    assert after.snapshot["replanned"] == {"by": "ben", "at": after.planned_at.isoformat()}
    assert after.planned_at > before.planned_at
    editions = EditionStore(store.engine)
    assert editions.get_by_id(before.id) == after
    assert editions.carried("daily", [comets, article_id(store, "Tides")]) == {
        article_id(store, "Tides"): 1
    }


def test_replan_numbers_an_edition_that_fills_and_unnumbers_one_that_empties(
    store: ArticleStore,
) -> None:
    store.upsert([article("Tides", SLOT - timedelta(hours=3))])
    plan = planner(store)
    assert plan.editorial is not None
    first = plan.plan("daily", at=SLOT)
    empty = plan.plan("daily", at=SLOT + DAY)
    assert (first.issue_number, empty.issue_number, empty.empty) == (1, None, True)

    store.upsert([article("Ancient", SLOT - timedelta(days=60), section="Culture")])
    plan.editorial.pin("daily", SLOT + DAY, article_id(store, "Ancient"), "ana")
    filled = plan.replan(empty.id, "ana")
    assert (filled.empty, filled.issue_number, titles(filled)) == (False, 2, ["Ancient"])

    plan.editorial.clear("daily", SLOT + DAY, article_id(store, "Ancient"))
    emptied = plan.replan(empty.id, "ana")
    assert (emptied.empty, emptied.issue_number, emptied.snapshot["sections"]) == (True, None, [])
    store.upsert([article("Comets", SLOT + DAY + timedelta(hours=3))])
    third = plan.plan("daily", at=SLOT + 2 * DAY)
    assert third.issue_number == 2  # no gap where the emptied edition's number was


def test_replan_of_an_edition_that_is_not_the_latest_is_refused(store: ArticleStore) -> None:
    store.upsert([article("Tides", SLOT - timedelta(hours=3))])
    plan = planner(store)
    first = plan.plan("daily", at=SLOT)
    plan.plan("daily", at=SLOT + DAY)
    with pytest.raises(RefusedError, match="not the newsletter's latest"):
        plan.replan(first.id, "ana")


# -- operations: approval, and re-plans that follow the ledger ------------------------------


@pytest.fixture
def parts(engine: Engine, tmp_path: Path) -> Iterator[Parts]:
    with build(make_settings(tmp_path, database_url=url_of(engine))) as built:
        yield built


def enrol(parts: Parts, address: str, sections: list[str] | None, hour: int | None = None) -> int:
    signed = parts.subscribers.sign_up(address, "daily", name=address.split("@")[0])
    assert signed.subscriber is not None
    subscriber = signed.subscriber.id
    parts.subscribers.confirm(subscriber, "daily")
    parts.subscribers.set_preferences(
        subscriber, "daily", sections, Cadence.EACH, "Europe/Paris", hour
    )
    return subscriber


def statuses(parts: Parts, edition_id: str) -> dict[int, tuple[str, str | None]]:
    query = select(deliveries.c.subscriber_id, deliveries.c.status, deliveries.c.skip_reason)
    with parts.engine.connect() as conn:
        rows = conn.execute(query.where(deliveries.c.edition_id == edition_id)).all()
    return {subscriber: (status, reason) for subscriber, status, reason in rows}


def operations(parts: Parts, approval: str, now: datetime) -> tuple[Operations, FrozenClock]:
    clock = FrozenClock(now)
    return parts.operations(config(approval), clock), clock


def test_wait_holds_an_edition_until_an_editor_approves(parts: Parts) -> None:
    parts.articles.upsert([article("Tides", SLOT - timedelta(hours=3))])
    enrol(parts, "reader@example.org", None)
    ops, _ = operations(parts, 'approval = "wait"', SLOT + timedelta(minutes=5))
    edition = ops.plan("daily")
    waiting = "awaiting an editor's approval (newsletter requires it)"
    assert ops.paused_reason(edition) == waiting
    assert ops.approval("daily", SLOT)["waiting"] == waiting

    approved = ops.approve("daily", "ana")  # the edition waiting now, not the next slot
    assert (approved["slot"], approved["approved_by"], approved["waiting"]) == (
        SLOT.isoformat(),
        "ana",
        None,
    )
    assert ops.paused_reason(edition) is None
    # a pin after approving withdraws it: the changed edition waits for a new approval
    parts.articles.upsert([article("Ancient", SLOT - timedelta(days=60))])
    replanned = ops.pin("daily", SLOT, article_id(parts.articles, "Ancient"), "ben")
    assert replanned is not None
    assert ops.paused_reason(replanned) == waiting
    ops.approve(edition.id, "ana")
    assert ops.paused_reason(replanned) is None


def test_deadline_holds_an_edition_until_approved_or_the_deadline(parts: Parts) -> None:
    parts.articles.upsert([article("Tides", SLOT - timedelta(hours=3))])
    enrol(parts, "reader@example.org", None)
    approval = 'approval = "deadline"\napproval_deadline_minutes = 30'
    ops, clock = operations(parts, approval, SLOT + timedelta(minutes=5))
    edition = ops.plan("daily")
    # 07:00 in Paris (winter time) and 30 minutes
    until = "awaiting an editor's approval until 2026-11-27T07:30+01:00"
    assert ops.paused_reason(edition) == until
    clock.now = SLOT + timedelta(minutes=29, seconds=59)
    assert ops.paused_reason(edition) == until
    clock.now = SLOT + timedelta(minutes=30)
    assert ops.paused_reason(edition) is None  # out it goes, approved or not

    clock.now = SLOT + timedelta(minutes=10)
    ops.approve(edition.id, "ana")
    assert ops.paused_reason(edition) is None  # approved before the deadline


def test_without_approval_nothing_waits_and_pauses_still_apply(parts: Parts) -> None:
    parts.articles.upsert([article("Tides", SLOT - timedelta(hours=3))])
    ops, _ = operations(parts, "", SLOT + timedelta(minutes=5))
    edition = ops.plan("daily")
    assert ops.paused_reason(edition) is None
    ops.pause("daily", "a bad feed")
    assert ops.paused_reason(edition) == "newsletter daily is paused: a bad feed"


def test_approving_a_newsletter_with_nothing_waiting_approves_its_next_slot(parts: Parts) -> None:
    ops, _ = operations(parts, 'approval = "wait"', SLOT - timedelta(hours=2))
    approved = ops.approve("daily", "ana")
    assert approved["slot"] == SLOT.isoformat()
    assert approved["waiting"] is None  # not planned yet
    assert parts.editorial().approval("daily", SLOT) is not None
    with pytest.raises(RefusedError, match="is not a slot of daily"):
        ops.approve("daily", "ana", slot=SLOT + timedelta(minutes=1))


def test_a_pin_moves_the_subscribers_whose_sections_come_and_go(parts: Parts) -> None:
    parts.articles.upsert(
        [
            article("Tides", SLOT - timedelta(hours=3)),
            article("Lanterns", SLOT - timedelta(days=40), section="Culture"),
        ]
    )
    science = enrol(parts, "science@example.org", ["Science"])
    culture = enrol(parts, "culture@example.org", ["Culture"])
    ops, _ = operations(parts, "", SLOT + timedelta(minutes=5))
    edition = ops.plan("daily")
    no_section = ("skipped", "none of their sections is in this edition")
    assert statuses(parts, edition.id) == {science: ("pending", None), culture: no_section}

    lanterns = article_id(parts.articles, "Lanterns")
    replanned = ops.pin("daily", SLOT, lanterns, "ana")
    assert replanned is not None
    assert titles(replanned) == ["Tides", "Lanterns"]
    assert statuses(parts, edition.id) == {science: ("pending", None), culture: ("pending", None)}

    ops.drop("daily", SLOT, article_id(parts.articles, "Tides"), "ben")
    assert statuses(parts, edition.id) == {science: no_section, culture: ("pending", None)}


def test_a_re_plan_is_refused_once_a_delivery_has_left_pending(parts: Parts) -> None:
    parts.articles.upsert(
        [
            article("Tides", SLOT - timedelta(hours=3)),
            article("Comets", SLOT - timedelta(hours=2)),
        ]
    )
    early = enrol(parts, "early@example.org", None)
    enrol(parts, "late@example.org", None, hour=20)  # still pending after the first is sent
    ops, _ = operations(parts, "", SLOT + timedelta(minutes=5))
    edition = ops.plan("daily")
    comets = article_id(parts.articles, "Comets")
    still_free = ops.drop("daily", SLOT, comets, "ana")  # nothing has gone out yet: allowed
    assert still_free is not None
    assert titles(still_free) == ["Tides"]
    ops.clear("daily", SLOT, comets, "ana")

    with parts.engine.begin() as conn:
        conn.execute(
            deliveries.update()
            .where(deliveries.c.edition_id == edition.id, deliveries.c.subscriber_id == early)
            .values(status=Status.SENT.value)
        )
    before = parts.editions.get_by_id(edition.id)
    with pytest.raises(RefusedError, match=r"has started sending \(1 deliveries") as refused:
        ops.drop("daily", SLOT, comets, "ana")
    assert "Pin or drop for the next slot instead" in str(refused.value)
    with pytest.raises(RefusedError, match="can no longer be re-planned"):
        ops.planner.replan(edition.id, "ana")
    assert parts.editions.get_by_id(edition.id) == before
    assert parts.editorial().overrides("daily", SLOT) == ({}, {})  # the refused drop left nothing


def test_a_send_loop_holding_a_plan_an_editor_changed_stops(parts: Parts) -> None:
    parts.articles.upsert(
        [
            article("Tides", SLOT - timedelta(hours=3)),
            article("Comets", SLOT - timedelta(hours=2)),
        ]
    )
    ops, _ = operations(parts, "", SLOT + timedelta(minutes=5))
    held = ops.plan("daily")
    current = ops.drop("daily", SLOT, article_id(parts.articles, "Comets"), "ana")
    assert current is not None
    assert ops.paused_reason(held) == f"edition {held.id} was re-planned since this send read it"
    assert ops.paused_reason(current) is None
