"""Choosing an edition's articles, with a reason for every candidate. Computes only.

Everything arrives as data: the newsletter's sections, the slot and its window, the
candidate articles, the archive articles the evergreen policy may draw on, and which
articles earlier editions already carried. The result says, for every candidate, whether
it is in and why, so an editor can tell why a piece is missing without reading code.

The window is the half-open interval (start, slot]: an article published exactly at the
previous slot belonged to the previous edition's window.

Editors may pin or drop articles of a slot (``pins`` and ``drops``: article id -> editor).
Their explicit choice outranks every rule: a dropped candidate is out whatever it is, and a
pinned one is in even outside the window, already sent, future-dated or past the maximum
(the detail says what would have kept it out). Pinned articles come first in their section
and count toward its maximum; when there are more pins than the maximum every pin is kept.
A pinned article the candidate query did not reach must be passed in with the candidates
(the planner does so). A pinned article whose section the newsletter does not have gets no
decision, like any other article of such a section; an article both pinned and dropped is
dropped (never send what an editor struck out).
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
    PINNED = "pinned"
    DROPPED = "dropped"

    @property
    def included(self) -> bool:
        return self in (Reason.NEW, Reason.ARCHIVE, Reason.PINNED)


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


@dataclass(frozen=True, slots=True)
class Editors:
    """The editors' pins and drops of a slot: article id -> the editor who decided."""

    pins: Mapping[str, str]
    drops: Mapping[str, str]

    def dropped(self, article: StoredArticle, section: str) -> Decision | None:
        editor = self.drops.get(article.id)
        if editor is None:
            return None
        return Decision(article, section, Reason.DROPPED, f"dropped by {editor}")


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
    pins: Mapping[str, str] | None = None,
    drops: Mapping[str, str] | None = None,
) -> Selection:
    """Each section's articles, and a decision for every candidate of every section."""
    editors = Editors(pins or {}, drops or {})
    sections = []
    decisions: list[Decision] = []
    for rule in rules:
        mine = [a for a in candidates if a.section.casefold() == rule.name.casefold()]
        chosen, decided = _select_section(rule, window, mine, carried, editors)
        extra, struck = _archive_fill(
            rule, chosen, (archive or {}).get(rule.name, ()), decided, editors
        )
        chosen += extra
        decided += extra + struck
        decisions += decided
        if chosen:
            sections.append(SectionChoice(rule.name, tuple(chosen)))
    return Selection(tuple(sections), tuple(decisions))


def _select_section(
    rule: SectionRule,
    window: Window,
    articles: list[StoredArticle],
    carried: Mapping[str, int],
    editors: Editors,
) -> tuple[list[Decision], list[Decision]]:
    decided = []
    eligible = []
    pinned: list[tuple[StoredArticle, Decision | None]] = []
    for article in articles:
        dropped = editors.dropped(article, rule.name)
        if dropped is not None:
            decided.append(dropped)
            continue
        exclusion = _exclusion(article, rule.name, window, carried)
        if article.id in editors.pins:
            pinned.append((article, exclusion))
        elif exclusion is None:
            eligible.append(article)
        else:
            decided.append(exclusion)
    pinned.sort(key=lambda item: (when(item[0]), item[0].id), reverse=True)
    chosen = [
        _pinned(rule, article, exclusion, editors.pins[article.id], len(pinned))
        for article, exclusion in pinned
    ]
    eligible.sort(key=lambda a: (when(a), a.id), reverse=True)
    room = rule.maximum - len(pinned)
    after_pins = f" after {len(pinned)} pinned" if pinned else ""
    for rank, article in enumerate(eligible, start=1):
        if rank <= room:
            moment = when(article).isoformat(timespec="minutes")
            verb = "published" if article.published_at else "undated, first seen"
            detail = f"{verb} {moment}, inside the window; ranked {rank} by date{after_pins}"
            chosen.append(Decision(article, rule.name, Reason.NEW, detail))
        else:
            of_them = f", {len(pinned)} of them pinned" if pinned else ""
            detail = (
                f"ranked {rank} of {len(eligible)} by date; "
                f"the section shows at most {rule.maximum}{of_them}"
            )
            decided.append(Decision(article, rule.name, Reason.OVER_MAXIMUM, detail))
    return chosen, chosen + decided


def _pinned(
    rule: SectionRule,
    article: StoredArticle,
    exclusion: Decision | None,
    editor: str,
    count: int,
) -> Decision:
    """A pinned article is in; its detail says what the rules alone would have said."""
    detail = f"pinned by {editor}"
    if exclusion is not None:
        detail += f"; without the pin: {exclusion.detail}"
    if count > rule.maximum:
        detail += (
            f"; {count} articles are pinned, above the section's maximum of {rule.maximum}:"
            " every pin is kept"
        )
    return Decision(article, rule.name, Reason.PINNED, detail)


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
    editors: Editors,
) -> tuple[list[Decision], list[Decision]]:
    """Older never-sent articles, oldest first, up to the section's minimum; and the
    archive articles an editor dropped, so the "why" list shows (and can undo) the drop."""
    seen = {d.article.id for d in decided}
    unseen = [a for a in archive if a.id not in seen]
    struck = [d for a in unseen if (d := editors.dropped(a, rule.name)) is not None]
    wanted = min(rule.minimum, rule.maximum) - len(chosen)
    if wanted <= 0:
        return [], struck
    fill = [a for a in unseen if a.id not in editors.drops][:wanted]
    kind = "new or pinned" if any(d.reason is Reason.PINNED for d in chosen) else "new"
    detail = (
        f"from the archive: {len(chosen)} {kind} article(s),"
        f" the section's minimum is {rule.minimum}"
    )
    return [Decision(a, rule.name, Reason.ARCHIVE, detail) for a in fill], struck
