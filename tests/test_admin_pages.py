"""The editors' pages through the real app (httpx against ASGI, over https as a browser
keeps Secure cookies), on the demo's newsletters, corpus and subscribers in real SQLite.

Logged in as an editor: the newsletters page, the next slot's preview (a draft), the
framed email, "view as subscriber", pin and drop with the reasons shown, approval, a test
sent through the outbox, links checked on request, and the archive. Logged out, none of
these pages shows an address or an edition.
"""

from __future__ import annotations

import email
import html
import re
from collections.abc import Iterator
from email.policy import default
from pathlib import Path

import pytest
from httpx import Response
from webapp import EDITOR, EDITOR_PASSWORD, AppClient, WebApp, app_client, demo_site

from digest.demo import DEMO_NEWSLETTER

BASE = "https://news.example.com"
TOKEN_FIELD = re.compile(r'name="csrf_token" value="([^"]*)"')


@pytest.fixture
def site(tmp_path: Path) -> Iterator[WebApp]:
    with demo_site(tmp_path, BASE) as site:
        yield site


@pytest.fixture
def client(site: WebApp) -> Iterator[AppClient]:
    with app_client(site.app, BASE) as client:
        yield client


def log_in(client: AppClient) -> None:
    form = client.get("/admin/login")
    token = html.unescape(TOKEN_FIELD.search(form.text).group(1))  # type: ignore[union-attr]
    data = {"name": EDITOR, "password": EDITOR_PASSWORD, "csrf_token": token}
    answer = client.post("/admin/login", data=data)
    assert answer.status_code == 303, answer.text


def token_of(page: Response) -> str:
    found = TOKEN_FIELD.search(page.text)
    assert found, page.text
    return html.unescape(found.group(1))


def next_preview(client: AppClient) -> Response:
    moved = client.get(f"/admin/newsletters/{DEMO_NEWSLETTER}/next")
    assert moved.status_code == 303
    page = client.get(moved.headers["location"])
    assert page.status_code == 200, page.text
    return page


def here(page: Response) -> str:
    found = re.search(r'action="(/admin/newsletters/[^"]+)/approve"', page.text)
    assert found, page.text
    return found.group(1)


def test_logged_out_visitors_see_no_edition_and_no_address(client: AppClient) -> None:
    for path in (
        "/admin/",
        f"/admin/newsletters/{DEMO_NEWSLETTER}/next",
        f"/admin/newsletters/{DEMO_NEWSLETTER}/slots/20261128T0600Z",
        f"/admin/newsletters/{DEMO_NEWSLETTER}/slots/20261128T0600Z/email.html",
        "/admin/archive",
    ):
        answer = client.get(path)
        assert answer.status_code == 303, path
        assert "/admin/login?next=" in answer.headers["location"]
        assert "@example.org" not in answer.text
        assert "Meridian Daily" not in answer.text


def test_newsletters_page_and_the_next_slots_draft(client: AppClient) -> None:
    log_in(client)
    home = client.get("/admin/")
    assert "The Meridian Daily" in home.text
    assert "Preview the next edition" in home.text
    page = next_preview(client)
    assert "Draft" in page.text
    assert "Why each article is in or out" in page.text
    assert page.headers["content-security-policy"].count("frame-src 'self'") == 1
    frame = re.search(r'<iframe id="email" src="([^"]+)"', page.text)
    assert frame is not None
    email_page = client.get(html.unescape(frame.group(1)))
    assert email_page.status_code == 200
    assert "frame-ancestors 'self'" in email_page.headers["content-security-policy"]
    assert email_page.headers["x-frame-options"] == "SAMEORIGIN"
    assert "<script" not in email_page.text.lower()
    assert "Sample Reader" in email_page.text
    assert "% of Gmail" in page.text


