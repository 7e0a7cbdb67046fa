"""The subscriber pages through the real app: httpx against the ASGI app, a real SQLite store.

Each test drives the pages as a visitor or a mail client would, then checks the store and
the outbox: what changed, and (for forged, expired and GET requests) that nothing did.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from httpx import Response
from snapshots import snapshot
from webapp import (
    SECRET,
    AppClient,
    WebApp,
    app_client,
    confirm_link,
    messages,
    path_of,
    running_site,
    text_of,
    unsubscribe_link,
)

from digest.cli import cli
from digest.store.editions import Edition
from digest.web.ratelimit import Limits, Rule
from subscribers.model import Cadence, Source, Status, SubscriptionStatus
from subscribers.tokens import Purpose, Tokens

PUBLIC_URL = "https://news.example.com"
ANA = "ana@example.org"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[WebApp]:
    with running_site(tmp_path, PUBLIC_URL) as site:
        yield site


@pytest.fixture
def client(site: WebApp) -> Iterator[AppClient]:
    with app_client(site.app) as client:
        yield client


def sign_up(client: AppClient, address: str = ANA, /, **fields: str | list[str]) -> Response:
    data: dict[str, str | list[str]] = {
        "email": address,
        "name": "Ana Lima",
        "newsletter": "daily",
        "sections_shown": "1",
        "sections.daily": ["Science", "Culture"],
    }
    data.update(fields)
    return client.post("/subscribe", data=data)


def subscribed(site: WebApp, client: AppClient, address: str = ANA) -> int:
    """Sign up and confirm through the pages; the subscriber's id."""
    assert sign_up(client, address).status_code == 200
    response = client.get(path_of(confirm_link(messages(site.outbox)[-1])))
    assert response.status_code == 200
    found = site.parts.subscribers.find(address)
    assert found is not None
    return found.id


def token(purpose: Purpose, subscriber_id: int, newsletter: str = "daily", **kw: object) -> str:
    return Tokens(SECRET).make(purpose, subscriber_id, newsletter, **kw)  # type: ignore[arg-type]


def audience(site: WebApp, newsletter: str = "daily") -> list[int]:
    return [m.id for page in site.parts.subscribers.audience(newsletter) for m in page]


def heading(response: Response) -> str:
    found = re.search(r"<h1>(.*?)</h1>", response.text, re.DOTALL)
    assert found, response.text
    return html.unescape(" ".join(found.group(1).split()))


def forged(valid: str) -> str:
    """The token with one character of its payload changed."""
    return ("B" if valid[0] != "B" else "C") + valid[1:]


