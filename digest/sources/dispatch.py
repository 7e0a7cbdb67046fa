"""Choosing the parser for a document. Computes only."""

from __future__ import annotations

from collections.abc import Callable

from digest.errors import UnknownFormatError
from digest.sources.base import Parsed, ParseOptions, RawDocument
from digest.sources.detect import Format, detect_format
from digest.sources.export import parse_export
from digest.sources.feeds import parse_feed
from digest.sources.jsonfeed import parse_json_feed
from digest.sources.pages import parse_page

Parser = Callable[[RawDocument, ParseOptions], Parsed]
PARSERS: dict[Format, Parser] = {
    Format.FEED: parse_feed,
    Format.JSON_FEED: parse_json_feed,
    Format.PAGE: parse_page,
    Format.EXPORT: parse_export,
}


def parse_document(doc: RawDocument, options: ParseOptions) -> Parsed:
    """Detect the document's format and parse it; an unknown format is a source error."""
    found = detect_format(doc)
    if found is None:
        raise UnknownFormatError(
            doc.origin,
            "not a feed (RSS, Atom, JSON Feed), an article page (HTML) or a page export "
            "(plain text); give it a .xml, .json, .html or .txt name if the content is one",
        )
    return PARSERS[found](doc, options)
