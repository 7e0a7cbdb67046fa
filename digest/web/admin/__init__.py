"""The editors' pages under ``/admin/``, behind editor login. I/O.

``router`` is the one router of every admin route. Its dependency ``auth.guard`` refuses
every route without a valid session (a GET is sent to the login page, anything else gets
403) and checks the CSRF token of every unsafe request, unless the route is marked
``auth.public`` (the login form, logout, the stylesheet). A module of admin routes makes its
own ``APIRouter()`` and is included here, before ``install`` mounts ``router`` on the app;
routes then take the editor's name with ``auth.EditorDep`` and render with ``pages.render``.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI

from digest.web.admin import archive, home, login, preview
from digest.web.admin.auth import Auth, LoginRequired, guard, login_redirect
from digest.web.site import Site

router = APIRouter(prefix="/admin", dependencies=[Depends(guard)])
router.include_router(login.router)
router.include_router(home.router)
router.include_router(preview.router)
router.include_router(archive.router)


def install(app: FastAPI, site: Site) -> None:
    """Mount the admin pages on ``app``; a bad ``DIGEST_EDITORS`` hash stops start-up here."""
    app.state.admin_auth = Auth.build(site.parts)
    app.include_router(router)
    app.add_exception_handler(LoginRequired, login_redirect)


__all__ = ["install", "router"]
