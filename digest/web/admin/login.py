"""``/admin/login`` and ``/admin/logout``, and the admin stylesheet: the public admin routes.

I/O. Failed logins are rate limited per name and per client address in the database
(``Limits.login_per_name``, ``login_per_client``); a blocked attempt is refused before the
password is even checked, and only failures count, so an editor who types it right is
never slowed by their own successes. The answer to a wrong name and to a wrong password is
the same page, and both cost one KDF run.
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import FormData

from digest.passwords import MAX_PASSWORD
from digest.web.admin import pages
from digest.web.admin.auth import (
    CSRF_FIELD,
    LOGIN,
    LOGIN_COOKIE,
    LOGIN_FORM_SECONDS,
    SESSION_COOKIE,
    Auth,
    clear_cookie,
    csrf_refused,
    current_session,
    form_token,
    get_auth,
    public,
    safe_next,
    set_cookie,
    tokens_match,
)
from digest.web.pages import root_of
from digest.web.site import Site, client_of, get_site, read_form

router = APIRouter()

WRONG = "That name and password do not match an editor account. Check both and try again."
EXPIRED = (
    "The login form had expired or was opened in another way, so it was not sent. "
    "It has been renewed: enter your name and password again."
)
TOO_MANY = (
    "There have been too many failed logins for this name or from this address. "
    "Wait a quarter of an hour, then try again."
)


@router.get("/login", response_class=HTMLResponse)
@public
async def login_form(request: Request, next: str | None = None) -> Response:
    """The form; someone already logged in goes straight on to ``next``."""
    if await current_session(request) is not None:
        return _go(request, safe_next(next))
    return _form(request, next=safe_next(next))


@router.post("/login", response_class=HTMLResponse)
@public
async def log_in(request: Request) -> Response:
    form = await read_form(request)
    return await run_in_threadpool(_log_in, request, get_site(request), get_auth(request), form)


def _log_in(request: Request, site: Site, auth: Auth, form: FormData) -> Response:
    name = str(form.get("name") or "").strip()[:64]
    password = str(form.get("password") or "")[:MAX_PASSWORD]
    target = safe_next(form.get("next"))
    secret = auth.login_secret(request.cookies.get(LOGIN_COOKIE))
    if secret is None or not tokens_match(form_token(secret, "login"), form.get(CSRF_FIELD)):
        return _form(request, name=name, next=target, error=EXPIRED, status=403)
    keys = (
        (site.limits.login_per_name, name.casefold()),
        (site.limits.login_per_client, client_of(request)),
    )
    blocked = [rule for rule, key in keys if site.limiter.exceeded(rule, key)]
    if blocked:
        refused = _form(request, name=name, next=target, error=TOO_MANY, status=429)
        refused.headers["Retry-After"] = str(max(site.limiter.retry_after(r) for r in blocked))
        return refused
    session = auth.start(name) if auth.editors.verify(name, password) else None
    if session is None:
        for rule, key in keys:
            site.limiter.hit(rule, key)
        return _form(request, name=name, next=target, error=WRONG, status=400, secret=secret)
    response = _go(request, target)
    set_cookie(response, request, SESSION_COOKIE, auth.cookie_of(session), auth.max_age)
    clear_cookie(response, request, LOGIN_COOKIE)
    return response


@router.post("/logout")
@public
async def log_out(request: Request) -> Response:
    """End the session (its CSRF token required when there is one) and go to the login."""
    session = await current_session(request)
    if session is not None:
        form = await read_form(request)
        if not tokens_match(session.csrf_token(), form.get(CSRF_FIELD)):
            raise csrf_refused()
    response = _go(request, LOGIN)
    clear_cookie(response, request, SESSION_COOKIE)
    return response


@router.get("/admin.css")
@public
def admin_stylesheet(request: Request) -> Response:
    return pages.stylesheet(request)


def _form(
    request: Request,
    *,
    name: str = "",
    next: str,
    error: str | None = None,
    status: int = 200,
    secret: str | None = None,
) -> HTMLResponse:
    """The login page, with a pre-session cookie (a new one unless ``secret`` is kept)."""
    auth = get_auth(request)
    secret = secret or secrets.token_urlsafe(32)
    context: dict[str, Any] = {
        "name": name,
        "next": next,
        "error": error,
        "csrf_token": form_token(secret, "login"),
    }
    response = pages.render(request, "login.html", "Log in", context, status)
    cookie = auth.logins.dumps(secret)
    set_cookie(response, request, LOGIN_COOKIE, cookie, LOGIN_FORM_SECONDS)
    return response


def _go(request: Request, path: str) -> RedirectResponse:
    return RedirectResponse(root_of(request) + path, status_code=303)
