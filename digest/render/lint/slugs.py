"""The static tables that map HTML, CSS and image names to caniemail slugs. Computes only.

CSS longhands are folded onto the slug caniemail tests (``margin-top`` -> ``css-margin``).
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

# --------------------------------------------------------------------------- HTML

_SEMANTIC = (
    "article aside details figcaption figure footer header main mark nav section summary time"
)
ELEMENT_SLUGS: dict[str, str] = {
    **{f"h{n}": "html-h1-h6" for n in range(1, 7)},
    **dict.fromkeys(("ul", "ol", "dl"), "html-lists"),
    **dict.fromkeys(("object", "embed"), "html-object"),
    **dict.fromkeys(("map", "area"), "html-image-maps"),
    **dict.fromkeys(_SEMANTIC.split(), "html-semantics"),
    **{
        tag: f"html-{tag}"
        for tag in (
            "abbr acronym address audio base bdi blockquote code del dfn dialog div form hr img "
            "link marquee meter p picture pre progress rp rt ruby select small span strike strong "
            "style svg table textarea video wbr"
        ).split()
    },
}
ATTRIBUTE_SLUGS: dict[str, str] = {
    "lang": "html-lang",
    "dir": "html-dir",
    "role": "html-role",
    "aria-label": "html-aria-label",
    "aria-hidden": "html-aria-hidden",
    "aria-describedby": "html-aria-describedby",
    "aria-labelledby": "html-aria-labelledby",
    "aria-live": "html-aria-live",
    "background": "html-background",
    "width": "html-width",
    "height": "html-height",
    "align": "html-align",
    "valign": "html-valign",
    "cellpadding": "html-cellpadding",
    "cellspacing": "html-cellspacing",
    "target": "html-target",
    "srcset": "html-srcset",
    "sizes": "html-srcset",
    "loading": "html-loading-attribute",
    "hidden": "html-hidden",
    "popover": "html-popover",
    "inert": "css-inert-attribute",
    "required": "html-required",
    "usemap": "html-image-maps",
}
INPUT_TYPES = frozenset({"checkbox", "hidden", "radio", "reset", "submit", "text"})
IMAGE_EXTENSIONS: dict[str, str] = {
    "png": "image-png",
    "apng": "image-apng",
    "jpg": "image-jpg",
    "jpeg": "image-jpg",
    "jfif": "image-jpg",
    "pjpeg": "image-jpg",
    "gif": "image-gif",
    "svg": "image-svg",
    "svg+xml": "image-svg",
    "webp": "image-webp",
    "avif": "image-avif",
    "bmp": "image-bmp",
    "ico": "image-ico",
    "x-icon": "image-ico",
    "vnd.microsoft.icon": "image-ico",
    "tif": "image-tiff",
    "tiff": "image-tiff",
    "heic": "image-heif",
    "heif": "image-heif",
    "hdr": "image-hdr",
    "mp4": "image-mp4",
}


def image_features(url: str) -> list[str]:
    """Image format features of a URL: by its extension, or a ``data:`` URL's type."""
    url = url.strip().strip("\"'")
    if url.lower().startswith("data:"):
        header = url[5:].split(",", 1)[0].lower()
        mime = header.split(";", 1)[0]
        found = ["image-base64"] if ";base64" in header else []
        if mime.startswith("image/") and mime[6:] in IMAGE_EXTENSIONS:
            found.append(IMAGE_EXTENSIONS[mime[6:]])
        return found
    name = unquote(urlsplit(url).path).rsplit("/", 1)[-1]
    extension = name.rsplit(".", 1)[1].lower() if "." in name else ""
    return [IMAGE_EXTENSIONS[extension]] if extension in IMAGE_EXTENSIONS else []


# --------------------------------------------------------------------------- CSS

MEDIA_FEATURES: tuple[tuple[str, str], ...] = (
    (r"prefers-color-scheme", "css-at-media-prefers-color-scheme"),
    (r"prefers-reduced-motion", "css-at-media-prefers-reduced-motion"),
    (r"orientation", "css-at-media-orientation"),
    (r"(?<![\w-])(?:any-)?hover", "css-at-media-hover"),
    (r"device-pixel-ratio|min-resolution|max-resolution", "css-at-media-device-pixel-ratio"),
)
PSEUDO_ELEMENTS = frozenset(
    {"before", "after", "first-letter", "first-line", "marker", "placeholder"}
)
PSEUDO_CLASSES = frozenset(
    (
        "active checked default first-child first-of-type focus focus-visible focus-within has "
        "hover lang last-child last-of-type link not nth-child nth-last-child nth-last-of-type "
        "nth-of-type only-child only-of-type target visited"
    ).split()
)
COMBINATORS = {
    ">": "css-selector-child",
    "+": "css-selector-adjacent-sibling",
    "~": "css-selector-general-sibling",
}


def _slugs(prefix: str, names: str) -> dict[str, str]:
    return dict.fromkeys(names.split(), prefix)