def test_healthz(client: AppClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_subscribe_form_shows_each_newsletter_and_its_sections_ticked(
    client: AppClient,
) -> None:
    page = client.get("/subscribe")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'type="radio" name="newsletter" value="daily"' in page.text
    for section in ("Science", "Technology", "Culture"):
        assert f'name="sections.daily" value="{section}" checked' in page.text
    assert 'name="sections.weekend" value="Travel" checked' in page.text
    one = client.get("/subscribe", params={"newsletter": "weekend"})
    assert heading(one) == "Subscribe to The Meridian Weekend"
    assert '<input type="hidden" name="newsletter" value="weekend">' in one.text
    assert "sections.daily" not in one.text
    missing = client.get("/subscribe", params={"newsletter": "sport"})
    assert missing.status_code == 404
    assert heading(missing) == "No such newsletter"
    assert "<script" not in page.text + one.text


def test_sign_up_confirm_and_the_mail_it_sends(site: WebApp, client: AppClient) -> None:
    response = sign_up(client)
    assert response.status_code == 200
    assert heading(response) == "Check your inbox"
    store = site.parts.subscribers
    pending = store.find(ANA)
    assert pending is not None
    assert pending.status is Status.PENDING
    assert pending.name == "Ana Lima"
    subscription = store.subscription(pending.id, "daily")
    assert subscription is not None
    assert subscription.status is SubscriptionStatus.PENDING
    assert subscription.sections == ("Science", "Culture")
    assert audience(site) == []

    (mail,) = messages(site.outbox)
    assert mail["To"] == f"Ana Lima <{ANA}>"
    assert mail["Subject"] == "Confirm your subscription to The Meridian Daily"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail["Message-ID"] == f"<confirm-daily.{pending.id}-1@meridian.example>"
    assert mail["Feedback-ID"] == f"daily:confirm:{pending.id}"
    assert "Hello Ana Lima," in text_of(mail)
    link = confirm_link(mail)
    assert link.startswith(f"{PUBLIC_URL}/confirm/")

    confirmed = client.get(path_of(link))
    assert confirmed.status_code == 200
    assert heading(confirmed) == "You're subscribed to The Meridian Daily"
    active = store.find(ANA)
    assert active is not None
    assert active.status is Status.ACTIVE
    assert audience(site) == [pending.id]
    preferences = re.search(r'href="([^"]*/preferences/[^"]+)"', confirmed.text)
    assert preferences
    assert client.get(path_of(preferences.group(1))).status_code == 200
    assert client.get(path_of(link)).status_code == 200  # twice is the same page


def test_the_answer_never_tells_whether_an_address_is_known(
    site: WebApp, client: AppClient
) -> None:
    subscribed(site, client)
    site.parts.subscribers.suppress("eve@example.org", "complaint", Source.PROVIDER)
    before = len(messages(site.outbox))
    new = sign_up(client, "bo@example.org")
    known = sign_up(client, ANA)
    blocked = sign_up(client, "eve@example.org")
    assert [r.status_code for r in (new, known, blocked)] == [200, 200, 200]
    assert {heading(r) for r in (new, known, blocked)} == {"Check your inbox"}
    assert known.text.replace(ANA, "X") == new.text.replace("bo@example.org", "X")
    assert blocked.text.replace("eve@example.org", "X") == new.text.replace("bo@example.org", "X")
    assert len(messages(site.outbox)) == before + 1  # only the new address gets mail


def test_sign_up_form_errors_are_shown_and_nothing_is_stored(
    site: WebApp, client: AppClient
) -> None:
    bad_address = sign_up(client, "not an address")
    assert bad_address.status_code == 400
    assert "Please check the email address" in bad_address.text
    assert 'aria-invalid="true"' in bad_address.text
    bad_section = sign_up(client, **{"sections.daily": ["Science", "Sport"]})
    assert bad_section.status_code == 400
    assert "&#39;Sport&#39; is not a section of The Meridian Daily." in bad_section.text
    no_section = sign_up(client, **{"sections.daily": []})
    assert no_section.status_code == 400
    assert "Please choose at least one section." in no_section.text
    wrong_newsletter = sign_up(client, newsletter="sport")
    assert wrong_newsletter.status_code == 400
    assert "Please choose a newsletter." in wrong_newsletter.text
    assert site.parts.subscribers.find(ANA) is None
    assert messages(site.outbox) == []


def test_every_section_ticked_means_all_sections(site: WebApp, client: AppClient) -> None:
    sign_up(client, **{"sections.daily": ["Culture", "science", "Technology"]})
    found = site.parts.subscribers.find(ANA)
    assert found is not None
    subscription = site.parts.subscribers.subscription(found.id, "daily")
    assert subscription is not None
    assert subscription.sections is None


def test_get_on_unsubscribe_never_unsubscribes(site: WebApp, client: AppClient) -> None:
    ana = subscribed(site, client)
    page = client.get(f"/unsubscribe/{token(Purpose.UNSUBSCRIBE, ana)}")
    assert page.status_code == 200
    assert heading(page) == "Unsubscribe from The Meridian Daily?"
    assert "Unsubscribe from The Meridian Daily</button>" in page.text
    assert '<input type="hidden" name="scope" value="all">' in page.text
    client.request("HEAD", f"/unsubscribe/{token(Purpose.UNSUBSCRIBE, ana)}")
    assert audience(site) == [ana]


@pytest.mark.parametrize("encoding", ["form", "multipart"])
def test_one_click_unsubscribes_from_that_newsletter_only(
    site: WebApp, client: AppClient, encoding: str
) -> None:
    ana = subscribed(site, client)
    sign_up(client, newsletter="weekend", **{"sections.weekend": ["Travel"]})
    assert client.get(path_of(confirm_link(messages(site.outbox)[-1]))).status_code == 200
    assert audience(site, "weekend") == [ana]
    url = path_of(unsubscribe_link(messages(site.outbox)[0]))  # from the daily's mail
    body = {"List-Unsubscribe": "One-Click"}
    for _ in range(2):  # a second post is harmless
        if encoding == "form":
            response = client.post(url, data=body)
        else:
            response = client.post(url, files={"List-Unsubscribe": (None, "One-Click")})
        assert response.status_code == 200
        assert "location" not in response.headers
        assert "set-cookie" not in response.headers
        assert heading(response) == "You're unsubscribed from The Meridian Daily"
    assert audience(site) == []  # honoured before the next edition is planned
    assert audience(site, "weekend") == [ana]
    found = site.parts.subscribers.find(ANA)
    assert found is not None
    assert found.status is Status.ACTIVE
    kinds = [e.kind for e in site.parts.subscribers.events(ana)]
    assert kinds.count("unsubscribed") == 1


def test_unsubscribe_from_everything(site: WebApp, client: AppClient) -> None:
    ana = subscribed(site, client)
    response = client.post(f"/unsubscribe/{token(Purpose.UNSUBSCRIBE, ana)}", data={"scope": "all"})
    assert response.status_code == 200
    assert heading(response) == "You're unsubscribed from The Meridian Review"
    found = site.parts.subscribers.find(ANA)
    assert found is not None
    assert found.status is Status.UNSUBSCRIBED


def test_forged_tokens_get_400_and_change_nothing(site: WebApp, client: AppClient) -> None:
    ana = subscribed(site, client)
    history = site.parts.subscribers.events(ana)
    requests = [
        ("post", f"/unsubscribe/{forged(token(Purpose.UNSUBSCRIBE, ana))}", {"scope": "all"}),
        ("get", f"/unsubscribe/{forged(token(Purpose.UNSUBSCRIBE, ana))}", None),
        ("get", f"/confirm/{forged(token(Purpose.CONFIRM, ana))}", None),
        (
            "post",
            f"/preferences/{forged(token(Purpose.PREFERENCES, ana))}",
            {"sections": "Science"},
        ),
        ("get", f"/view/{forged(token(Purpose.VIEW, ana, edition_id='x'))}", None),
        # a valid token of another purpose is no better than a forged one
        ("post", f"/unsubscribe/{token(Purpose.PREFERENCES, ana)}", {"scope": "all"}),
    ]
    for method, url, data in requests:
        response = client.request(method, url, data=data)
        assert response.status_code == 400, url
        assert heading(response) == "This link is not valid"
    assert site.parts.subscribers.events(ana) == history
    assert audience(site) == [ana]


def test_expired_confirmation_link_gets_410_and_changes_nothing(
    site: WebApp, client: AppClient
) -> None:
    sign_up(client)
    pending = site.parts.subscribers.find(ANA)
    assert pending is not None
    eight_days_ago = datetime.now(UTC) - timedelta(days=8)
    old = Tokens(SECRET, clock=lambda: eight_days_ago).make(Purpose.CONFIRM, pending.id, "daily")
    response = client.get(f"/confirm/{old}")
    assert response.status_code == 410
    assert heading(response) == "This link has expired"
    assert 'href="/subscribe">Sign up again</a>' in response.text
    still = site.parts.subscribers.find(ANA)
    assert still is not None
    assert still.status is Status.PENDING


def test_rotated_secret_still_accepts_links_signed_with_the_old_one(tmp_path: Path) -> None:
    old_secret = "the-secret-we-used-last-year"
    with running_site(tmp_path, PUBLIC_URL) as site, app_client(site.app) as client:
        ana = subscribed(site, client)
    old_link = f"/unsubscribe/{Tokens(old_secret).make(Purpose.UNSUBSCRIBE, ana, 'daily')}"
    rotated: dict[str, Any] = {
        "secret_key": "the-brand-new-secret-of-2027",
        "old_secret_keys": [old_secret],
    }
    with running_site(tmp_path, PUBLIC_URL, **rotated) as site, app_client(site.app) as client:
        assert client.get(old_link).status_code == 200
    with running_site(tmp_path, PUBLIC_URL) as site, app_client(site.app) as client:
        assert client.get(old_link).status_code == 400  # once the old one is dropped


def test_preferences_save_sections_zone_and_hour(site: WebApp, client: AppClient) -> None:
    ana = subscribed(site, client)
    url = f"/preferences/{token(Purpose.PREFERENCES, ana)}"
    page = client.get(url)
    assert page.status_code == 200
    assert 'name="sections" value="Science" checked' in page.text
    assert 'name="sections" value="Technology">' in page.text
    assert '<option value="" selected>The newsletter\'s own (Europe/Paris)</option>' in page.text
    assert 'value="each" checked' in page.text
    assert 'value="weekly"' not in page.text  # the daily offers no roll-up
    saved = client.post(
        url,
        data={
            "sections": ["Technology", "Culture"],
            "cadence": "each",
            "timezone": "America/Sao_Paulo",
            "send_hour": "7",
        },
    )
    assert saved.status_code == 200
    assert "Saved." in saved.text
    assert "<option selected>America/Sao_Paulo</option>" in saved.text
    assert '<option value="7" selected>07:00 in your time zone</option>' in saved.text
    store = site.parts.subscribers
    subscription = store.subscription(ana, "daily")
    subscriber = store.get(ana)
    assert subscription is not None
    assert subscriber is not None
    assert subscription.sections == ("Technology", "Culture")
    assert (subscriber.timezone, subscriber.send_hour) == ("America/Sao_Paulo", 7)
    (member,) = next(store.audience("daily"))
    assert member.sections == ("Technology", "Culture")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "sections",
            ["Science", "Sport"],
            "&#39;Sport&#39; is not a section of The Meridian Daily.",
        ),
        ("sections", [], "Please choose at least one section"),
        ("timezone", "Mars/Olympus_Mons", "&#39;Mars/Olympus_Mons&#39; is not a time zone we know"),
        ("send_hour", "24", "Choose an hour from the list"),
        ("cadence", "weekly", "The Meridian Daily has no &#39;weekly&#39; delivery."),
    ],
)
def test_preferences_refuse_bad_values_and_save_nothing(
    site: WebApp, client: AppClient, field: str, value: str | list[str], message: str
) -> None:
    ana = subscribed(site, client)
    history = site.parts.subscribers.events(ana)
    data: dict[str, str | list[str]] = {"sections": ["Science"], "timezone": "", "send_hour": ""}
    data[field] = value
    response = client.post(f"/preferences/{token(Purpose.PREFERENCES, ana)}", data=data)
    assert response.status_code == 400
    assert message in response.text
    assert "Nothing was saved" in response.text
    assert site.parts.subscribers.events(ana) == history


