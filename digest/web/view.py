"""``GET /view/{token}``: an edition in the browser, as that subscriber got it. I/O.

Rendered on request from the edition's frozen snapshot with the subscriber's current
sections and their own signed links, the same way delivery renders it (one variant
compiled, personal fields filled in). The email's HTML is sent as it is, under a Content
Security Policy that allows no scripts.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from digest.render.personal import Recipient, personal_values
from digest.web.site import PageError, SiteDep
from subscribers.tokens import Purpose

router = APIRouter()

EMAIL_POLICY = (
    "default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline'; "
    "font-src https: data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)
"""An email's HTML carries inline styles and remote images, and must never run a script."""


@router.get("/view/{token}", response_class=HTMLResponse)
def view(token: str, site: SiteDep) -> HTMLResponse:
    claims = site.claims(token, Purpose.VIEW)
    edition = site.parts.editions.get_by_id(claims.edition_id) if claims.edition_id else None
    subscriber = site.store.get(claims.subscriber_id)
    if edition is None or edition.newsletter != claims.newsletter or edition.empty:
        raise _gone("This edition is not available", "It may have been withdrawn.")
    if subscriber is None:
        raise _gone("This copy is not available", "The subscription it was made for is gone.")
    subscription = site.store.subscription(subscriber.id, claims.newsletter)
    recipient = Recipient(
        id=str(subscriber.id),
        email=subscriber.email,
        name=subscriber.name,
        sections=subscription.sections if subscription else None,
    )
    renderer = site.parts.renderer(site.pages.templates, edition.snapshot)
    variant = renderer.variant(recipient.sections) or renderer.variant(None)
    if variant is None:
        raise _gone("This edition is not available", "It has no articles.")
    links = site.links.get(edition.newsletter) or site.parts.links(edition.snapshot)
    values = personal_values(
        recipient, links.personal_links(recipient, edition.newsletter, edition.id)
    )
    return HTMLResponse(
        variant.html.fill(values), headers={"Content-Security-Policy": EMAIL_POLICY}
    )


def _gone(title: str, message: str) -> PageError:
    return PageError(404, title, message)
