"""Planning an edition: choose, summarise, link and freeze. Orchestrates; I/O via stores.

``Planner.plan`` turns (newsletter, slot) into a stored edition. The reading happens here
(candidates, what earlier editions carried, the archive, term vectors); the deciding
happens in the pure stages (``select``, ``summarize``, ``related``, ``snapshot``); the
store decides who wins when two processes plan the same slot at once.

Editions are planned in slot order: planning a slot earlier than the newsletter's latest
edition is refused, because "never an article an earlier edition carried" and the issue
numbers both assume that order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from digest.errors import PlanningError
from digest.model import StoredArticle
from digest.newsletters import Newsletter, NewsletterConfig
from digest.related import RelatedChoice, related_for_edition
from digest.select import Decision, SectionRule, Selection, Window, select, window_for
from digest.similarity import SimilarityIndex
from digest.slots import slot_at_or_before
from digest.snapshot import PlanParts, build_snapshot, edition_id
from digest.store.articles import ArticleStore
from digest.store.editions import CarriedArticle, Edition, EditionConflict, EditionStore
from digest.summarize import summarize

Clock = Callable[[], datetime]
PLAN_ATTEMPTS = 3


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Planner:
    articles: ArticleStore
    editions: EditionStore
    config: NewsletterConfig
    clock: Clock = utc_now

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

    def _draft(
        self, newsletter: Newsletter, slot: datetime
    ) -> tuple[Edition, list[CarriedArticle]]:
        previous = self.editions.previous_sent(newsletter.name, before=slot)
        window = window_for(
            slot,
            newsletter.window_days,
            newsletter.since_previous,
            previous.slot if previous else None,
        )
        selection = self._select(newsletter, window)
        chosen = [d for section in selection.sections for d in section.chosen]
        related, related_articles = self._related(chosen, slot)
        planned_at = self.clock()
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

    def _select(self, newsletter: Newsletter, window: Window) -> Selection:
        names = [section.name for section in newsletter.sections]
        reach_back = window.start - (window.end - window.start)
        candidates = self.articles.candidates(
            names, dated_after=reach_back, seen_after=window.start
        )
        carried = self.editions.carried(newsletter.name, [a.id for a in candidates])
        rules = [
            SectionRule(s.name, s.maximum, newsletter.section_minimum(s.name))
            for s in newsletter.sections
        ]
        return select(rules, window, candidates, carried, self._archive(newsletter, rules, window))

    def _archive(
        self, newsletter: Newsletter, rules: Sequence[SectionRule], window: Window
    ) -> dict[str, list[StoredArticle]]:
        """Never-sent older articles of each section that may need filling, oldest first."""
        if newsletter.evergreen is None:
            return {}
        oldest = window.end - timedelta(days=newsletter.evergreen.max_age_days)
        never_sent = self.editions.never_carried(newsletter.name)
        return {
            rule.name: self.articles.oldest_first(
                rule.name, (oldest, window.start), never_sent, limit=rule.maximum
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


def _carried(selection: Selection) -> list[CarriedArticle]:
    return [
        CarriedArticle(d.article.id, section.name, position, d.reason.value == "archive")
        for section in selection.sections
        for position, d in enumerate(section.chosen)
    ]