def test_rate_limits_answer_429_with_a_page(tmp_path: Path) -> None:
    limits = Limits(per_address=Rule("address", 2), per_client=Rule("client", 4))
    with running_site(tmp_path, PUBLIC_URL, limits=limits) as site, app_client(site.app) as client:
        assert [sign_up(client).status_code for _ in range(3)] == [200, 200, 429]
        assert sign_up(client, "bo@example.org").status_code == 200  # the client's 4th
        refused = sign_up(client, "cy@example.org")
        assert refused.status_code == 429
        assert heading(refused) == "Too many sign-ups"
        assert 0 < int(refused.headers["retry-after"]) <= 3600
        assert len(messages(site.outbox)) == 3  # ana's first two sign-ups and bo's


def test_view_shows_the_edition_as_the_subscriber_got_it(site: WebApp, client: AppClient) -> None:
    ana = subscribed(site, client)
    snap = snapshot()
    now = datetime.now(UTC)
    site.parts.editions.insert(
        Edition(snap["edition_id"], "daily", now, None, now - timedelta(days=1), False, snap, now),
        [],
    )
    page = client.get(f"/view/{token(Purpose.VIEW, ana, edition_id=snap['edition_id'])}")
    assert page.status_code == 200
    assert "Hello Ana Lima," in page.text
    assert "Science story number 1" in page.text
    assert "Economy story number 1" not in page.text  # not one of her sections
    assert "script-src" not in page.headers["content-security-policy"]
    unknown = client.get(f"/view/{token(Purpose.VIEW, ana, edition_id='f' * 16)}")
    assert unknown.status_code == 404
    assert heading(unknown) == "This edition is not available"


