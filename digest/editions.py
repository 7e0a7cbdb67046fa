"""Planning an edition: choose, summarise, link and freeze. Orchestrates; I/O via stores.

``Planner.plan`` turns (newsletter, slot) into a stored edition. The reading happens here
(candidates, what earlier editions carried, the archive, term vectors); the deciding
happens in the pure stages (``select``, ``summarize``, ``related``, ``snapshot``); the
store decides who wins when two processes plan the same slot at once.

Editions are planned in slot order: planning a slot earlier than the newsletter's latest
edition is refused, because "never an article an earlier edition carried" and the issue
numbers both assume that order.

Editors shape a slot with pins and drops (``EditorialStore``, keyed by newsletter and
slot): planning reads them, ``draft`` shows the would-be edition of a slot without storing
it (the preview of the next slot), and ``replan`` re-drafts a stored edition with the
current overrides and replaces its plan, until any of its deliveries has left pending.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from digest.errors import NotFoundError, PlanningError, RefusedError
from digest.model import StoredArticle
from digest.newsletters import Newsletter, NewsletterConfig
from digest.related import RelatedChoice, related_for_edition
from digest.select import Decision, SectionRule, Selection, Window, select, window_for
from digest.similarity import SimilarityIndex
from digest.slots import slot_at_or_before
from digest.snapshot import PlanParts, build_snapshot, edition_id
from digest.store.articles import ArticleStore
from digest.store.editions import (
    CarriedArticle,
    Edition,
    EditionConflict,
    EditionStarted,
    EditionStore,
)
from digest.store.overrides import EditorialStore
from digest.summarize import summarize

Clock = Callable[[], datetime]
PLAN_ATTEMPTS = 3
_TICK = timedelta(microseconds=1)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Planner:
    articles: ArticleStore
    editions: EditionStore
    config: NewsletterConfig
    clock: Clock = utc_now
    editorial: EditorialStore | None = None

    def plan(self, newsletter_name: str, at: datetime | None = None) -> Edition:
        """The edition of the slot at or before ``at`` (default now), planned once."""
        newsletter = self.config.get(newsletter_name)
        slot = slot_at_or_before(newsletter, at or self.clock())
        for _ in range(PLAN_ATTEMPTS):
            existing = self.editions.get(newsletter.name, slot)
            if existing is not None:
                return existing
            self._refuse_out_of_order(newsletter, slot)
            edition, carried = self._draft(newsletter, slot)
            try:
                return self.editions.insert(edition, carried)
            except EditionConflict:
                continue  # another process planned this slot, or took the issue number
        raise PlanningError(
            f"could not plan {newsletter.name} for {slot.isoformat()}: other processes kept "
            "planning the same newsletter at the same time; try again"
        )

    def _refuse_out_of_order(self, newsletter: Newsletter, slot: datetime) -> None:
        latest = self.editions.latest(newsletter.name)
        if latest is not None and latest.slot > slot:
            raise PlanningError(
                f"{newsletter.name}: the slot {slot.isoformat()} is before the latest planned "
                f"edition's slot {latest.slot.isoformat()}; editions are planned in order, "
                "so plan a later slot (or inspect the existing one with `digest editions`)"
            )

    def draft(self, newsletter_name: str, at: datetime | None = None) -> Edition:
        """The edition of the slot at or before ``at`` as it would be planned now, unstored.

        For previews of a slot not planned yet: the editors' current pins and drops apply,
        the issue number is the one it would get, and ``snapshot["draft"]`` is true. A slot
        already planned gives its stored edition.
        """
        newsletter = self.config.get(newsletter_name)
        slot = slot_at_or_before(newsletter, at or self.clock())
        existing = self.editions.get(newsletter.name, slot)
        if existing is not None:
            return existing
        self._refuse_out_of_order(newsletter, slot)
        edition, _ = self._draft(newsletter, slot)
        number = None if edition.empty else self.editions.next_issue_number(newsletter.name)
        snapshot = {**edition.snapshot, "issue_number": number, "draft": True}
        return replace(edition, issue_number=number, snapshot=snapshot)

    def replan(self, edition_id: str, editor: str) -> Edition:
        """Re-draft a stored edition with the slot's current overrides and store the result.

        Same id; the issue number is kept (see ``EditionStore.replace`` for an edition that
        becomes empty or stops being so). The snapshot records who re-planned and when.
        Refused (``RefusedError``) once any delivery of the edition has left pending, and
        for an edition that is not its newsletter's latest.
        """
        for _ in range(PLAN_ATTEMPTS):
            edition = self.editions.get_by_id(edition_id)
            if edition is None:
                raise NotFoundError(f"no edition {edition_id!r}; `digest editions` lists them")
            newsletter = self.config.get(edition.newsletter)
            self.check_replannable(edition)
            # the plan time is the plan's version: it moves even on a frozen clock
            at = max(self.clock(), edition.planned_at + _TICK)
            fresh, carried = self._draft(newsletter, edition.slot, edition.id, planned_at=at)
            replanned = {"by": editor, "at": fresh.planned_at.isoformat()}
            fresh = replace(fresh, snapshot={**fresh.snapshot, "replanned": replanned})
            try:
                return self.editions.replace(fresh, carried)
            except EditionStarted as exc:
                raise RefusedError(_started_message(edition, exc.started)) from exc
            except EditionConflict:
                continue  # another re-plan, or another numbering, came first: read again
        raise PlanningError(
            f"could not re-plan edition {edition_id}: other processes kept planning "
            "the same newsletter at the same time; try again"
        )

    def check_replannable(self, edition: Edition) -> None:
        """``RefusedError`` unless ``replan`` may change this edition (asked before an
        editor's pin or drop is recorded, so a refused one leaves nothing behind)."""
        started = self.editions.started(edition.id)
        if started:
            raise RefusedError(_started_message(edition, started))
        latest = self.editions.latest(edition.newsletter)
        if latest is not None and latest.slot > edition.slot:
            raise RefusedError(
                f"edition {edition.id} of {edition.newsletter} ({edition.slot.isoformat()}) is "
                f"not the newsletter's latest: the edition of {latest.slot.isoformat()} was "
                "planned after it, from what it carried; pin or drop for the next slot instead"
            )

    def _draft(
        self,
        newsletter: Newsletter,
        slot: datetime,
        replanning: str | None = None,
        planned_at: datetime | None = None,
    ) -> tuple[Edition, list[CarriedArticle]]:
        previous = self.editions.previous_sent(newsletter.name, before=slot)
        window = window_for(
            slot,
            newsletter.window_days,
            newsletter.since_previous,
            previous.slot if previous else None,
        )
        selection = self._select(newsletter, slot, window, replanning)
        chosen = [d for section in selection.sections for d in section.chosen]
        related, related_articles = self._related(chosen, slot)
        planned_at = planned_at or self.clock()
        snapshot = build_snapshot(
            PlanParts(
                publication=self.config.publication,
                newsletter=newsletter,
                slot=slot,
                window=window,
                selection=selection,
                summaries={
                    d.article.id: summarize(d.article.standfirst, d.article.body) for d in chosen
                },
                related=related,
                related_articles=related_articles,
                planned_at=planned_at,
            )
        )
        edition = Edition(
            id=edition_id(newsletter.name, slot),
            newsletter=newsletter.name,
            slot=slot,
            issue_number=None,
            window_start=window.start,
            empty=selection.empty,
            snapshot=snapshot,
            planned_at=planned_at,
        )
        return edition, _carried(selection)

    def _select(
        self, newsletter: Newsletter, slot: datetime, window: Window, replanning: str | None
    ) -> Selection:
        """``replanning``: the stored edition being re-drafted, whose own articles do not
        count as carried by an earlier edition."""
        names = [section.name for section in newsletter.sections]
        reach_back = window.start - (window.end - window.start)
        candidates = self.articles.candidates(
            names, dated_after=reach_back, seen_after=window.start
        )
        pins, drops = self._overrides(newsletter.name, slot)
        candidates += self._pinned_elsewhere(pins, candidates)
        ids = [a.id for a in candidates]
        carried = self.editions.carried(newsletter.name, ids, excluding=replanning)
        rules = [
            SectionRule(s.name, s.maximum, newsletter.section_minimum(s.name))
            for s in newsletter.sections
        ]
        archive = self._archive(newsletter, rules, window, replanning, extra=len(drops))
        return select(rules, window, candidates, carried, archive, pins=pins, drops=drops)

    def _overrides(self, newsletter: str, slot: datetime) -> tuple[dict[str, str], dict[str, str]]:
        if self.editorial is None:
            return {}, {}
        return self.editorial.overrides(newsletter, slot)

    def _pinned_elsewhere(
        self, pins: Mapping[str, str], candidates: Sequence[StoredArticle]
    ) -> list[StoredArticle]:
        """Pinned articles the candidate query did not reach (older ones, say), by id."""
        known = {a.id for a in candidates}
        missing = sorted(set(pins) - known)
        found = self.articles.get_many(missing) if missing else {}
        return [found[id_] for id_ in missing if id_ in found]

    def _archive(
        self,
        newsletter: Newsletter,
        rules: Sequence[SectionRule],
        window: Window,
        replanning: str | None,
        extra: int = 0,
    ) -> dict[str, list[StoredArticle]]:
        """Never-sent older articles of each section that may need filling, oldest first
        (``extra`` more each, to stand in for any an editor dropped)."""
        if newsletter.evergreen is None:
            return {}
        oldest = window.end - timedelta(days=newsletter.evergreen.max_age_days)
        never_sent = self.editions.never_carried(newsletter.name, excluding=replanning)
        return {
            rule.name: self.articles.oldest_first(
                rule.name, (oldest, window.start), never_sent, limit=rule.maximum + extra
            )
            for rule in rules
            if rule.minimum > 0
        }

    def _related(
        self, chosen: Sequence[Decision], slot: datetime
    ) -> tuple[dict[str, list[RelatedChoice]], dict[str, StoredArticle]]:
        if not chosen:
            return {}, {}
        index = SimilarityIndex.build(self.articles.term_vectors(published_until=slot))
        references = {
            d.article.id: [r.target_id if r.target_id in index else None for r in d.article.related]
            for d in chosen
        }
        related = related_for_edition(references, index)
        wanted = {choice.article_id for choices in related.values() for choice in choices}
        return related, self.articles.get_many(sorted(wanted))


def _started_message(edition: Edition, started: int) -> str:
    return (
        f"edition {edition.id} of {edition.newsletter} ({edition.slot.isoformat()}) has started"
        f" sending ({started} deliveries sent, failed or in flight), so it can no longer be"
        " re-planned: its snapshot is what those subscribers got. Pin or drop for the next"
        f" slot instead, or pause the edition (`digest pause {edition.id}`) to stop the rest"
    )


def _carried(selection: Selection) -> list[CarriedArticle]:
    return [
        CarriedArticle(d.article.id, section.name, position, d.reason.value == "archive")
        for section in selection.sections
        for position, d in enumerate(section.chosen)
    ]
