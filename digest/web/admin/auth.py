"""Editor sessions and CSRF for the pages under ``/admin/``: stateless, signed cookies. I/O.

After login the browser holds ``digest_admin``: the editor's name, a random session id, a
random CSRF secret and a fingerprint of the account's password hash, signed with the app's
secret (itsdangerous, salt ``digest.admin-session``) and dated, so it expires after
``DIGEST_SESSION_HOURS`` without any server-side state; any number of app copies accept it.
It is ``Secure; HttpOnly; SameSite=Strict; Path=/admin``. Every request re-reads the
fingerprint from the accounts, so removing an account or changing its password ends its
sessions at once. What a stateless session cannot do is end one stolen cookie early: that
takes a password change (or a new secret, which ends them all).

CSRF: every form under ``/admin/`` carries ``csrf_token``, an HMAC keyed by the session's
CSRF secret over its session id (never the secret itself, so the page shows nothing that
could be replayed as the cookie's content), and every request with an unsafe method is
refused with 403 unless the token matches. SameSite=Strict already keeps the cookie off
cross-site requests; the token is the second lock, for browsers or proxies that lose it.

The login form, before any session exists, is protected the same way by a pre-session
cookie: ``GET /admin/login`` sets ``digest_admin_login`` (a random secret, signed, one hour,
same flags) and puts the HMAC of it in the form; ``POST /admin/login`` accepts only that
pair. A cross-site page can neither read the token nor (SameSite=Strict) send the cookie,
so it cannot log a browser into an account of its choosing.

Routes of the admin router are refused without a session by a router-wide dependency
(``guard``), so a route added later is protected unless it is explicitly ``public``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import unquote, urlencode, urlsplit

from fastapi import Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from itsdangerous import BadSignature, URLSafeTimedSerializer

from digest.store.editors import EditorStore
from digest.web.pages import root_of
from digest.web.site import PageError, read_form
from digest.wiring import Parts

SESSION_COOKIE = "digest_admin"
LOGIN_COOKIE = "digest_admin_login"
SESSION_SALT = "digest.admin-session"
LOGIN_SALT = "digest.admin-login"
LOGIN_FORM_SECONDS = 3600
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PREFIX = "/admin"
HOME = "/admin/"
LOGIN = "/admin/login"
LOGOUT = "/admin/logout"

PUBLIC_ENDPOINTS: set[Callable[..., Any]] = set()
"""Admin routes anyone may reach (the login form, logout, the stylesheet)."""


def public(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """Mark an admin route as reachable without a session; every other one needs one."""
    PUBLIC_ENDPOINTS.add(endpoint)
    return endpoint


@dataclass(frozen=True, slots=True)
class Session:
    editor: str
    sid: str
    csrf: str
    tag: str  # EditorStore.credential_tag at login

    def csrf_token(self) -> str:
        return form_token(self.csrf, f"session:{self.sid}")


@dataclass(frozen=True)
class Auth:
    """The accounts and the two cookie signers, built once by ``install``."""

    editors: EditorStore
    sessions: URLSafeTimedSerializer
    logins: URLSafeTimedSerializer
    max_age: int  # seconds a session lasts

    @classmethod
    def build(cls, parts: Parts) -> Auth:
        secret = parts.secret()
        return cls(
            editors=parts.editors(),
            sessions=_signer(secret, SESSION_SALT),
            logins=_signer(secret, LOGIN_SALT),
            max_age=parts.settings.session_hours * 3600,
        )

    def start(self, editor: str) -> Session | None:
        """A new session for ``editor``; None when the account vanished meanwhile."""
        tag = self.editors.credential_tag(editor)
        if tag is None:
            return None
        return Session(editor, secrets.token_urlsafe(16), secrets.token_urlsafe(32), tag)

    def cookie_of(self, session: Session) -> str:
        fields = {"e": session.editor, "s": session.sid, "c": session.csrf, "t": session.tag}
        return self.sessions.dumps(fields)

    def read(self, cookie: str | None) -> Session | None:
        """The session a cookie holds when its signature and age check out, else None."""
        if not cookie:
            return None
        try:
            fields = self.sessions.loads(cookie, max_age=self.max_age)
        except BadSignature:  # forged, cut short, or expired (SignatureExpired)
            return None
        if not isinstance(fields, dict):
            return None
        values = [v for v in (fields.get(k) for k in ("e", "s", "c", "t")) if isinstance(v, str)]
        if len(values) != 4 or not all(values):
            return None
        return Session(*values)

    def still_valid(self, session: Session) -> bool:
        """Whether the account still exists with the password the session was made under."""
        current = self.editors.credential_tag(session.editor)
        return current is not None and hmac.compare_digest(current, session.tag)

    def login_secret(self, cookie: str | None) -> str | None:
        """The pre-session secret of a login cookie still within its hour, else None."""
        if not cookie:
            return None
        try:
            value = self.logins.loads(cookie, max_age=LOGIN_FORM_SECONDS)
        except BadSignature:
            return None
        return value if isinstance(value, str) and value else None


def _signer(secret: str, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        secret, salt=salt, signer_kwargs={"digest_method": hashlib.sha256}
    )


def form_token(secret: str, context: str) -> str:
    """The token a form carries: HMAC-SHA256 of ``context`` keyed by ``secret``."""
    digest = hmac.new(secret.encode(), context.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def tokens_match(expected: str, given: object) -> bool:
    """Constant-time comparison that also takes a missing or non-text field."""
    if not isinstance(given, str):
        return False
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


def get_auth(request: Request) -> Auth:
    auth: Auth = request.app.state.admin_auth
    return auth


class LoginRequired(Exception):
    """A page asked for without a session: the app answers with a redirect to the login."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


