"""Walking the final HTML: elements, attributes, conditional comments, images. Computes only.

The HTML is parsed with ``lxml.html``; ``<style>`` blocks and ``style=""`` attributes are
handed to ``css`` and ``declarations``. ``<!--[if mso]> … <![endif]-->`` content is
scanned for Outlook for Windows only, ``<!--[if !mso]><!--> … <!--<![endif]-->`` content
for everyone else; ``style`` attributes on VML and Office elements are VML, not CSS.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import lxml.etree
import lxml.html

from digest.render.lint.css import CssText, parse_css, scan_sheet
from digest.render.lint.declarations import scan_declarations
from digest.render.lint.occurrences import Audience, Fallback, Place, Scan, excerpt
from digest.render.lint.slugs import ATTRIBUTE_SLUGS, ELEMENT_SLUGS, INPUT_TYPES, image_features

_HTML5_DOCTYPE = re.compile(
    r"\A\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<!doctype\s+html\s*>", re.I | re.S
)
_BODY_TAG = re.compile(r"<body[\s>/]", re.I)
_CONDITIONAL = re.compile(r"\A\s*\[if\s+([^\]]+)\]>(.*)<!\[endif\]\s*\Z", re.S)
_REVEALED_START = re.compile(r"\A\s*\[if\s+([^\]]+)\]>\s*<!(?:--)?\s*\Z")
_REVEALED_END = re.compile(r"\A\s*<!\[endif\]\s*\Z")


def scan_html(html: str) -> Scan:
    scan = Scan()
    root = _parse_html(html)
    if root is None:
        return scan
    if _HTML5_DOCTYPE.match(html):
        scan.add("html-doctype", "<!doctype html>", "html", "all")
    if _BODY_TAG.search(html):
        scan.add("html-body", "<body>", "html", "all")
    _scan_tree(root, scan, "all")
    return scan


def _parse_html(html: str) -> Any:
    if not html.strip():
        return None
    try:
        return lxml.html.document_fromstring(html)
    except ValueError:  # a str with an XML encoding declaration
        return lxml.html.document_fromstring(html.encode("utf-8"))
    except lxml.etree.LxmlError:  # "Document is empty" and the like
        return None


def _document_order(root: Any) -> Iterator[Any]:
    """Every node in document order, with the comments lxml keeps beside the root element."""
    yield from reversed(list(root.itersiblings(preceding=True)))
    yield from root.iter()
    yield from root.itersiblings()


def _scan_tree(root: Any, scan: Scan, audience: Audience) -> None:
    revealed: Audience | None = None  # inside <!--[if !mso]><!--> … <!--<![endif]-->
    for node in _document_order(root):
        if node.tag is lxml.etree.Comment:
            revealed = _scan_comment(node.text or "", scan, audience, revealed)
            continue
        if not isinstance(node.tag, str):
            continue
        _scan_element(node, scan, revealed or audience)


def _scan_comment(
    text: str, scan: Scan, audience: Audience, revealed: Audience | None
) -> Audience | None:
    scan.add("html-comments", f"<!--{text}-->", "html", audience)
    start = _REVEALED_START.match(text)
    if start:
        negated = re.search(r"!\s*mso", start.group(1), re.I)
        return "not-mso" if negated else revealed
    if _REVEALED_END.match(text):
        return None
    conditional = _CONDITIONAL.match(text)
    if conditional and audience != "mso":
        condition, content = conditional.groups()
        if re.search(r"mso", condition, re.I) and not re.search(r"!\s*mso", condition, re.I):
            fragment = _parse_html(f"<html><body>{content}</body></html>")
            if fragment is not None:
                _scan_tree(fragment, scan, "mso")
        # other conditions (IE only, hidden !mso) are read by none of the targets
    return revealed


def _scan_element(node: Any, scan: Scan, audience: Audience) -> None:
    tag = str(node.tag).lower()
    attrs = {str(k).lower(): str(v) for k, v in node.attrib.items()}
    if ":" in tag:  # VML and Office elements: their style attribute is VML, not CSS
        if tag in ("v:fill", "v:image", "v:background") or (
            tag.startswith("v:") and "src" in attrs
        ):
            scan.has_vml_background = True
        return

    def here(attr: str | None = None) -> str:
        shown = f' {attr}="{excerpt(attrs[attr], 50)}"' if attr and attr in attrs else ""
        prefix = {"all": "", "mso": "[if mso] ", "not-mso": "[if !mso] "}[audience]
        return f"{prefix}<{tag}{shown}>"

    if tag in ELEMENT_SLUGS:
        scan.add(ELEMENT_SLUGS[tag], here(), "html", audience)
    if tag == "html" and any(a in attrs for a in ("amp4email", "⚡4email")):
        scan.add("amp", here(), "html", audience)
    for attr, slug in ATTRIBUTE_SLUGS.items():
        if attr in attrs and not (attr == "hidden" and tag == "input"):
            if attr == "target" and tag not in ("a", "area", "form", "base"):
                continue
            scan.add(slug, here(attr), "html", audience)
    if tag == "input":
        kind = attrs.get("type", "text").strip().lower()
        if kind in INPUT_TYPES:
            scan.add(f"html-input-{kind}", here("type"), "html", audience)
        elif kind == "image" and "src" in attrs:
            _scan_image_url(attrs["src"], here("src"), scan, "html", audience)
    elif tag == "button":
        kind = attrs.get("type", "submit").strip().lower()
        if kind in ("submit", "reset"):
            scan.add(f"html-button-{kind}", here("type"), "html", audience)
    elif tag == "a":
        href = attrs.get("href", "").strip()
        if href.lower().startswith("mailto:"):
            scan.add("html-mailto-links", here("href"), "html", audience)
        elif href.startswith("#") and len(href) > 1:
            scan.add("html-anchor-links", here("href"), "html", audience)
    elif tag == "meta":
        name = attrs.get("name", "").strip().lower()
        if name in ("color-scheme", "supported-color-schemes"):
            scan.add("html-meta-color-scheme", here("name"), "html", audience)
    elif tag == "style":
        media = attrs.get("media", "").strip().lower()
        place: Place = "conditional" if media and media != "all" else "sheet"
        scan_sheet(node.text or "", scan, place, audience)
    if tag in ("img", "source"):
        if tag == "img" and "src" in attrs:
            _scan_image_url(attrs["src"], here("src"), scan, "html", audience)
        for candidate in attrs.get("srcset", "").split(","):
            if candidate.strip():
                url = candidate.split()[0]
                _scan_image_url(url, here("srcset"), scan, "html", audience)
    if "background" in attrs:
        _scan_image_url(attrs["background"], here("background"), scan, "html", audience)
    if "style" in attrs:
        items, comments = parse_css(attrs["style"])
        where = f"{here()[:-1]} style=…>"
        if comments:
            scan.add("css-comments", f"{where} /* … */", "inline", audience)
        declarations = [item.text for item in items if isinstance(item, CssText)]
        fallbacks = _attribute_fallbacks(tag, attrs)
        scan_declarations(declarations, where, scan, "inline", audience, fallbacks)


_PRESENTATIONAL: tuple[tuple[str, str, str, str], ...] = (
    # CSS feature, attribute, its feature, the values that count as a real fallback
    ("css-border-spacing", "cellspacing", "html-cellspacing", r"\d"),
    ("css-width", "width", "html-width", r"\d"),
    ("css-height", "height", "html-height", r"\d"),
    ("css-text-align", "align", "html-align", r"left|center|right|justify"),
    ("css-vertical-align", "valign", "html-valign", r"top|middle|bottom|baseline"),
    ("css-background-image", "background", "html-background", r"\S"),
    ("css-background", "background", "html-background", r"\S"),
)


def _attribute_fallbacks(tag: str, attrs: Mapping[str, str]) -> dict[str, Fallback]:
    """CSS features the element also states with a presentational attribute (cellspacing…)."""
    found: dict[str, Fallback] = {}
    for feature, attribute, attribute_feature, valid in _PRESENTATIONAL:
        value = attrs.get(attribute, "").strip()
        if value and re.match(valid, value, re.I):
            found[feature] = (
                attribute_feature,
                f'{attribute}="{value}" on the same <{tag}> states it too',
            )
    return found


def _scan_image_url(url: str, where: str, scan: Scan, place: Place, audience: Audience) -> None:
    for slug in image_features(url):
        scan.add(slug, where, place, audience)