def test_errors_are_pages_never_tracebacks(client: AppClient) -> None:
    missing = client.get("/nowhere")
    assert missing.status_code == 404
    assert heading(missing) == "Page not found"
    wrong_method = client.request("PUT", "/subscribe")
    assert wrong_method.status_code == 405
    assert heading(wrong_method) == "Not allowed"
    for response in (missing, wrong_method):
        assert response.headers["content-type"].startswith("text/html")
        assert "Traceback" not in response.text


def test_pages_are_private_and_script_free(client: AppClient) -> None:
    page = client.get("/subscribe")
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    assert "script-src" not in page.headers["content-security-policy"]
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert '<a class="skip" href="#main">' in page.text
    assert '<main id="main"' in page.text
    css = client.get("/site.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")


def test_an_override_folder_replaces_a_web_page(tmp_path: Path) -> None:
    override = tmp_path / "templates" / "web"
    override.mkdir(parents=True)
    (override / "check_inbox.html").write_text(
        '{% extends "web/base.html" %}{% block content %}<h1>Look for our mail</h1>'
        "{% endblock %}\n",
        encoding="utf-8",
    )
    with (
        running_site(tmp_path, PUBLIC_URL, templates_dir=tmp_path / "templates") as site,
        app_client(site.app) as client,
    ):
        assert heading(sign_up(client)) == "Look for our mail"


