"""``GET /confirm/{token}``: the second half of the double opt-in. I/O.

A GET that changes state, unlike unsubscribing: a mail scanner following the link confirms
the address, and that is accepted practice, since the link only reached someone who can
read that mailbox. Confirming twice shows the same page.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from digest.web.site import PageError, SiteDep, subscribe_path
from subscribers.model import Source
from subscribers.tokens import Purpose

router = APIRouter()


@router.get("/confirm/{token}", response_class=HTMLResponse)
def confirm(request: Request, token: str, site: SiteDep) -> HTMLResponse:
    claims = site.claims(token, Purpose.CONFIRM)
    newsletter = site.subscribed_newsletter(claims)
    if site.store.confirm(claims.subscriber_id, newsletter.name, Source.LINK) is None:
        raise PageError(
            410,
            "This subscription cannot be confirmed",
            f"It was cancelled after this link was sent. To receive {newsletter.title}, "
            "sign up again.",
            (subscribe_path(newsletter.name), "Sign up again"),
        )
    links = site.links[newsletter.name]
    return site.pages.render(
        request,
        "confirmed.html",
        f"You're subscribed to {newsletter.title}",
        {
            "newsletter_title": newsletter.title,
            "preferences_url": links.preferences_url(claims.subscriber_id, newsletter.name),
        },
    )
