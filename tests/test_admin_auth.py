"""Editor login for the pages under /admin/: hashes, accounts, sessions, CSRF, the CLI.

The pages are driven through the real app (httpx against ASGI, over https so the client
keeps the Secure cookies as a browser would) on a real SQLite store; the CLI runs as a real
process on the same store. No part of digest is replaced.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi import Depends, Request
from fastapi.routing import iter_route_contexts
from httpx import Response
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from snapshots import snapshot
from sqlalchemy import Engine, insert
from webapp import SECRET, AppClient, WebApp, app_client, running_site

from digest.cli import cli
from digest.errors import ConfigError, RefusedError
from digest.passwords import BadHash, Cost, hash_password, parse_hash, verify_password
from digest.store.editions import Edition
from digest.store.editorial_schema import editors
from digest.store.editors import EditorStore
from digest.web import admin
from digest.web.admin.auth import (
    LOGIN_COOKIE,
    PUBLIC_ENDPOINTS,
    SESSION_COOKIE,
    SESSION_SALT,
    EditorDep,
    guard,
    safe_next,
)
from digest.web.ratelimit import Limits, Rule
from subscribers.model import Source

PUBLIC_URL = "https://news.example.com"
BASE = "https://testserver"
INES, INES_PASSWORD = "ines", "tide-tables-and-lanterns"
OLGA, OLGA_PASSWORD = "olga", "settings-account-password"
READER = "reader.private@example.org"
TOKEN_FIELD = re.compile(r'name="csrf_token" value="([^"]*)"')


@cache
def olga_hash() -> str:
    return hash_password(OLGA_PASSWORD)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[WebApp]:
    with opened_site(tmp_path) as site:
        yield site


def opened_site(tmp_path: Path, limits: Limits | None = None) -> Any:
    return running_site(tmp_path, PUBLIC_URL, limits=limits, editors={OLGA: olga_hash()})


@pytest.fixture
def client(site: WebApp) -> Iterator[AppClient]:
    site.parts.editors().add(INES, INES_PASSWORD)
    with app_client(site.app, BASE) as client:
        yield client


def form_token(page: Response) -> str:
    found = TOKEN_FIELD.search(page.text)
    assert found, page.text
    return html.unescape(found.group(1))


def log_in(
    client: AppClient, name: str = INES, password: str = INES_PASSWORD, **fields: str
) -> Response:
    """Open the login form (its pre-session cookie and token) and send it, as a browser does."""
    page = client.get("/admin/login")
    assert page.status_code == 200
    data = {"name": name, "password": password, "csrf_token": form_token(page), **fields}
    return client.post("/admin/login", data=data)


def session_token(client: AppClient) -> str:
    """The CSRF token of the logged-in client's session, read from a page's log-out form."""
    page = client.get("/admin/")
    assert page.status_code == 200
    return form_token(page)


def set_cookie(response: Response, name: str) -> str | None:
    found = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    return found[-1] if found else None


def heading(response: Response) -> str:
    found = re.search(r"<h1>(.*?)</h1>", response.text, re.DOTALL)
    assert found, response.text
    return html.unescape(" ".join(found.group(1).split()))


# -- password hashes ---------------------------------------------------------------------------


def test_a_hash_verifies_its_password_only() -> None:
    encoded = hash_password("correct horse battery staple")
    assert encoded.startswith("scrypt$32768$8$1$")
    assert verify_password("correct horse battery staple", encoded)
    assert not verify_password("correct horse battery stapl", encoded)
    assert not verify_password("", encoded)
    assert hash_password("correct horse battery staple") != encoded  # a fresh salt each time


def test_the_parameters_are_read_back_from_the_hash() -> None:
    cheap = hash_password("a password of some length", Cost(n=2**10, r=4, p=2))
    parsed = parse_hash(cheap)
    assert parsed.cost == Cost(n=2**10, r=4, p=2)
    assert (len(parsed.salt), len(parsed.key)) == (16, 32)
    assert verify_password("a password of some length", cheap)
    scheme, n, _r, p, salt, key = cheap.split("$")
    other_r = "$".join((scheme, n, "5", p, salt, key))
    assert not verify_password("a password of some length", other_r)


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        "pbkdf2$1$2$3$abc$def",
        "scrypt$32768$8$1$c2FsdHNhbHQ",
        "scrypt$1073741824$8$1$c2FsdHNhbHRzYWx0$" + "A" * 43,  # N=2**30: gigabytes
        "scrypt$30000$8$1$c2FsdHNhbHRzYWx0$" + "A" * 43,  # not a power of two
        "scrypt$32768$8$1$c2FsdH+hbHRzYWx0$" + "A" * 43,  # not base64url
    ],
)
def test_malformed_or_costly_hashes_are_refused(encoded: str) -> None:
    with pytest.raises(BadHash):
        parse_hash(encoded)


# -- the account store -------------------------------------------------------------------------


def test_store_accounts_add_list_replace_remove(engine: Engine) -> None:
    store = EditorStore(engine)
    store.add(INES, INES_PASSWORD)
    assert [(a.name, a.source, a.shadowed) for a in store.accounts()] == [(INES, "store", False)]
    assert store.verify(INES, INES_PASSWORD)
    assert not store.verify(INES, "not-her-password!")
    assert not store.verify("nobody", INES_PASSWORD)
    with pytest.raises(RefusedError, match="--replace"):
        store.add(INES, "another-long-password")
    tag = store.credential_tag(INES)
    store.add(INES, "another-long-password", replace=True)
    assert store.credential_tag(INES) not in (None, tag)
    assert store.verify(INES, "another-long-password")
    assert not store.verify(INES, INES_PASSWORD)
    with pytest.raises(RefusedError, match="12 characters"):
        store.add("bo", "too-short")
    with pytest.raises(RefusedError, match="letters, digits"):
        store.add("bo bo", "a-long-enough-password")
    assert store.remove(INES)
    assert not store.remove(INES)
    assert store.accounts() == []
    assert store.credential_tag(INES) is None


def test_settings_accounts_take_precedence_over_the_store(engine: Engine) -> None:
    with engine.begin() as conn:  # a row made before the operator declared olga
        conn.execute(
            insert(editors).values(
                name=OLGA, password_hash=hash_password("old-store-password"), created_at=now()
            )
        )
    store = EditorStore(engine, {OLGA: olga_hash()})
    assert store.verify(OLGA, OLGA_PASSWORD)
    assert not store.verify(OLGA, "old-store-password")
    listed = [(a.name, a.source, a.shadowed) for a in store.accounts()]
    assert listed == [(OLGA, "settings", False), (OLGA, "store", True)]
    with pytest.raises(RefusedError, match="DIGEST_EDITORS"):
        store.add(OLGA, "a-long-enough-password", replace=True)


def test_a_malformed_settings_hash_names_the_setting(engine: Engine) -> None:
    with pytest.raises(ConfigError, match=r"DIGEST_EDITORS.*'olga'"):
        EditorStore(engine, {OLGA: "plain-text-password"})


def test_an_unknown_name_costs_as_much_as_a_known_one(engine: Engine) -> None:
    store = EditorStore(engine)
    store.add(INES, INES_PASSWORD)

    def fastest(check: Callable[[], bool]) -> float:
        times = []
        for _ in range(2):
            start = time.perf_counter()
            check()
            times.append(time.perf_counter() - start)
        return min(times)

    known = fastest(lambda: store.verify(INES, "a-wrong-password"))
    unknown = fastest(lambda: store.verify("nobody-by-that-name", "a-wrong-password"))
    assert unknown > known * 0.5  # the KDF ran (a lookup alone is a hundred times faster)


# -- logging in --------------------------------------------------------------------------------


def test_login_sets_a_secure_strict_session_cookie(client: AppClient) -> None:
    response = log_in(client, next="/admin/")
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/"
    cookie = set_cookie(response, SESSION_COOKIE)
    assert cookie is not None
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert {"secure", "httponly", "samesite=strict", "path=/admin"} <= set(flags)
    assert "max-age=43200" in flags  # DIGEST_SESSION_HOURS=12
    pre_session = set_cookie(response, LOGIN_COOKIE)
    assert pre_session is not None
    assert "max-age=0" in pre_session.lower()
    page = client.get("/admin/")
    assert page.status_code == 200
    assert heading(page) == "Newsletters"
    assert "The Meridian Daily" in page.text
    assert "The Meridian Weekend" in page.text
    assert f"Logged in as {INES}" in page.text


def test_an_account_from_the_settings_logs_in(client: AppClient) -> None:
    assert log_in(client, OLGA, OLGA_PASSWORD).status_code == 303
    assert "Logged in as olga" in client.get("/admin/").text


@pytest.mark.parametrize(
    ("name", "password"), [(INES, "not-the-right-password"), ("nobody", INES_PASSWORD)]
)
def test_a_wrong_name_or_password_shows_an_error_and_no_session(
    client: AppClient, name: str, password: str
) -> None:
    response = log_in(client, name, password)
    assert response.status_code == 400
    assert "That name and password do not match an editor account" in response.text
    assert set_cookie(response, SESSION_COOKIE) is None
    assert SESSION_COOKIE not in client.cookies
    assert client.get("/admin/").status_code == 303


def test_the_login_form_needs_its_own_cookie_and_token(site: WebApp, client: AppClient) -> None:
    page = client.get("/admin/login")
    token = form_token(page)
    with app_client(site.app, BASE) as stranger:  # a page elsewhere posting to the form
        forged = stranger.post(
            "/admin/login",
            data={"name": INES, "password": INES_PASSWORD, "csrf_token": token},
        )
    assert forged.status_code == 403
    assert set_cookie(forged, SESSION_COOKIE) is None
    wrong = client.post(
        "/admin/login",
        data={"name": INES, "password": INES_PASSWORD, "csrf_token": token[:-2] + "xx"},
    )
    assert wrong.status_code == 403
    assert set_cookie(wrong, SESSION_COOKIE) is None
    assert "The login form had expired" in wrong.text
    assert client.get("/admin/").status_code == 303


def test_failed_logins_are_limited_per_name(tmp_path: Path) -> None:
    limits = Limits(login_per_name=Rule("admin-login-name", 2, timedelta(minutes=15)))
    with opened_site(tmp_path, limits) as site, app_client(site.app, BASE) as client:
        site.parts.editors().add(INES, INES_PASSWORD)
        for _ in range(2):
            assert log_in(client, INES, "a-wrong-guess-here").status_code == 400
        blocked = log_in(client, INES, INES_PASSWORD)
        assert blocked.status_code == 429
        assert 0 < int(blocked.headers["retry-after"]) <= 900
        assert set_cookie(blocked, SESSION_COOKIE) is None
        assert log_in(client, OLGA, OLGA_PASSWORD).status_code == 303  # another name is not


# -- every admin route is closed without a session ---------------------------------------------


def admin_routes() -> list[tuple[str, str, Callable[..., Any] | None]]:
    """(method, path with its parameters filled in, endpoint) of every admin route.

    Read through the routers the admin router includes, so a route added anywhere under it
    is checked without touching this test.
    """
    found = []
    for route in iter_route_contexts(admin.router.routes):
        path = re.sub(r"\{[^}/]+\}", "0123456789abcdef", route.path or "")
        found += [(method, path, route.endpoint) for method in sorted(route.methods or ())]
    return found


PUBLIC = {"login_form", "log_in", "log_out", "admin_stylesheet"}


def test_only_the_login_logout_and_stylesheet_are_public() -> None:
    assert {endpoint.__name__ for endpoint in PUBLIC_ENDPOINTS} == PUBLIC
    closed = [(method, path) for method, path, e in admin_routes() if e not in PUBLIC_ENDPOINTS]
    assert ("GET", "/admin/") in closed  # the start page at least


def test_every_admin_route_refuses_a_visitor_without_a_session(
    site: WebApp, client: AppClient
) -> None:
    site.parts.subscribers.sign_up(READER, "daily", "Private Reader", None, Source.FORM)
    snap = snapshot()
    moment = now()
    site.parts.editions.insert(
        Edition(snap["edition_id"], "daily", moment, None, moment, False, snap, moment), []
    )
    checked = 0
    for method, path, endpoint in admin_routes():
        if endpoint in PUBLIC_ENDPOINTS:
            continue
        response = client.request(method, path, data={"csrf_token": "x"})
        if method in ("GET", "HEAD"):
            assert response.status_code == 303, (method, path)
            assert response.headers["location"].startswith("/admin/login?next=%2Fadmin%2F")
        else:
            assert response.status_code == 403, (method, path)
        for secret in (READER, "Private Reader", "story number", snap["edition_id"]):
            assert secret not in response.text, (method, path, secret)
        checked += 1
    assert checked >= 1


def test_a_get_without_a_session_is_sent_to_the_login_and_back(client: AppClient) -> None:
    response = client.get("/admin/?newsletter=daily")
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/login?next=%2Fadmin%2F%3Fnewsletter%3Ddaily"
    back = log_in(client, next="/admin/?newsletter=daily")
    assert back.headers["location"] == "/admin/?newsletter=daily"


# -- sessions and CSRF -------------------------------------------------------------------------


def signed_at(moment: float) -> type[TimestampSigner]:
    class At(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(moment)

    return At


def cookie_signed(fields: Any, secret: str = SECRET, at: float | None = None) -> str:
    signer = signed_at(time.time() if at is None else at)
    serializer = URLSafeTimedSerializer(
        secret, salt=SESSION_SALT, signer=signer, signer_kwargs={"digest_method": hashlib.sha256}
    )
    return serializer.dumps(fields)


def test_forged_expired_and_revoked_sessions_are_refused(site: WebApp, client: AppClient) -> None:
    assert log_in(client).status_code == 303
    valid = client.cookies[SESSION_COOKIE]
    fields = site.app.state.admin_auth.sessions.loads(valid)

    client.cookies.clear()  # from here on each request carries only the cookie it is given

    def status_with(cookie: str) -> int:
        return client.get("/admin/", headers={"Cookie": f"{SESSION_COOKIE}={cookie}"}).status_code

    assert status_with(cookie_signed(fields)) == 200  # re-signed now: the control case
    assert status_with(valid[:-3] + ("AAA" if valid[-3:] != "AAA" else "BBB")) == 303
    assert status_with(cookie_signed(fields, secret="another-secret-of-some-length")) == 303
    assert status_with(cookie_signed({**fields, "e": OLGA})) == 303  # bound to ines's hash
    thirteen_hours_ago = time.time() - 13 * 3600
    assert status_with(cookie_signed(fields, at=thirteen_hours_ago)) == 303
    assert status_with(valid) == 200
    site.parts.editors().add(INES, "a-new-password-for-ines", replace=True)
    assert status_with(valid) == 303  # a new password ends the sessions made before


def test_a_post_without_the_sessions_csrf_token_is_refused(site: WebApp, client: AppClient) -> None:
    async def retitle(request: Request, editor: EditorDep) -> dict[str, str]:
        return {"done_by": editor}

    site.app.add_api_route(  # a form route as the editorial pages add them, behind the guard
        "/admin/test-form", retitle, methods=["POST"], dependencies=[Depends(guard)]
    )
    assert log_in(client).status_code == 303
    token = session_token(client)
    with app_client(site.app, BASE) as other:
        assert log_in(other, OLGA, OLGA_PASSWORD).status_code == 303
        someone_elses = session_token(other)
    for fields in (
        {},
        {"csrf_token": ""},
        {"csrf_token": token[:-1]},
        {"csrf_token": someone_elses},
    ):
        refused = client.post("/admin/test-form", data=fields)
        assert refused.status_code == 403, fields
        assert heading(refused) == "This form could not be accepted"
    accepted = client.post("/admin/test-form", data={"csrf_token": token})
    assert accepted.status_code == 200
    assert accepted.json() == {"done_by": INES}
    refused_logout = client.post("/admin/logout", data={"csrf_token": someone_elses})
    assert refused_logout.status_code == 403
    assert client.get("/admin/").status_code == 200  # still logged in


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/admin/",
        "//evil.example/admin/",
        "/\\evil.example/admin/",
        "/admin/../subscribe",
        "/admin/%2e%2e/subscribe",
        "/subscribe",
        "javascript:alert(1)",
        "/admin/login",
        "/admin/\n/x",
        "",
    ],
)
def test_only_paths_under_admin_are_next_targets(target: str) -> None:
    assert safe_next(target) == "/admin/"


def test_a_foreign_next_is_not_followed_after_login(client: AppClient) -> None:
    page = client.get("/admin/login", params={"next": "https://evil.example/"})
    assert 'name="next" value="/admin/"' in page.text
    response = log_in(client, next="//evil.example/admin/")
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/"
    assert safe_next("/admin/archive?page=2") == "/admin/archive?page=2"


def test_logout_clears_the_session_cookie(client: AppClient) -> None:
    assert log_in(client).status_code == 303
    response = client.post("/admin/logout", data={"csrf_token": session_token(client)})
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/login"
    cleared = set_cookie(response, SESSION_COOKIE)
    assert cleared is not None
    assert "max-age=0" in cleared.lower()
    assert "path=/admin" in cleared.lower()
    assert SESSION_COOKIE not in client.cookies
    assert client.get("/admin/").status_code == 303


def test_admin_pages_have_their_own_frame_and_policy(client: AppClient) -> None:
    login = client.get("/admin/login")
    assert '<a class="skip" href="#main">' in login.text
    assert '<main id="main"' in login.text
    assert '<label for="name">' in login.text
    assert '<label for="password">' in login.text
    assert 'autocomplete="current-password"' in login.text
    assert "<script" not in login.text
    policy = login.headers["content-security-policy"]
    assert "frame-src 'self'" in policy
    assert "script-src" not in policy
    assert "default-src 'none'" in policy
    assert "frame-src" not in client.get("/subscribe").headers["content-security-policy"]
    css = client.get("/admin/admin.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert log_in(client).status_code == 303
    home = client.get("/admin/")
    assert '<nav class="admin-nav" aria-label="Editors\' pages">' in home.text
    assert 'href="/admin/" aria-current="page">Newsletters</a>' in home.text
    assert 'href="/admin/archive">Archive</a>' in home.text
    assert 'action="/admin/logout"' in home.text
    assert "frame-src 'self'" in home.headers["content-security-policy"]
    assert home.headers["cache-control"] == "no-store"
    assert client.get("/admin/login").status_code == 303  # logged in: straight on


# -- the command line --------------------------------------------------------------------------


def digest(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {"DIGEST_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "digest", *args],
        cwd=tmp_path,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_an_editor_added_with_the_cli_can_log_in(tmp_path: Path) -> None:
    short = digest(tmp_path, "editors", "add", INES, "--password-stdin", stdin="too-short\n")
    assert short.returncode == 2
    assert "at least 12 characters" in short.stderr
    added = digest(tmp_path, "editors", "add", INES, "--password-stdin", stdin=INES_PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    again = digest(tmp_path, "editors", "add", INES, "--password-stdin", stdin=INES_PASSWORD + "\n")
    assert again.returncode == 1
    assert "--replace" in again.stderr
    listed = digest(tmp_path, "editors", "list", "--json")
    assert [(a["name"], a["source"]) for a in json.loads(listed.stdout)] == [(INES, "store")]
    with opened_site(tmp_path) as site, app_client(site.app, BASE) as client:
        assert log_in(client).status_code == 303
        assert client.get("/admin/").status_code == 200
    removed = digest(tmp_path, "editors", "remove", INES)
    assert removed.returncode == 0, removed.stderr
    assert digest(tmp_path, "editors", "remove", INES).returncode == 1


def test_editors_hash_prints_a_hash_for_the_setting(tmp_path: Path) -> None:
    result = digest(tmp_path, "editors", "hash", "--password-stdin", stdin=OLGA_PASSWORD + "\n")
    assert result.returncode == 0, result.stderr
    encoded = result.stdout.strip()
    assert verify_password(OLGA_PASSWORD, encoded)
    assert not verify_password(OLGA_PASSWORD + "x", encoded)


def test_editors_add_prompts_twice_without_echo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env from the repository
    env = {"DIGEST_DATA_DIR": str(tmp_path / "data")}
    runner = CliRunner()
    typed = f"{INES_PASSWORD}\n{INES_PASSWORD}\n"
    result = runner.invoke(cli, ["editors", "add", INES], input=typed, env=env)
    assert result.exit_code == 0, result.output
    assert INES_PASSWORD not in result.output
    assert "Repeat the password" in result.output
    listed = runner.invoke(cli, ["editors", "list"], env=env)
    assert listed.output.startswith(f"{INES}  store  ")


def now() -> datetime:
    return datetime.now(UTC)