_SINGLE_PROPERTIES = (
    "accent-color align-items animation aspect-ratio backdrop-filter background "
    "background-blend-mode background-clip background-color background-image background-origin "
    "background-position background-repeat background-size border border-collapse border-image "
    "border-radius border-spacing box-shadow box-sizing caption-side clear clip-path "
    "color-scheme column-count cursor direction display empty-cells filter flex-direction "
    "flex-wrap float font font-kerning font-size font-size-adjust font-stretch font-weight gap "
    "height hyphenate-character hyphenate-limit-chars hyphens inline-size inset "
    "justify-content letter-spacing line-height list-style list-style-image "
    "list-style-position list-style-type margin mask-image max-block-size max-height "
    "max-inline-size max-width min-block-size min-height min-inline-size min-width "
    "mix-blend-mode object-fit object-position opacity orphans outline outline-offset overflow "
    "overflow-wrap padding position resize shape-margin shape-outside tab-size table-layout "
    "text-align text-align-last text-decoration text-decoration-color text-decoration-line "
    "text-decoration-skip-ink text-decoration-style text-decoration-thickness text-emphasis "
    "text-emphasis-position text-indent text-justify text-orientation text-overflow text-shadow "
    "text-transform text-underline-offset text-underline-position text-wrap transform "
    "transition user-select vertical-align visibility white-space white-space-collapse widows "
    "width word-break word-spacing word-wrap writing-mode z-index"
)
_SIDES = ("top", "right", "bottom", "left")
PROPERTY_SLUGS: dict[str, str] = {
    **{prop: f"css-{prop}" for prop in _SINGLE_PROPERTIES.split()},
    **{f"margin-{side}": "css-margin" for side in _SIDES},
    **{f"padding-{side}": "css-padding" for side in _SIDES},
    **_slugs("css-margin-inline-block", "margin-inline margin-block"),
    **_slugs("css-padding-inline-block", "padding-inline padding-block"),
    **_slugs("css-margin-block-start-end", "margin-block-start margin-block-end"),
    **_slugs("css-margin-inline-start-end", "margin-inline-start margin-inline-end"),
    **_slugs("css-padding-block-start-end", "padding-block-start padding-block-end"),
    **_slugs("css-padding-inline-start-end", "padding-inline-start padding-inline-end"),
    **_slugs("css-border", "border-width border-style border-color"),
    **{f"border-{side}": "css-border" for side in _SIDES},
    **{
        f"border-{side}-{part}": "css-border"
        for side in _SIDES
        for part in ("width", "style", "color")
    },
    **{
        f"border-{corner}-radius": "css-border-radius"
        for corner in ("top-left", "top-right", "bottom-left", "bottom-right")
    },
    **{
        f"border-{corner}-radius": "css-border-radius-logical"
        for corner in ("start-start", "start-end", "end-start", "end-end")
    },
    **_slugs("css-border-inline-block", "border-inline border-block"),
    **{
        f"border-{axis}-{part}": "css-border-inline-block-individual"
        for axis in ("inline", "block")
        for part in ("color", "style", "width", "start", "end")
    },
    **{
        f"border-{axis}-{end}-{part}": "css-border-inline-block-longhand"
        for axis in ("inline", "block")
        for end in ("start", "end")
        for part in ("color", "style", "width")
    },
    **{
        f"border-image-{part}": "css-border-image"
        for part in ("source", "slice", "width", "outset", "repeat")
    },
    "block-size": "css-block-inline-size",
    **_slugs(
        "css-column-layout-properties",
        "columns column-fill column-rule column-rule-color column-rule-style column-rule-width "
        "column-span column-width",
    ),
    **_slugs("css-gap", "column-gap row-gap grid-gap grid-column-gap grid-row-gap"),
    **_slugs(
        "css-grid-template",
        "grid-template grid-template-areas grid-template-columns grid-template-rows",
    ),
    **_slugs("css-left-right-top-bottom", "top right bottom left"),
    **_slugs(
        "css-inset",
        "inset-block inset-inline inset-block-start inset-block-end inset-inline-start "
        "inset-inline-end",
    ),
    **{
        f"animation-{part}": "css-animation"
        for part in (
            "name duration timing-function delay iteration-count direction fill-mode play-state"
        ).split()
    },
    **{
        f"transition-{part}": "css-transition"
        for part in ("property", "duration", "timing-function", "delay", "behavior")
    },
    **_slugs("css-overflow", "overflow-x overflow-y overflow-block overflow-inline"),
    **_slugs("css-scroll-snap", "scroll-snap-type scroll-snap-align scroll-snap-stop"),
    **_slugs("css-text-emphasis", "text-emphasis-style text-emphasis-color"),
}
UNIT_SLUGS = {"%": "css-unit-percent"}
FUNCTION_SLUGS: dict[str, str] = {
    "rgb": "css-rgb",
    "rgba": "css-rgba",
    "lab": "css-modern-color",
    "lch": "css-modern-color",
    "oklab": "css-modern-color",
    "oklch": "css-modern-color",
    "linear-gradient": "css-linear-gradient",
    "repeating-linear-gradient": "css-linear-gradient",
    "radial-gradient": "css-radial-gradient",
    "repeating-radial-gradient": "css-radial-gradient",
    "conic-gradient": "css-conic-gradient",
    "repeating-conic-gradient": "css-conic-gradient",
    "calc": "css-unit-calc",
    "min": "css-function-min",
    "max": "css-function-max",
    "clamp": "css-function-clamp",
    "var": "css-variables",
    "light-dark": "css-function-light-dark",
}
KEYWORD_SLUGS: dict[str, str] = {
    "initial": "css-unit-initial",
    "fit-content": "css-intrinsic-size",
    "min-content": "css-intrinsic-size",
    "max-content": "css-intrinsic-size",
}
SYSTEM_FONTS = frozenset({"system-ui", "ui-serif", "ui-sans-serif", "ui-rounded", "ui-monospace"})
