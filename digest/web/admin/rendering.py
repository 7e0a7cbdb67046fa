"""An edition as a subscriber gets it, for editors' eyes: the copy, its size and lint. I/O.

The copy is made exactly as delivery makes it (the edition's variant for the reader's
sections, the personal fields filled in), with one difference: personal links come from
``UnsignedLinks`` for reader id 0, who is nobody, so that clicking "unsubscribe" in a
preview can never unsubscribe the subscriber being viewed as. Their name and sections
apply; their tokens never leave the send path.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Request

from digest.errors import NotFoundError
from digest.render.copies import Copy, CopyMaker, sender_domain
from digest.render.links import UnsignedLinks
from digest.render.lint import Support, lint
from digest.render.personal import Recipient
from digest.render.variants import GMAIL_CLIP_BYTES
from digest.store.editions import Edition
from digest.web.site import Site

NOBODY = "0"
SAMPLE = Recipient(id=NOBODY, email="reader@example.org", name="Sample Reader")
VIEW_AS_LIMIT = 200
"""Subscribers offered in "view as" (the first by id); any other can be named by id."""


@dataclass(frozen=True)
class Viewer:
    """Whom a preview is rendered for: a subscriber (by id) or the sample reader."""

    recipient: Recipient
    subscriber_id: int | None


@dataclass(frozen=True)
class Rendered:
    edition: Edition
    viewer: Viewer
    copy: Copy | None  # None when none of the viewer's sections is in the edition

    @property
    def html_bytes(self) -> int:
        return len(self.copy.html.encode()) if self.copy else 0

    @property
    def clip_share(self) -> int:
        """The HTML's size as a percentage of Gmail's clip line."""
        return round(100 * self.html_bytes / GMAIL_CLIP_BYTES)


def slot_edition(site: Site, newsletter: str, slot: datetime) -> Edition:
    """The slot's edition: stored if planned, else a draft with the editors' pins and drops."""
    declared = site.config.get_or_none(newsletter)
    if declared is None:
        raise NotFoundError(f"no newsletter {newsletter!r}")
    return site.parts.planner(site.config).draft(declared.name, slot)


def viewer(site: Site, newsletter: str, subscriber_id: int | None) -> Viewer:
    """The subscriber's name and sections (links stay nobody's), or the sample reader."""
    if subscriber_id is None:
        return Viewer(SAMPLE, None)
    found = site.store.get(subscriber_id)
    subscription = site.store.subscription(subscriber_id, newsletter) if found else None
    if found is None or subscription is None:
        raise NotFoundError(f"no subscriber {subscriber_id} of {newsletter}")
    recipient = Recipient(
        id=NOBODY, email=found.email, name=found.name, sections=subscription.sections
    )
    return Viewer(recipient, subscriber_id)


def render(site: Site, edition: Edition, who: Viewer) -> Rendered:
    if edition.empty:
        return Rendered(edition, who, None)
    renderer = site.parts.renderer(site.pages.templates, edition.snapshot)
    domain = sender_domain(edition.snapshot["newsletter"]["sender_address"])
    links = UnsignedLinks(site.parts.settings.public_url, domain)
    return Rendered(edition, who, CopyMaker(renderer, links).make(who.recipient))


def lint_findings(request: Request, site: Site, html: str) -> dict[str, Any] | None:
    """The render linter's findings, or None without caniemail data on this machine.

    The support data is read once per app (it is hundreds of files), on first use.
    """
    state = request.app.state
    if not hasattr(state, "lint_support"):
        state.lint_support = site.parts.lint_support()
    support: Support | None = state.lint_support
    if support is None:
        return None
    return lint(html, support).as_json()


def audience_choices(site: Site, newsletter: str) -> list[dict[str, Any]]:
    """The first subscribers of the newsletter, for the "view as" list."""
    chosen: list[dict[str, Any]] = []
    for page in site.store.audience(newsletter, page_size=VIEW_AS_LIMIT):
        for member in page:
            sections = ", ".join(member.sections) if member.sections else "every section"
            chosen.append({"id": member.id, "email": member.email, "sections": sections})
        break
    return chosen
