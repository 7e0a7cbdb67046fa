"""An email-client compatibility linter over caniemail's support data.

Side: ``detect_features`` and ``lint`` are pure (a string in, values out); ``load_support``
is the one I/O edge, reading caniemail's ``features.json`` from the shared corpora at run
time (the data is licensed separately and never copied into the project).

Where each part lives: ``data`` holds the targets and the support data, and reads it (the
I/O edge); ``report`` judges each occurrence per target into a ``LintReport``; ``graceful``
holds the graceful-degradation rules; ``scan`` walks the HTML (elements, attributes,
conditional comments, images) into ``occurrences``; ``css`` tokenizes style sheets and reads
their rules, at-rules and selectors; ``declarations`` reads declarations and their values;
``slugs`` holds the static tables from names to caniemail slugs. Every module but ``data``
computes only. This package re-exports the public API.

What is detected. The final HTML is parsed with ``lxml.html``; every ``<style>`` block and
``style=""`` attribute goes through a small CSS tokenizer of our own. Detected features are
caniemail slugs: HTML elements and attributes (``html-*``), CSS properties with their
longhands folded onto the slug caniemail tests (``margin-top`` -> ``css-margin``), display
values (``css-display-flex``, ``-grid``, ``-none``), units, colour and maths functions,
gradients, ``!important``, custom properties, at-rules and media features, selectors,
pseudo-classes and pseudo-elements, comments, and images by type (URL extension or
``data:`` URL). Each occurrence remembers where it was found, which decides who reads it:

- ``<!--[if mso]> … <![endif]-->`` content is read by Outlook for Windows only, so it is
  linted against outlook/windows only; ``<!--[if !mso]><!--> … <!--<![endif]-->`` content
  is read by everyone else, so it is linted against every target but outlook/windows.
  ``style`` attributes on VML and Office elements (``v:rect``, ``o:…``) are VML, not CSS.
- Properties and selectors in top-level ``<style>`` rules are linted only against clients
  that read ``<style>`` at all (caniemail's ``html-style`` is not "n" for them).
- Whatever sits inside ``@media`` or ``@supports`` blocks (or a ``<style media="…">``
  element) is recorded but not linted: it only applies where the block applies, and the
  block itself is linted as its at-rule.

Levels. For each (client, platform) target the latest tested version's value counts (the
last one listed in ``stats``; caniemail's own ``support_latest.csv`` agrees). "y" passes,
"u" and missing data are ignored, "a" (partial) is a warning carrying the data's numbered
notes, and "n" is an error, unless the feature *degrades gracefully* there: then it is a
warning whose first note says why.

Graceful degradation: an unsupported feature is only a warning when the client's failure
mode is "the feature is ignored and something the author already provided applies", so the
reader still gets the content and a working layout. That holds for:

1. Conditional blocks: ``@media`` and its media features, ``@supports``. A client that lacks
   them skips the block and the unconditional styles apply; that is how MJML builds its
   responsive layout, pairing media queries with MSO ghost tables for Outlook.
2. Dark mode: ``@media (prefers-color-scheme)``, ``color-scheme`` (property and meta tag),
   ``light-dark()``. A client without them shows the light design.
3. Style sheets over inline styles: ``<style>``, ``<link>``, ``@import``, ``@font-face``,
   selectors, pseudo-classes and pseudo-elements. A client that drops them leaves the inline
   ``style`` attributes in force, and email HTML keeps every style the layout needs inline
   (MJML's compiler does this for all its components); a missing web font falls back to the
   next family of the ``font-family`` list.
4. Decoration: properties that only paint (rounded corners, shadows, outlines, cursor,
   transitions and animations, underline details, accent colour, user-select). Without them
   the element shows undecorated; caniemail's own note for Outlook's ``border-radius`` points
   at VML as the only alternative.
5. Line-breaking refinements: ``word-break``, ``overflow-wrap``/``word-wrap``, ``hyphens``,
   ``text-wrap``, ``font-kerning``. Text still wraps at spaces with default typography.
6. Accessibility attributes (``role``, ``aria-*``): a client that strips them renders the
   same email, and nothing better than sending them exists.
7. Notes that say the failure is harmless: the HTML5 doctype ("has no impact here": the
   client renders in its own mode) and ``target`` ("``target="_blank"`` is forced on all
   links", i.e. links open in a new window anyway).
8. Per occurrence: a declaration that restates the property's default value where that
   default is what every element shows without the property (``word-spacing:normal``,
   ``outline:none``, ``height:auto``…); a hiding means (``display:none``, ``opacity:0``,
   ``max-height:0``, ``overflow:hidden``, ``visibility:hidden``, ``mso-hide:all``) in a
   block that hides by another means this client supports, the belt-and-braces idiom of
   preheaders; and, for Outlook for Windows, background images in a document that also
   draws VML backgrounds in MSO comments (the data's note: "Background images can be used
   in VML").

Everything else unsupported in a target is an error.
"""

from digest.render.lint.data import (
    FEATURES_FILE,
    OUTLOOK_WINDOWS,
    TARGETS,
    FeatureSupport,
    Support,
    default_support_folder,
    load_support,
)
from digest.render.lint.report import Finding, Level, LintReport, detect_features, lint

__all__ = [
    "FEATURES_FILE",
    "OUTLOOK_WINDOWS",
    "TARGETS",
    "FeatureSupport",
    "Finding",
    "Level",
    "LintReport",
    "Support",
    "default_support_folder",
    "detect_features",
    "lint",
    "load_support",
]
