"""CSS declarations: properties, value slugs, and harmless occurrences. Computes only.

Besides the property's slug, a value adds its own (display values, units, colour and maths
functions, gradients, keywords, images by type). A declaration is marked harmless where it
restates the property's default, and gets fallbacks from other hiding means in its block.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from digest.render.lint.graceful import DEFAULTS, MSO_HIDE
from digest.render.lint.occurrences import Audience, Fallback, Place, Scan
from digest.render.lint.slugs import (
    FUNCTION_SLUGS,
    KEYWORD_SLUGS,
    PROPERTY_SLUGS,
    SYSTEM_FONTS,
    UNIT_SLUGS,
    image_features,
)

_VENDOR_PREFIX = re.compile(r"\A-(?:webkit|moz|ms|o)-")
_IMPORTANT = re.compile(r"!\s*important\s*\Z", re.I)
_STRING_OR_URL = re.compile(
    r'"(?:\\.|[^"\\])*"?|\'(?:\\.|[^\'\\])*\'?|url\(\s*(?:"[^"]*"|\'[^\']*\'|[^)]*)\s*\)?', re.I
)
_URL = re.compile(r"url\(\s*(?:\"([^\"]*)\"|'([^']*)'|([^)]*?))\s*\)", re.I)
_UNIT = re.compile(
    r"(?<![\w#.-])[-+]?(?:\d+\.?\d*|\.\d+)(px|%|rem|em|ex|ch|vmin|vmax|vw|vh|cm|mm|in|pt|pc)(?![\w-])",
    re.I,
)
_FUNCTION = re.compile(r"(?<![\w-])(?:-(?:webkit|moz|ms|o)-)?([a-z][a-z-]*)\(", re.I)
_KEYWORD = re.compile(r"(?<![\w-])([a-z][\w-]*)(?![\w-])", re.I)
_ZERO = re.compile(r"\A[-+]?0*\.?0+(?:[a-z%]*)\Z", re.I)


def _hiding_means(prop: str, value: str) -> str | None:
    """The feature a declaration hides its element with, if it is one of the usual means."""
    if prop == "display" and value == "none":
        return "css-display-none"
    if prop == "visibility" and value == "hidden":
        return "css-visibility"
    if prop == "opacity" and _ZERO.match(value):
        return "css-opacity"
    if prop in ("max-height", "height") and _ZERO.match(value):
        return f"css-{prop}"
    if prop == "overflow" and value == "hidden":
        return "css-overflow"
    if prop == "mso-hide" and value == "all":
        return MSO_HIDE
    return None


def scan_declarations(
    declarations: list[str],
    where: str,
    scan: Scan,
    place: Place,
    audience: Audience,
    attributes: Mapping[str, Fallback] | None = None,
) -> None:
    """Features of a declaration block; ``attributes``: presentational fallbacks by feature."""
    parsed: list[tuple[str, str, str, bool]] = []  # property, base property, value, important
    for text in declarations:
        prop, colon, value = text.partition(":")
        prop = prop.strip().lower()
        if not colon or not re.fullmatch(r"-?-?[a-z_][\w-]*", prop):
            continue
        value = value.strip()
        important = bool(_IMPORTANT.search(value))
        value = _IMPORTANT.sub("", value).strip()
        parsed.append((prop, _VENDOR_PREFIX.sub("", prop), value, important))
    rounded = any(
        base == "border-radius" or base.endswith("-radius")
        for _, base, value, _ in parsed
        if not _ZERO.match(value.strip())
    )
    means: dict[str, Fallback] = {}
    for prop, base, value, _ in parsed:
        mean = _hiding_means(base, " ".join(value.lower().split()))
        if mean is not None:
            means.setdefault(mean, (mean, f"{prop}:{value} in the same block also hides it"))
    for prop, base, value, important in parsed:
        shown = f"{where} {prop}:{value}{' !important' if important else ''}"
        shown += " }" if place in ("sheet", "conditional") else ""
        normal = " ".join(value.lower().split())
        mean = _hiding_means(base, normal)
        fallbacks = tuple(v for k, v in means.items() if mean and k != mean)
        if important:
            scan.add("css-important", shown, place, audience)
        if prop.startswith("--"):
            scan.add("css-variables", shown, place, audience)
            continue
        if base.startswith("mso-"):
            continue  # Outlook's own properties: no caniemail feature, values not linted
        slug = PROPERTY_SLUGS.get(base)
        if slug is not None:
            attribute = (attributes or {}).get(slug)
            own = (*fallbacks, attribute) if attribute else fallbacks
            harmless = _harmless(base, normal, rounded)
            scan.add(slug, shown, place, audience, harmless, own)
        for slug in _value_slugs(base, value):
            attribute = (attributes or {}).get(slug)
            own = (*fallbacks, attribute) if attribute else fallbacks
            scan.add(slug, shown, place, audience, None, own)


def _harmless(prop: str, value: str, rounded: bool) -> str | None:
    """Why a declaration costs nothing where its property is unsupported, if it does not."""
    defaults = DEFAULTS.get(prop, frozenset())
    if value in defaults or ("0" in defaults and _ZERO.match(value)):
        return (
            f"it only restates the default value {value!r}, which a client without the property "
            "shows anyway"
        )
    if prop == "overflow" and value == "hidden" and rounded:
        return "next to border-radius it only clips the content to the rounded corners"
    return None


def _value_slugs(prop: str, value: str) -> list[str]:
    slugs: list[str] = []
    lowered = value.lower()
    if prop == "display":
        if lowered in ("flex", "inline-flex") or lowered.endswith(" flex"):
            slugs.append("css-display-flex")
        elif lowered in ("grid", "inline-grid") or lowered.endswith(" grid"):
            slugs.append("css-display-grid")
        elif lowered == "none":
            slugs.append("css-display-none")
    urls = [next(g for g in m.groups() if g is not None) for m in _URL.finditer(value)]
    if prop == "background" and urls:
        slugs.append("css-background-image")
    bare = _STRING_OR_URL.sub(" ", value)
    for match in _UNIT.finditer(bare):
        unit = match.group(1).lower()
        slugs.append(UNIT_SLUGS.get(unit, f"css-unit-{unit}"))
    for match in _FUNCTION.finditer(bare):
        slug = FUNCTION_SLUGS.get(match.group(1).lower())
        if slug:
            slugs.append(slug)
    for match in _KEYWORD.finditer(_FUNCTION.sub(" ", bare)):
        word = match.group(1).lower()
        if word in KEYWORD_SLUGS:
            slugs.append(KEYWORD_SLUGS[word])
        elif word in SYSTEM_FONTS and prop in ("font-family", "font"):
            slugs.append("css-sytem-ui")
    for url in urls:
        slugs.extend(image_features(url))
    return list(dict.fromkeys(slugs))
