"""Linting: each occurrence judged against each target, into errors and warnings. Computes only.

For each (client, platform) target the latest tested version's value counts: "y" passes,
"u" and missing data are ignored, "a" (partial) is a warning carrying the data's numbered
notes, and "n" is an error unless the feature degrades gracefully there (``graceful``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from digest.render.lint.data import OUTLOOK_WINDOWS, TARGETS, FeatureSupport, Support
from digest.render.lint.graceful import why_graceful
from digest.render.lint.occurrences import Occurrence, Scan
from digest.render.lint.scan import scan_html

Level = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    """One feature a target client lacks (error) or supports partly or harmlessly (warning)."""

    feature: str
    title: str
    client: str
    platform: str
    support: str
    notes: tuple[str, ...]
    level: Level
    where: str

    def as_json(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "title": self.title,
            "client": self.client,
            "platform": self.platform,
            "support": self.support,
            "notes": list(self.notes),
            "where": self.where,
        }


@dataclass(frozen=True)
class LintReport:
    """Errors and warnings, one per (feature, client, platform), and every feature detected."""

    errors: tuple[Finding, ...]
    warnings: tuple[Finding, ...]
    features: frozenset[str]

    def as_json(self) -> dict[str, Any]:
        return {
            "errors": [finding.as_json() for finding in self.errors],
            "warnings": [finding.as_json() for finding in self.warnings],
        }


def detect_features(html: str) -> dict[str, str]:
    """Every caniemail feature the HTML uses, with an excerpt of its first occurrence."""
    found: dict[str, str] = {}
    for occurrence in scan_html(html).occurrences:
        found.setdefault(occurrence.feature, occurrence.where)
    return found


def lint(html: str, support: Support, targets: tuple[tuple[str, str], ...] = TARGETS) -> LintReport:
    """Lint the final HTML of an email against the support data for each target."""
    scan = scan_html(html)
    worst: dict[tuple[str, str, str], Finding] = {}
    for occurrence in scan.occurrences:
        data = support.features.get(occurrence.feature)
        if data is None:
            continue
        for client, platform in targets:
            finding = _judge(occurrence, data, client, platform, support, scan)
            if finding is None:
                continue
            key = (occurrence.feature, client, platform)
            kept = worst.get(key)
            if kept is None or (kept.level == "warning" and finding.level == "error"):
                worst[key] = finding
    order = {target: index for index, target in enumerate(targets)}
    ranked = sorted(worst.values(), key=lambda f: (f.feature, order.get((f.client, f.platform), 0)))
    return LintReport(
        errors=tuple(f for f in ranked if f.level == "error"),
        warnings=tuple(f for f in ranked if f.level == "warning"),
        features=frozenset(o.feature for o in scan.occurrences),
    )


def _judge(
    occurrence: Occurrence,
    data: FeatureSupport,
    client: str,
    platform: str,
    support: Support,
    scan: Scan,
) -> Finding | None:
    target = (client, platform)
    if occurrence.audience == "mso" and target != OUTLOOK_WINDOWS:
        return None
    if occurrence.audience == "not-mso" and target == OUTLOOK_WINDOWS:
        return None
    if occurrence.place == "conditional":
        return None
    if occurrence.place == "sheet" and support.kind("html-style", client, platform) == "n":
        return None  # this client never reads the style sheet
    value = data.support(client, platform)
    kind = value.split()[0] if value and value.split() else ""
    if value is None or kind not in ("a", "n"):
        return None
    notes = data.notes(value)
    level: Level = "warning"
    if kind == "n":
        reason = why_graceful(occurrence, client, platform, support, scan)
        if reason is None:
            level = "error"
        else:
            notes = (f"unsupported, degrades gracefully: {reason}", *notes)
    return Finding(
        feature=data.slug,
        title=data.title,
        client=client,
        platform=platform,
        support=value,
        notes=notes,
        level=level,
        where=occurrence.where,
    )
