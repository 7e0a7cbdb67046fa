"""The web app factory: the subscriber pages, and the providers' webhooks, on FastAPI. I/O.

``create_app`` takes the wiring's ``Parts`` (the CLI builds them from the settings; tests
from their own) and reads nothing else: the newsletters file and the templates are loaded
and checked once here, so a mistake in either stops ``digest serve`` at start-up. The app
keeps no state of its own between requests (rate limits live in the database), so any
number of copies can run behind a proxy.

Every error a visitor can meet is a page: ``PageError`` from a route, an unknown path
(404), a wrong method (405), a malformed request (400), and anything unexpected (500,
logged with its traceback, which the visitor never sees). Every response carries headers
that keep its token private: no caching, no Referer, no framing, a strict
Content-Security-Policy (pages use no scripts and one stylesheet from this app).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException

from digest.observe.metrics import Metrics
from digest.observe.store_metrics import StoreMetricsSource
from digest.web import (
    admin,
    api,
    confirm,
    health,
    metrics,
    preferences,
    subscribe,
    unsubscribe,
    view,
    webhooks,
)
from digest.web.mailer import Mailer
from digest.web.pages import Pages, root_of
from digest.web.ratelimit import Limits, RateLimiter
from digest.web.site import PageError, Site, get_site
from digest.wiring import Parts

log = logging.getLogger(__name__)

PAGE_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "X-Robots-Tag": "noindex, nofollow",
}
STATUS_PAGES = {
    404: (
        "Page not found",
        "There is no page at this address. Check the link, or start from the sign-up page.",
    ),
    405: ("Not allowed", "This page cannot be used that way. Open the link from the email."),
}


def create_app(parts: Parts, limits: Limits | None = None) -> FastAPI:
    """The subscriber pages over ``parts``; ``limits`` overrides the sign-up rate limits."""
    config = parts.newsletters()
    templates = parts.templates()
    clock = parts.subscribers.clock
    site = Site(
        parts=parts,
        config=config,
        pages=Pages(templates, config.publication),
        tokens=parts.tokens(),
        links={n.name: parts.signed_links(n.sender_address) for n in config.newsletters},
        limiter=RateLimiter(parts.engine, clock),
        limits=limits or Limits(),
        mailer=Mailer(templates, config.publication, parts.outbox().write, clock),
    )
    app = FastAPI(
        title=f"{config.publication.name}: subscriptions",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.site = site
    app.state.webhooks = webhooks.build_webhooks(parts)
    app.state.metrics = Metrics(StoreMetricsSource(parts.engine, parts.queue_view()))
    routers = (health, metrics, subscribe, confirm, unsubscribe, preferences, view, webhooks, api)
    for module in routers:
        app.include_router(module.router)
    admin.install(app, site)
    app.add_api_route("/site.css", _stylesheet, methods=["GET"], include_in_schema=False)
    _add_error_pages(app)
    app.middleware("http")(_security_headers)
    return app


def _stylesheet(request: Request) -> Response:
    css = get_site(request).pages.templates.asset("site.css")
    return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=3600"})


async def _security_headers(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    response = await call_next(request)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Content-Security-Policy", PAGE_POLICY)
    return response


def _add_error_pages(app: FastAPI) -> None:
    async def page_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageError)
        action = None
        if exc.action:
            path, label = exc.action
            action = (root_of(request) + path if path.startswith("/") else path, label)
        response = get_site(request).pages.error(
            request, exc.status, exc.title, exc.message, action
        )
        response.headers.update(exc.headers)
        return response

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        title, message = STATUS_PAGES.get(
            exc.status_code, ("Something went wrong", "This request could not be handled.")
        )
        response = get_site(request).pages.error(
            request, exc.status_code, title, message, ("/subscribe", "Go to the sign-up page")
        )
        response.headers.update(exc.headers or {})
        return response

    async def bad_request(request: Request, exc: Exception) -> Response:
        return get_site(request).pages.error(
            request, 400, "That did not work", "The request was incomplete or malformed."
        )

    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        try:
            return get_site(request).pages.error(
                request,
                500,
                "Something went wrong on our side",
                "Nothing you did caused it. Please try again in a few minutes.",
            )
        except Exception:  # the error page itself failed: plain words, still no traceback
            return HTMLResponse(
                "<!doctype html><title>Error</title><h1>Something went wrong</h1>", 500
            )

    app.add_exception_handler(PageError, page_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, bad_request)
    app.add_exception_handler(Exception, server_error)
