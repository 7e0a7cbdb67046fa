"""Rendering the editors' pages: the subscriber pages' machinery, the admin layout. I/O.

Admin pages go through ``Pages.render`` like every other page (autoescaped Jinja2 from
``templates/web/``, checked at start-up, overridable), from ``web/admin/``, with three more
values every admin template can use: ``editor`` (the logged-in name, or None),
``csrf_token`` (for the hidden field every form must carry) and ``current`` (the nav entry
to mark). They answer with ``ADMIN_POLICY`` rather than the site's policy: the same strict
one plus ``frame-src 'self'``, because the edition preview shows the email in an iframe
served by this app. (The framed document itself must then allow ``frame-ancestors 'self'``.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request, Response
from fastapi.responses import HTMLResponse

from digest.web.admin.auth import Session, csrf_token
from digest.web.pages import root_of
from digest.web.site import get_site

ADMIN_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; frame-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
STYLESHEET = "admin/admin.css"


def render(
    request: Request,
    name: str,
    title: str,
    context: Mapping[str, Any] | None = None,
    status: int = 200,
    current: str | None = None,
) -> HTMLResponse:
    """The admin template ``web/admin/NAME`` as a page with the admin policy."""
    session: Session | None = getattr(request.state, "admin_session", None)
    values = {
        "editor": session.editor if session else None,
        "csrf_token": csrf_token(request),
        "current": current,
        **(context or {}),
    }
    response = get_site(request).pages.render(request, f"admin/{name}", title, values, status)
    response.headers["Content-Security-Policy"] = ADMIN_POLICY
    return response


def url(request: Request, path: str) -> str:
    """``path`` (of this app, starting with /) under the app's root, for redirects."""
    return root_of(request) + path


def stylesheet(request: Request) -> Response:
    css = get_site(request).pages.templates.asset(STYLESHEET)
    return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=3600"})
