"""The graceful-degradation rules: when an unsupported feature is only a warning. Computes only.

An unsupported feature is only a warning when the client's failure mode is "the feature is
ignored and something the author already provided applies" (see the package docstring for
the full list). The rules by feature live here; the per-occurrence ones (a default value
restated, another hiding means in the same block) are found while scanning declarations
and use ``DEFAULTS`` and ``MSO_HIDE`` from here.
"""

from __future__ import annotations

from digest.render.lint.data import OUTLOOK_WINDOWS, Support
from digest.render.lint.occurrences import Occurrence, Scan

_GRACEFUL: dict[str, str] = {
    "css-at-media": "a client without media queries skips the block; the styles outside apply",
    "css-at-supports": "a client without @supports skips the block; the styles outside apply",
    "css-color-scheme": "dark mode is an enhancement; the client shows the light design",
    "html-meta-color-scheme": "dark mode is an enhancement; the client shows the light design",
    "css-function-light-dark": "dark mode is an enhancement; the client shows the light design",
    "css-at-media-prefers-color-scheme": (
        "dark mode is an enhancement; the client skips the block and shows the light design"
    ),
    "html-style": "the client drops the style sheet; the inline style attributes apply",
    "html-link": "the client ignores linked style sheets and fonts; inline styles apply",
    "css-at-import": "the client ignores imported style sheets and fonts; inline styles apply",
    "css-at-font-face": "without web fonts the next family of the font-family list applies",
    "html-doctype": "the doctype only picks a rendering mode; the client renders in its own",
    "html-target": "links open in a new window anyway (see the data's notes)",
    "html-body": "the client wraps the content in its own element instead; keep page styles "
    "on a wrapper element too (MJML repeats the background on its wrapper <div>)",
}
_GRACEFUL_PREFIXES: dict[str, str] = {
    "css-at-media-": (
        "a client without this media feature skips the block; the styles outside apply"
    ),
    "css-selector-": "the client drops the rule; the inline styles apply",
    "css-pseudo-class-": "the client drops the rule; the inline styles apply",
    "css-pseudo-element-": "the client drops the rule; the element shows without it",
    "html-aria-": "the client strips the attribute; the email looks the same, with less "
    "context for screen readers",
}
_DECORATION = frozenset(
    {
        "css-border-radius",
        "css-box-shadow",
        "css-text-shadow",
        "css-outline",
        "css-outline-offset",
        "css-cursor",
        "css-transition",
        "css-animation",
        "css-at-keyframes",
        "css-text-decoration-color",
        "css-text-decoration-style",
        "css-text-decoration-thickness",
        "css-text-decoration-skip-ink",
        "css-text-underline-offset",
        "css-text-underline-position",
        "css-accent-color",
        "css-user-select",
    }
)
_LINE_BREAKING = frozenset(
    {
        "css-word-break",
        "css-overflow-wrap",
        "css-word-wrap",
        "css-hyphens",
        "css-hyphenate-character",
        "css-hyphenate-limit-chars",
        "css-text-wrap",
        "css-font-kerning",
    }
)
_VML_REPLACEABLE = frozenset(
    {
        "css-background",
        "css-background-image",
        "css-background-position",
        "css-background-repeat",
        "css-background-size",
        "html-background",
    }
)

# Properties whose initial value is also what every element shows in a client that does not
# implement the property, so declaring that value asks for nothing such a client lacks.
DEFAULTS: dict[str, frozenset[str]] = {
    prop: frozenset(values.split())
    for prop, values in {
        "word-spacing": "normal 0",
        "letter-spacing": "normal 0",
        "outline": "none 0",
        "outline-style": "none",
        "box-shadow": "none",
        "text-shadow": "none",
        "opacity": "1",
        "visibility": "visible",
        "position": "static",
        "float": "none",
        "clear": "none",
        "z-index": "auto",
        "transform": "none",
        "filter": "none",
        "backdrop-filter": "none",
        "mix-blend-mode": "normal",
        "clip-path": "none",
        "mask-image": "none",
        "cursor": "auto",
        "max-height": "none",
        "max-width": "none",
        "min-height": "0 auto",
        "min-width": "0 auto",
        "height": "auto",
        "width": "auto",
        "overflow": "visible",
        "text-transform": "none",
        "text-indent": "0",
        "text-overflow": "clip",
        "white-space": "normal",
        "word-break": "normal",
        "border-radius": "0",
        "transition": "none",
        "animation": "none",
        "background-image": "none",
        "list-style-image": "none",
        "font-stretch": "normal",
        "font-kerning": "auto",
        "hyphens": "manual",
        "table-layout": "auto",
        "empty-cells": "show",
        "writing-mode": "horizontal-tb",
    }.items()
}
MSO_HIDE = "mso-hide:all"
"""A hiding means only Outlook for Windows understands; not a caniemail feature."""


def _graceful_reason(feature: str) -> str | None:
    if feature in _GRACEFUL:
        return _GRACEFUL[feature]
    for prefix, reason in _GRACEFUL_PREFIXES.items():
        if feature.startswith(prefix):
            return reason
    if feature in _DECORATION:
        return "decoration only; the element shows without it"
    if feature in _LINE_BREAKING:
        return "a line-breaking refinement; text still wraps at spaces"
    if feature == "html-role":
        return _GRACEFUL_PREFIXES["html-aria-"]
    return None


def why_graceful(
    occurrence: Occurrence, client: str, platform: str, support: Support, scan: Scan
) -> str | None:
    reason = _graceful_reason(occurrence.feature)
    if reason is not None:
        return reason
    if occurrence.harmless is not None:
        return occurrence.harmless
    for fallback, described in occurrence.fallbacks:
        if fallback == MSO_HIDE:
            supported = (client, platform) == OUTLOOK_WINDOWS
        else:
            supported = support.kind(fallback, client, platform) in ("y", "a")
        if supported:
            return f"{described}, and this client supports that ({fallback})"
    if (
        (client, platform) == OUTLOOK_WINDOWS
        and occurrence.feature in _VML_REPLACEABLE
        and scan.has_vml_background
    ):
        return "Outlook for Windows gets its background from the VML in the MSO comments"
    return None