def test_serve_help_has_an_example() -> None:
    result = CliRunner().invoke(cli, ["serve", "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output
    assert "--host" in result.output
    assert "127.0.0.1" in result.output


def test_an_unexpected_failure_is_a_500_page(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "outbox-file"
    not_a_folder.write_text("the outbox setting points at a file\n", encoding="utf-8")
    with (
        running_site(tmp_path, PUBLIC_URL, outbox_dir=not_a_folder) as site,
        app_client(site.app) as client,
    ):
        response = sign_up(client)
    assert response.status_code == 500
    assert heading(response) == "Something went wrong on our side"
    assert "Traceback" not in response.text
    assert "outbox-file" not in response.text


def test_weekly_roll_up_is_offered_where_the_newsletter_has_one(
    site: WebApp, client: AppClient
) -> None:
    fields: dict[str, str | list[str]] = {"newsletter": "weekend", "sections.weekend": ["Economy"]}
    assert sign_up(client, "bo@example.org", **fields).status_code == 200
    assert client.get(path_of(confirm_link(messages(site.outbox)[-1]))).status_code == 200
    bo = site.parts.subscribers.find("bo@example.org")
    assert bo is not None
    url = f"/preferences/{token(Purpose.PREFERENCES, bo.id, 'weekend')}"
    assert 'value="weekly"' in client.get(url).text
    saved = client.post(url, data={"sections": ["Economy"], "cadence": "weekly"})
    assert saved.status_code == 200
    store = site.parts.subscribers
    assert audience(site, "weekend") == []
    weekly = [m.id for page in store.audience("weekend", cadence=Cadence.WEEKLY) for m in page]
    assert weekly == [bo.id]
