"""What every route shares: the site's parts, reading tokens, and page errors. I/O.

``Site`` is built once by ``create_app`` from the wiring's ``Parts`` and reaches routes as
a FastAPI dependency. Routes raise ``PageError`` for anything the visitor should see as a
friendly page with a 4xx status; the app turns it into that page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Depends, Request
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException

from digest.newsletter_model import Newsletter, NewsletterConfig
from digest.web.mailer import Mailer
from digest.web.pages import Pages
from digest.web.ratelimit import Limits, RateLimiter
from digest.wiring import Parts
from subscribers.links import SignedLinks
from subscribers.store import SubscriberStore
from subscribers.tokens import BadToken, Claims, Purpose, Tokens


class PageError(Exception):
    """A request the site cannot fulfil, shown as the error page with ``status``."""

    def __init__(
        self,
        status: int,
        title: str,
        message: str,
        action: tuple[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message
        self.action = action  # (path under the app's root, label)
        self.headers = dict(headers or {})


@dataclass(frozen=True)
class Site:
    parts: Parts
    config: NewsletterConfig
    pages: Pages
    tokens: Tokens
    links: dict[str, SignedLinks]  # by newsletter name: each signs with its sender's mailbox
    limiter: RateLimiter
    limits: Limits
    mailer: Mailer

    @property
    def store(self) -> SubscriberStore:
        return self.parts.subscribers

    def newsletter(self, name: str) -> Newsletter | None:
        return next((n for n in self.config.newsletters if n.name == name), None)

    def claims(self, token: str, purpose: Purpose) -> Claims:
        """The token's claims; a forged one is a 400 page, an expired one a 410."""
        try:
            return self.tokens.read(token, purpose)
        except BadToken as exc:
            if exc.expired:
                again = ("/subscribe", "Sign up again") if purpose is Purpose.CONFIRM else None
                raise PageError(410, "This link has expired", EXPIRED[purpose], again) from exc
            raise PageError(
                400,
                "This link is not valid",
                "The link may have been cut short or changed when it was copied. Open it "
                "again from the email, or copy the whole of it.",
            ) from exc

    def subscribed_newsletter(self, claims: Claims) -> Newsletter:
        """The newsletter a token names; a 404 page when it is no longer published."""
        newsletter = self.newsletter(claims.newsletter)
        if newsletter is None:
            raise PageError(
                404,
                "This newsletter is no longer published",
                "Nothing more will be sent for it, so there is nothing to change.",
            )
        return newsletter


EXPIRED = {
    Purpose.CONFIRM: "Confirmation links work for seven days, and this one is older. "
    "Sign up again and we will send you a fresh one.",
    Purpose.PREFERENCES: "Links to your preferences work for a year. Use the link at the "
    "bottom of a recent email instead.",
    Purpose.UNSUBSCRIBE: "Use the unsubscribe link at the bottom of a recent email.",
    Purpose.VIEW: "Open the email itself instead.",
}


async def read_form(request: Request) -> FormData:
    """The posted fields, url-encoded or multipart; an unreadable body reads as no fields.

    RFC 8058 one-click senders post ``List-Unsubscribe=One-Click`` either way; a body that
    cannot be parsed still says "unsubscribe me" by arriving, so it is not an error.
    """
    try:
        return await request.form()
    except (HTTPException, ValueError):
        return FormData()


def client_of(request: Request) -> str:
    """The client's address (uvicorn puts a trusted proxy's X-Forwarded-For here)."""
    return request.client.host if request.client else "unknown"


def get_site(request: Request) -> Site:
    site: Site = request.app.state.site
    return site


SiteDep = Annotated[Site, Depends(get_site)]


def subscribe_path(newsletter: str) -> str:
    """The sign-up form of one newsletter, under the app's root."""
    return "/subscribe?" + urlencode({"newsletter": newsletter})
