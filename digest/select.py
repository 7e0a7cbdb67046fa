"""Choosing an edition's articles, with a reason for every candidate. Computes only.

Everything arrives as data: the newsletter's sections, the slot and its window, the
candidate articles, the archive articles the evergreen policy may draw on, and which
articles earlier editions already carried. The result says, for every candidate, whether
it is in and why, so an editor can tell why a piece is missing without reading code.

The window is the half-open interval (start, slot]: an article published exactly at the
previous slot belonged to the previous edition's window.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from digest.model import StoredArticle


class Reason(enum.Enum):
    """Why a candidate is in or out; the values are stable codes for JSON and the web."""

    NEW = "new"
    ARCHIVE = "archive"
    ALREADY_SENT = "already_sent"
    OUTSIDE_WINDOW = "outside_window"
    UNDATED_OLD = "undated_old"
    OVER_MAXIMUM = "over_maximum"
    FUTURE = "future"

    @property
    def included(self) -> bool:
        return self in (Reason.NEW, Reason.ARCHIVE)


@dataclass(frozen=True, slots=True)
class SectionRule:
    """What selection needs to know of one section of a newsletter."""

    name: str
    maximum: int
    minimum: int = 0


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    end: datetime

    def contains(self, moment: datetime) -> bool:
        return self.start < moment <= self.end


@dataclass(frozen=True, slots=True)
class Decision:
    article: StoredArticle
    section: str
    reason: Reason
    detail: str
    edition: int | None = None

    @property
    def included(self) -> bool:
        return self.reason.included


@dataclass(frozen=True, slots=True)
class SectionChoice:
    name: str
    chosen: tuple[Decision, ...]


@dataclass(frozen=True, slots=True)
class Selection:
    sections: tuple[SectionChoice, ...]
    decisions: tuple[Decision, ...]

    @property
    def empty(self) -> bool:
        return not self.sections

    def excluded(self) -> list[Decision]:
        return [d for d in self.decisions if not d.included]


def window_for(
    slot: datetime, window_days: int, since_previous: bool, previous_slot: datetime | None
) -> Window:
    """At most ``window_days`` back; from the previous edition's slot when that is later."""
    start = slot - timedelta(days=window_days)
    if since_previous and previous_slot is not None and start < previous_slot < slot:
        start = previous_slot
    return Window(start, slot)


def when(article: StoredArticle) -> datetime:
    """The moment that orders articles: publication, or first sight for undated ones."""
    return article.published_at or article.first_seen_at


def select(
    rules: Sequence[SectionRule],
    window: Window,
    candidates: Sequence[StoredArticle],
    carried: Mapping[str, int],
    archive: Mapping[str, Sequence[StoredArticle]] | None = None,
) -> Selection:
    """Each section's articles, and a decision for every candidate of every section."""
    sections = []
    decisions: list[Decision] = []
    for rule in rules:
        mine = [a for a in candidates if a.section.casefold() == rule.name.casefold()]
        chosen, decided = _select_section(rule, window, mine, carried)
        extra = _archive_fill(rule, chosen, (archive or {}).get(rule.name, ()), decided)
        chosen += extra
        decided += extra
        decisions += decided
        if chosen:
            sections.append(SectionChoice(rule.name, tuple(chosen)))
    return Selection(tuple(sections), tuple(decisions))


def _select_section(
    rule: SectionRule, window: Window, articles: list[StoredArticle], carried: Mapping[str, int]
) -> tuple[list[Decision], list[Decision]]:
    decided = []
    eligible = []
    for article in articles:
        exclusion = _exclusion(article, rule.name, window, carried)
        if exclusion is None:
            eligible.append(article)
        else:
            decided.append(exclusion)
    eligible.sort(key=lambda a: (when(a), a.id), reverse=True)
    chosen = []
    for rank, article in enumerate(eligible, start=1):
        if rank <= rule.maximum:
            moment = when(article).isoformat(timespec="minutes")
            verb = "published" if article.published_at else "undated, first seen"
            detail = f"{verb} {moment}, inside the window; ranked {rank} by date"
            chosen.append(Decision(article, rule.name, Reason.NEW, detail))
        else:
            detail = (
                f"ranked {rank} of {len(eligible)} by date; "
                f"the section shows at most {rule.maximum}"
            )
            decided.append(Decision(article, rule.name, Reason.OVER_MAXIMUM, detail))
    return chosen, chosen + decided


def _exclusion(
    article: StoredArticle, section: str, window: Window, carried: Mapping[str, int]
) -> Decision | None:
    if article.id in carried:
        issue = carried[article.id]
        detail = f"already sent in edition #{issue}"
        return Decision(article, section, Reason.ALREADY_SENT, detail, edition=issue)
    start = window.start.isoformat(timespec="minutes")
    if article.published_at is not None:
        if article.published_at > window.end:
            detail = f"dated {article.published_at.isoformat(timespec='minutes')}, after the slot"
            return Decision(article, section, Reason.FUTURE, detail)
        if not window.contains(article.published_at):
            detail = f"published before the window, which starts {start}"
            return Decision(article, section, Reason.OUTSIDE_WINDOW, detail)
        return None
    if article.first_seen_at > window.end:
        detail = "undated and first seen after the slot"
        return Decision(article, section, Reason.FUTURE, detail)
    if not window.contains(article.first_seen_at):
        detail = f"undated and first seen before the window, which starts {start}"
        return Decision(article, section, Reason.UNDATED_OLD, detail)
    return None


def _archive_fill(
    rule: SectionRule,
    chosen: list[Decision],
    archive: Sequence[StoredArticle],
    decided: list[Decision],
) -> list[Decision]:
    """Older never-sent articles, oldest first, up to the section's minimum."""
    wanted = min(rule.minimum, rule.maximum) - len(chosen)
    if wanted <= 0:
        return []
    seen = {d.article.id for d in decided}
    fill = [a for a in archive if a.id not in seen][:wanted]
    detail = (
        f"from the archive: {len(chosen)} new article(s), the section's minimum is {rule.minimum}"
    )
    return [Decision(a, rule.name, Reason.ARCHIVE, detail) for a in fill]
