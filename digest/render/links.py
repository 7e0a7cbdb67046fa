"""Links in an email: each subscriber's own links, and the publication's links tagged.

Computes only. Personal links (unsubscribe, preferences, view in browser) must be signed so
that nobody can unsubscribe someone else; signing belongs to the subscribers package.
Rendering depends only on the ``LinkBuilder`` interface below; ``UnsignedLinks`` is the
stand-in that signs nothing, for previews and tests until the real builder is handed in.

Article and related links get the newsletter's UTM parameters when it asks for them, and
only http(s) links are ever written: anything else is dropped, whatever the store holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from digest.render.personal import PersonalLinks, Recipient


class LinkBuilder(Protocol):
    """Builds one subscriber's personal links for an edition."""

    def personal_links(
        self, recipient: Recipient, newsletter: str, edition_id: str
    ) -> PersonalLinks:
        """The subscriber's unsubscribe, preferences and web-view links."""
        ...


class UnsignedLinks:
    """Personal links that sign nothing: for previews and tests, never for sending."""

    def __init__(self, public_url: str, mail_domain: str | None = None) -> None:
        self.public_url = public_url.rstrip("/")
        self.mail_domain = mail_domain

    def personal_links(
        self, recipient: Recipient, newsletter: str, edition_id: str
    ) -> PersonalLinks:
        who = quote(recipient.id, safe="")
        mailto = None
        if self.mail_domain:
            subject = quote(f"unsubscribe {newsletter} {recipient.id}")
            mailto = f"mailto:unsubscribe@{self.mail_domain}?subject={subject}"
        return PersonalLinks(
            unsubscribe_url=f"{self.public_url}/unsubscribe/{newsletter}/{who}",
            preferences_url=f"{self.public_url}/preferences/{newsletter}/{who}",
            view_url=f"{self.public_url}/editions/{edition_id}?s={who}",
            unsubscribe_mailto=mailto,
        )


def safe_link(url: str | None) -> str | None:
    """The URL when it is absolute http(s); None for anything a mail client could run."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url.strip()


def tag_url(url: str, utm: Mapping[str, str] | None) -> str:
    """``url`` with the newsletter's UTM parameters, keeping any it already carries."""
    if not utm:
        return url
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    present = {key for key, _ in query}
    query += [(f"utm_{key}", value) for key, value in utm.items() if f"utm_{key}" not in present]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))
