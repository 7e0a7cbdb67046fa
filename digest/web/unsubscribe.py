"""``/unsubscribe/{token}``: leaving, in one click, and never by accident. I/O.

GET only shows a button: mail scanners and link previewers follow GET links, and must not
unsubscribe anyone. POST is RFC 8058 one-click: what mail clients send when a reader
presses their own "unsubscribe" (``List-Unsubscribe=One-Click``, url-encoded or
multipart), with no cookie, no CSRF token and no login, since the signed token is the
authority. It answers 200 with a page, never a redirect (a client need not follow one),
and posting twice is harmless. The same endpoint takes the page's own buttons, whose
``scope=all`` leaves everything instead of this newsletter. The store records it at once,
so the subscriber is out of the next edition's audience before it is planned.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from starlette.datastructures import FormData

from digest.web.pages import root_of
from digest.web.site import Site, SiteDep, read_form, subscribe_path
from subscribers.model import Source, SubscriptionStatus
from subscribers.tokens import Purpose

router = APIRouter()


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
def ask(request: Request, token: str, site: SiteDep) -> HTMLResponse:
    claims = site.claims(token, Purpose.UNSUBSCRIBE)
    title = _title(site, claims.newsletter)
    subscription = site.store.subscription(claims.subscriber_id, claims.newsletter)
    links = site.links.get(claims.newsletter)
    return site.pages.render(
        request,
        "unsubscribe.html",
        f"Unsubscribe from {title}?",
        {
            "newsletter_title": title,
            "still_subscribed": subscription is not None
            and subscription.status is not SubscriptionStatus.UNSUBSCRIBED,
            "preferences_url": links.preferences_url(claims.subscriber_id, claims.newsletter)
            if links
            else None,
        },
    )


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
async def unsubscribe(request: Request, token: str, site: SiteDep) -> HTMLResponse:
    form = await read_form(request)
    return await run_in_threadpool(_leave, request, token, site, form)


def _leave(request: Request, token: str, site: Site, form: FormData) -> HTMLResponse:
    claims = site.claims(token, Purpose.UNSUBSCRIBE)
    everything = form.get("scope") == "all"
    site.store.unsubscribe(
        claims.subscriber_id, None if everything else claims.newsletter, Source.LINK
    )
    title = _title(site, claims.newsletter)
    heading = (
        f"You're unsubscribed from {site.config.publication.name}"
        if everything
        else f"You're unsubscribed from {title}"
    )
    return site.pages.render(
        request,
        "unsubscribed.html",
        heading,
        {
            "newsletter_title": title,
            "everything": everything,
            "subscribe_url": root_of(request) + subscribe_path(claims.newsletter),
        },
    )


def _title(site: Site, newsletter: str) -> str:
    """The newsletter's title; its name when it is no longer in the newsletters file."""
    declared = site.newsletter(newsletter)
    return declared.title if declared else newsletter
