"""A small CSS tokenizer, and style sheets scanned: rules, at-rules, selectors. Computes only.

Properties and selectors in top-level ``<style>`` rules are recorded for the clients that
read ``<style>`` at all; whatever sits inside ``@media`` or ``@supports`` blocks is recorded
as conditional, since the block itself is linted as its at-rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from digest.render.lint.declarations import scan_declarations
from digest.render.lint.occurrences import Audience, Place, Scan
from digest.render.lint.slugs import COMBINATORS, MEDIA_FEATURES, PSEUDO_CLASSES, PSEUDO_ELEMENTS

_CSS_TOKEN = re.compile(
    r"""
      /\*.*?(?:\*/|\Z)                              # comment
    | "(?:\\.|[^"\\])*"?                            # strings
    | '(?:\\.|[^'\\])*'?
    | url\(\s*(?:"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|[^)]*)\s*\)?
    | [{};]
    | (?:(?!url\()[^{};/"'])+
    | /
    """,
    re.S | re.I | re.X,
)
_MAX_CSS_DEPTH = 16


@dataclass(frozen=True)
class CssText:
    """A declaration or a statement at-rule (``@import …``)."""

    text: str


@dataclass(frozen=True)
class CssBlock:
    """A rule or a block at-rule: its prelude and what its braces hold."""

    prelude: str
    children: tuple[CssText | CssBlock, ...]


def parse_css(text: str) -> tuple[tuple[CssText | CssBlock, ...], bool]:
    """Statements of a style sheet or a declaration list, and whether it had comments."""
    comments = [False]
    tokens = (match.group() for match in _CSS_TOKEN.finditer(text))
    return _parse_css_items(tokens, comments, 0), comments[0]


def _parse_css_items(
    tokens: Iterator[str], comments: list[bool], depth: int
) -> tuple[CssText | CssBlock, ...]:
    items: list[CssText | CssBlock] = []
    buffer: list[str] = []

    def flush() -> None:
        text = "".join(buffer).strip()
        buffer.clear()
        if text:
            items.append(CssText(text))

    for piece in tokens:
        if piece.startswith("/*"):
            comments[0] = True
            buffer.append(" ")
        elif piece == "{":
            prelude = "".join(buffer).strip()
            buffer.clear()
            if depth >= _MAX_CSS_DEPTH:
                _skip_block(tokens)
                continue
            items.append(CssBlock(prelude, _parse_css_items(tokens, comments, depth + 1)))
        elif piece == "}":
            if depth > 0:
                break
            buffer.clear()  # a stray closing brace ends nothing
        elif piece == ";":
            flush()
        else:
            buffer.append(piece)
    flush()
    return tuple(items)


def _skip_block(tokens: Iterator[str]) -> None:
    level = 1
    for piece in tokens:
        level += {"{": 1, "}": -1}.get(piece, 0)
        if level == 0:
            return


def scan_sheet(text: str, scan: Scan, place: Place, audience: Audience) -> None:
    # old-school <style><!-- … --></style> wrappers are not part of the rules
    items, comments = parse_css(text.replace("<!--", " ").replace("-->", " "))
    if comments:
        scan.add("css-comments", "<style> /* … */", place, audience)
    _scan_css_items(items, scan, place, audience, "<style>")


def _scan_css_items(
    items: tuple[CssText | CssBlock, ...],
    scan: Scan,
    place: Place,
    audience: Audience,
    context: str,
) -> None:
    for item in items:
        if isinstance(item, CssText):
            if item.text.startswith("@"):
                _scan_at_statement(item.text, scan, place, audience, context)
            continue
        if item.prelude.startswith("@"):
            _scan_at_block(item, scan, place, audience, context)
            continue
        where = f"{context} {item.prelude} {{ … }}"
        _scan_selectors(item.prelude, where, scan, place, audience)
        declarations = [child.text for child in item.children if isinstance(child, CssText)]
        scan_declarations(declarations, f"{context} {item.prelude} {{", scan, place, audience)
        nested = tuple(child for child in item.children if isinstance(child, CssBlock))
        if nested:
            scan.add("css-nesting", where, place, audience)
            _scan_css_items(nested, scan, place, audience, f"{context} {item.prelude} {{")


def _scan_at_statement(
    text: str, scan: Scan, place: Place, audience: Audience, context: str
) -> None:
    name = re.match(r"@([\w-]+)", text)
    if name and name.group(1).lower() == "import":
        scan.add("css-at-import", f"{context} {text}", place, audience)


def _scan_at_block(
    block: CssBlock, scan: Scan, place: Place, audience: Audience, context: str
) -> None:
    match = re.match(r"@(?:-[a-z]+-)?([\w-]+)\s*(.*)", block.prelude, re.S | re.I)
    if not match:
        return
    name, condition = match.group(1).lower(), match.group(2).lower()
    where = f"{context} {block.prelude} {{ … }}"
    inner = f"{context} {block.prelude} {{"
    if name == "media":
        scan.add("css-at-media", where, place, audience)
        for pattern, slug in MEDIA_FEATURES:
            if re.search(pattern, condition):
                scan.add(slug, where, place, audience)
        _scan_css_items(block.children, scan, "conditional", audience, inner)
    elif name == "supports":
        scan.add("css-at-supports", where, place, audience)
        _scan_css_items(block.children, scan, "conditional", audience, inner)
    elif name == "font-face":
        scan.add("css-at-font-face", where, place, audience)
    elif name == "keyframes":
        scan.add("css-at-keyframes", where, place, audience)
    # @page, @layer, @container and the like: not in the data, contents not linted


# --------------------------------------------------------------------------- selectors

_SELECTOR_TOKEN = re.compile(
    r"""
      (?P<ws>\s+)
    | (?P<comb>[>+~])
    | (?P<attr>\[[^\]]*\]?)
    | (?P<pseudo>::?[a-zA-Z-]+(?:\([^)]*\)?)?)
    | (?P<cls>\.-?[_a-zA-Z][\w-]*)
    | (?P<id>\#-?[_a-zA-Z][\w-]*)
    | (?P<univ>\*)
    | (?P<type>[a-zA-Z][\w-]*)
    | (?P<other>.)
    """,
    re.X | re.S,
)


def _scan_selectors(prelude: str, where: str, scan: Scan, place: Place, audience: Audience) -> None:
    prelude = re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'', '""', prelude)
    found: dict[str, None] = {}
    selectors = [part.strip() for part in _split_top_level(prelude, ",") if part.strip()]
    if len(selectors) > 1:
        found["css-selector-grouping"] = None
    for selector in selectors:
        pending_space = False
        compound_ids_classes = 0
        started = False
        for match in _SELECTOR_TOKEN.finditer(selector):
            kind, text = match.lastgroup, match.group()
            if kind == "ws":
                pending_space = started
                continue
            if kind == "comb":
                found[COMBINATORS[text]] = None
                pending_space = False
                compound_ids_classes = 0
                continue
            if pending_space:
                found["css-selector-descendant"] = None
                compound_ids_classes = 0
            pending_space = False
            started = True
            if kind == "cls":
                found["css-selector-class"] = None
                compound_ids_classes += 1
            elif kind == "id":
                found["css-selector-id"] = None
                compound_ids_classes += 1
            elif kind == "attr":
                found["css-selector-attribute"] = None
            elif kind == "univ":
                found["css-selector-universal"] = None
            elif kind == "type":
                found["css-selector-type"] = None
            elif kind == "pseudo":
                name = text.lstrip(":").split("(", 1)[0].lower()
                if text.startswith("::") or name in PSEUDO_ELEMENTS:
                    if name in PSEUDO_ELEMENTS:
                        found[f"css-pseudo-element-{name}"] = None
                elif name in PSEUDO_CLASSES:
                    found[f"css-pseudo-class-{name}"] = None
            if compound_ids_classes >= 2:
                found["css-selector-chaining"] = None
    for slug in found:
        scan.add(slug, where, place, audience)


def _split_top_level(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    depth, start = 0, 0
    for index, char in enumerate(text):
        if char in "([":
            depth += 1
        elif char in ")]":
            depth = max(0, depth - 1)
        elif char == separator and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts
