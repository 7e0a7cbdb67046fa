"""An edition rendered once per variant, kept under Gmail's clip line. Computes only.

A variant is the set of sections a subscriber receives. ``EditionRenderer.variant``
renders its MJML and plain text, compiles the MJML, and splits both at the personal
placeholders; every subscriber of that variant is then a cheap ``fill``.

Gmail clips an email whose HTML passes about 102 KB, hiding the footer and its unsubscribe
link, so each variant is measured as a subscriber would get it, with the longest personal
values (``worst_case``), against a budget (default 95 KB). Over budget, the renderer trims
in order and records each step: first the leaner markup (one block per section rather than
per article), then summaries cut to their first sentence, then articles left out from the
bottom of the longest section, each section keeping a "more in SECTION" link.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from mjml import mjml2html

from digest.render.context import (
    ContextOptions,
    Trim,
    digest_context,
    pattern_context,
    variant_sections,
)
from digest.render.personal import PersonalTemplate
from digest.render.templates import TemplateSet

DEFAULT_BUDGET = 95_000
GMAIL_CLIP_BYTES = 102_000


@dataclass(frozen=True, slots=True)
class RenderOptions:
    base_url: str
    budget_bytes: int = DEFAULT_BUDGET


@dataclass(frozen=True, slots=True)
class Variant:
    sections: tuple[str, ...]
    html: PersonalTemplate
    text: PersonalTemplate
    subject: str
    preheader: str
    html_bytes: int
    trimmed: tuple[str, ...] = ()

    @property
    def over_budget(self) -> bool:
        return any(step.startswith("still over") for step in self.trimmed)


@dataclass
class EditionRenderer:
    """Renders one frozen edition; variants are compiled once and remembered."""

    templates: TemplateSet
    snapshot: Mapping[str, Any]
    options: RenderOptions
    worst_case: Mapping[str, str]
    _cache: dict[tuple[str, ...], Variant] = field(default_factory=dict, init=False)
    _chosen: dict[tuple[str, ...] | None, Variant | None] = field(
        default_factory=dict, init=False, repr=False
    )

    @property
    def compiled(self) -> int:
        """How many variants have been compiled so far."""
        return len(self._cache)

    def variant(self, wanted: Sequence[str] | None) -> Variant | None:
        """The variant for a subscriber's chosen sections; None when none has articles."""
        # asked for every recipient: a subscriber's choice maps to its variant once
        choice = None if wanted is None else tuple(wanted)
        if choice in self._chosen:
            return self._chosen[choice]
        sections = variant_sections(self.snapshot, wanted)
        found = None
        if sections:
            if sections not in self._cache:
                self._cache[sections] = self._render(sections)
            found = self._cache[sections]
        self._chosen[choice] = found
        return found

    def _render(self, sections: tuple[str, ...]) -> Variant:
        patterns = self._patterns(sections)
        trim = Trim()
        html, text = self._compile(sections, trim, patterns)
        size = self._measure(html)
        steps: list[str] = []
        while size > self.options.budget_bytes:
            next_trim, step = self._trim_further(sections, trim)
            if next_trim is None:
                steps.append(f"still over the budget by {size - self.options.budget_bytes} bytes")
                break
            html, text = self._compile(sections, next_trim, patterns)
            after = self._measure(html)
            steps.append(f"{step} ({size} to {after} bytes)")
            trim, size = next_trim, after
        return Variant(
            sections, html, text, patterns["subject"], patterns["preheader"], size, tuple(steps)
        )

    def _patterns(self, sections: tuple[str, ...]) -> dict[str, str]:
        context = pattern_context(self.snapshot, sections)
        newsletter = self.snapshot["newsletter"]
        return {
            what: self.templates.pattern(newsletter[what] or "", context, what)
            for what in ("subject", "preheader")
        }

    def _compile(
        self, sections: tuple[str, ...], trim: Trim, patterns: Mapping[str, str]
    ) -> tuple[PersonalTemplate, PersonalTemplate]:
        utm = self.snapshot["newsletter"].get("utm")  # frozen with the edition
        options = ContextOptions(base_url=self.options.base_url, utm=utm)
        context = digest_context(self.snapshot, sections, options, trim, patterns)
        mjml = self.templates.render("email/digest.mjml", context)
        text = self.templates.render("email/digest.txt", context)
        return PersonalTemplate.parse(compile_mjml(mjml)), PersonalTemplate.parse(text)

    def _measure(self, html: PersonalTemplate) -> int:
        return len(html.fill(self.worst_case).encode())

    def _trim_further(self, sections: tuple[str, ...], trim: Trim) -> tuple[Trim | None, str]:
        if not trim.compact:
            return replace(trim, compact=True), "leaner markup: one block per section"
        if not trim.short_summaries:
            return replace(trim, short_summaries=True), "summaries cut to their first sentence"
        section = self._longest_section(sections, trim.dropped)
        if section is None:
            return None, ""
        dropped = {**trim.dropped, section: trim.dropped.get(section, 0) + 1}
        return replace(trim, dropped=dropped), f"left out the last article of {section}"

    def _longest_section(self, sections: tuple[str, ...], dropped: Mapping[str, int]) -> str | None:
        """The section with the most articles still shown (the later one on a tie)."""
        remaining = {
            s["name"]: len(s["articles"]) - dropped.get(s["name"], 0)
            for s in self.snapshot["sections"]
            if s["name"] in sections
        }
        candidates = [name for name in sections if remaining[name] > 1]
        if not candidates:
            return None
        return max(reversed(candidates), key=lambda name: remaining[name])


def compile_mjml(source: str) -> str:
    """MJML to HTML with mjml-python; no web fonts (the templates use system fonts)."""
    return str(mjml2html(source, fonts={}))
