"""What makes two articles the same article. Computes only.

An article is keyed by its canonical URL: the address with tracking parameters, fragment,
default port and letter case of scheme and host taken away, so the same page linked from a
feed and from a newsletter tracker is one article. A source without URLs (page exports, some
feeds) gets a stable address built from the publication's base URL and slugs of section and
title. The id is derived from the canonical URL, so it is the same in every store.

The content hash covers everything an editor or subscriber would see; a changed hash is what
makes a re-ingested article an update rather than a no-op.

``match_key`` folds a title or standfirst so that related references, which sites print
with small differences (quotes, dashes, case, spacing, a trailing ellipsis), can find their
target.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from difflib import SequenceMatcher
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from digest.model import Article

TRACKING_PARAMS = frozenset(
    {"fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "igshid", "ref_src", "_hsenc"}
)
DEFAULT_PORTS = {"http": 80, "https": 443}
FUZZY_MATCH_RATIO = 0.9


def canonical_url(url: str) -> str:
    """The canonical form of an absolute http(s) URL."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    netloc = host
    if parts.port and parts.port != DEFAULT_PORTS.get(scheme):
        netloc = f"{host}:{parts.port}"
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    query = [
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if not key.lower().startswith("utm_") and key.lower() not in TRACKING_PARAMS
    ]
    return urlunsplit((scheme, netloc, parts.path or "/", urlencode(query), ""))


def slugify(text: str, max_length: int = 80) -> str:
    """Lower-case ASCII words joined by hyphens; never empty."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(slug) > max_length:
        slug = slug[:max_length].rsplit("-", 1)[0]
    if slug:
        return slug
    return "u-" + hashlib.sha256(text.encode()).hexdigest()[:12]


def built_url(base_url: str, section: str, title: str) -> str:
    """The stable address of an article whose source gives none."""
    return f"{base_url.rstrip('/')}/{slugify(section)}/{slugify(title)}"


def article_id(url: str) -> str:
    """A short id derived from the canonical URL: the same article has it everywhere."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def content_hash(article: Article) -> str:
    """Hash of everything a reader sees of an article, to tell an update from a repeat."""
    payload = {
        "section": article.section,
        "title": article.title,
        "standfirst": article.standfirst,
        "author": article.author,
        "published_at": article.published_at.isoformat() if article.published_at else None,
        "read_minutes": article.read_minutes,
        "body": article.body,
        "image_url": article.image_url,
        "related": [
            [r.section, r.standfirst, r.title, r.date.isoformat() if r.date else None, r.url]
            for r in article.related
        ],
    }
    encoded = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()
    return hashlib.sha256(encoded).hexdigest()


_FOLD = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-"})


def match_key(text: str | None, max_length: int = 200) -> str | None:
    """A folded form of a title or standfirst for matching references to articles."""
    if not text:
        return None
    folded = unicodedata.normalize("NFKC", text).translate(_FOLD).casefold()
    folded = re.sub(r"(\.\.\.|…)\s*$", "", folded)
    words = re.findall(r"\w+", folded)
    key = " ".join(words)[:max_length]
    return key or None


def keys_match(ref_key: str, article_key: str) -> bool:
    """Whether two folded texts name the same article despite small differences.

    A long shared prefix counts (sites cut standfirsts short); otherwise the texts must be at
    least 90% alike, which tolerates a changed word or two but not a different sentence.
    """
    if ref_key == article_key:
        return True
    shorter, longer = sorted((ref_key, article_key), key=len)
    if len(shorter) >= 40 and longer.startswith(shorter):
        return True
    matcher = SequenceMatcher(None, ref_key, article_key, autojunk=False)
    return matcher.quick_ratio() >= FUZZY_MATCH_RATIO and matcher.ratio() >= FUZZY_MATCH_RATIO
