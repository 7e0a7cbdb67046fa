"""What a scan of the HTML records: each feature occurrence, where and for whom. Computes only.

An occurrence remembers its place (an HTML element or attribute, an inline ``style``, a
top-level style sheet rule, or a conditional ``@media``/``@supports`` block) and its
audience (everyone, Outlook for Windows only inside ``<!--[if mso]>``, or everyone else
inside ``<!--[if !mso]><!-->``), which decide who reads it when the report is judged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Place = Literal["html", "inline", "sheet", "conditional"]
Audience = Literal["all", "mso", "not-mso"]

Fallback = tuple[str, str]
"""A feature that achieves the same end at the same spot, and how to describe it."""


@dataclass(frozen=True)
class Occurrence:
    feature: str
    where: str
    place: Place
    audience: Audience
    harmless: str | None = None  # why this occurrence is harmless wherever it is unsupported
    fallbacks: tuple[Fallback, ...] = ()


@dataclass
class Scan:
    occurrences: list[Occurrence] = field(default_factory=list)
    has_vml_background: bool = False

    def add(
        self,
        feature: str,
        where: str,
        place: Place,
        audience: Audience,
        harmless: str | None = None,
        fallbacks: tuple[Fallback, ...] = (),
    ) -> None:
        self.occurrences.append(
            Occurrence(feature, excerpt(where), place, audience, harmless, fallbacks)
        )


def excerpt(text: str, limit: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