def test_view_as_a_subscriber_shows_their_sections_and_name_only(
    client: AppClient, site: WebApp
) -> None:
    log_in(client)
    page = next_preview(client)
    chiara = site.parts.subscribers.find("chiara.reader3@example.org")
    assert chiara is not None  # Technology only (digest/demo/subscribers.csv)
    as_chiara = client.get(f"{here(page)}?subscriber={chiara.id}")
    assert "sections: Technology." in as_chiara.text
    framed = client.get(f"{here(page)}/email.html?subscriber={chiara.id}")
    assert "Chiara" in framed.text
    assert "Political history" not in framed.text
    # her links are nobody's: no token of hers is in the preview
    assert f"/unsubscribe/{DEMO_NEWSLETTER}/0" in framed.text


def test_pin_and_drop_change_the_preview_with_the_editors_name(client: AppClient) -> None:
    log_in(client)
    page = next_preview(client)
    path = here(page)
    drop = re.search(r'name="article_id" value="([^"]+)">\s*<button[^>]*value="drop"', page.text)
    pin = re.search(r'name="article_id" value="([^"]+)">\s*<button[^>]*value="pin"', page.text)
    assert drop is not None
    assert pin is not None
    token = token_of(page)
    for article, action in ((drop.group(1), "drop"), (pin.group(1), "pin")):
        answer = client.post(
            f"{path}/articles", data={"csrf_token": token, "article_id": article, "action": action}
        )
        assert answer.status_code == 303
    after = client.get(path)
    assert f"dropped by {EDITOR}" in after.text
    assert f"pinned by {EDITOR}" in after.text
    refused = client.post(f"{path}/articles", data={"article_id": pin.group(1), "action": "drop"})
    assert refused.status_code == 403  # no CSRF token


def test_approve_then_archive_after_the_slot_is_sent(client: AppClient, site: WebApp) -> None:
    log_in(client)
    page = next_preview(client)
    answer = client.post(f"{here(page)}/approve", data={"csrf_token": token_of(page)})
    assert answer.status_code == 303
    approved = client.get(answer.headers["location"])
    assert f"Approved by {EDITOR}" in approved.text
    # the archive lists editions whose slot has passed: plan today's and look
    edition = site.parts.operations(site.parts.newsletters()).plan(DEMO_NEWSLETTER)
    archive = client.get("/admin/archive")
    assert f"/admin/archive/{edition.id}" in archive.text
    view = client.get(f"/admin/archive/{edition.id}")
    assert view.status_code == 200
    assert "Sample Reader" in view.text
    assert "@example.org" not in view.text.replace("reader@example.org", "")


def test_a_test_goes_out_through_the_outbox_marked_as_a_test(
    client: AppClient, site: WebApp
) -> None:
    log_in(client)
    page = next_preview(client)
    answer = client.post(
        f"{here(page)}/test", data={"csrf_token": token_of(page), "address": "ed@example.net"}
    )
    shown = client.get(answer.headers["location"])
    assert "Test sent to ed@example.net" in shown.text
    (message,) = [
        email.message_from_bytes(path.read_bytes(), policy=default)
        for path in site.outbox.glob("*.eml")
    ]
    assert message["To"].addresses[0].addr_spec == "ed@example.net"
    assert message["Subject"].startswith("[Test] ")
    bad = client.post(
        f"{here(page)}/test", data={"csrf_token": token_of(page), "address": "not an address"}
    )
    assert "is not an email address" in client.get(bad.headers["location"]).text


def test_links_are_checked_only_when_asked(client: AppClient) -> None:
    log_in(client)
    page = next_preview(client)
    assert "Broken" not in page.text
    checked = client.post(f"{here(page)}/links", data={"csrf_token": token_of(page)})
    assert checked.status_code == 200
    rows = re.findall(r"<tr class=\"(in|out)\">", checked.text)
    assert rows  # every link of the edition, each with an answer
    # the demo's links are on news.example.com, which does not resolve
    assert "Broken" in checked.text