async def login_redirect(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    query = urlencode({"next": exc.next_path})
    return RedirectResponse(f"{root_of(request)}{LOGIN}?{query}", status_code=303)


async def current_session(request: Request) -> Session | None:
    """The request's valid session, or None (no cookie, bad signature, expired, revoked)."""
    auth = get_auth(request)
    session = auth.read(request.cookies.get(SESSION_COOKIE))
    if session is None or not await run_in_threadpool(auth.still_valid, session):
        return None
    return session


async def authenticate(request: Request) -> Session:
    """The session, with the CSRF token checked on unsafe methods; else redirect or 403."""
    cached: Session | None = getattr(request.state, "admin_session", None)
    if cached is not None:
        return cached
    session = await current_session(request)
    if session is None:
        if request.method in SAFE_METHODS:
            raise LoginRequired(safe_next(app_path(request)))
        raise PageError(
            403,
            "Please log in first",
            "Your editor session has ended or was never started, so nothing was changed. "
            "Log in, then do it again.",
            (LOGIN, "Log in"),
        )
    if request.method not in SAFE_METHODS:
        form = await read_form(request)
        if not tokens_match(session.csrf_token(), form.get(CSRF_FIELD)):
            raise csrf_refused()
    request.state.admin_session = session
    return session


def csrf_refused() -> PageError:
    return PageError(
        403,
        "This form could not be accepted",
        "It arrived without the page's security code, or with one from another session, "
        "so nothing was changed. Go back, reload the page and send the form again.",
        (HOME, "Go to the newsletters"),
    )


async def guard(request: Request) -> None:
    """The admin router's dependency: every route but the ``public`` ones needs a session."""
    if request.scope.get("endpoint") in PUBLIC_ENDPOINTS:
        return
    await authenticate(request)


async def require_editor(request: Request) -> str:
    """The logged-in editor's name (for routes to record who did what)."""
    return (await authenticate(request)).editor


EditorDep = Annotated[str, Depends(require_editor)]


def csrf_token(request: Request) -> str:
    """The token for a form on this page; empty on a page without a session."""
    session: Session | None = getattr(request.state, "admin_session", None)
    return session.csrf_token() if session else ""


def app_path(request: Request) -> str:
    """The request's path and query under the app's root (what ``next`` holds)."""
    root, path = root_of(request), request.url.path
    if root and path.startswith(root + "/"):
        path = path[len(root) :]
    return path + (f"?{request.url.query}" if request.url.query else "")


def safe_next(value: object) -> str:
    """``value`` when it is a path of this app under ``/admin/``, else the home page.

    Refuses anything a browser could read as another host (``//x``, ``/\\x``, a scheme),
    control characters, dot segments that climb out of ``/admin/``, and the login and
    logout pages themselves.
    """
    if not isinstance(value, str) or not value.startswith(HOME) or len(value) > 2000:
        return HOME
    if "\\" in value or any(ord(c) < 0x21 or ord(c) == 0x7F for c in value):
        return HOME
    parts = urlsplit(value)
    segments = unquote(parts.path).split("/")
    if parts.scheme or parts.netloc or ".." in segments or "." in segments:
        return HOME
    if parts.path.rstrip("/") in (LOGIN, LOGOUT):
        return HOME
    return value


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=root_of(request) + PREFIX,
        secure=True,
        httponly=True,
        samesite="strict",
    )


def clear_cookie(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(
        name, path=root_of(request) + PREFIX, secure=True, httponly=True, samesite="strict"
    )
