"""The subscriber's whole path in headless Chromium, against a real uvicorn server.

Subscribe with the form, confirm from the link in the mail the outbox received, follow on
to the preferences, change them, then leave from the mail's unsubscribe link and its
button. Every page is checked for sideways scrolling at a phone's 375 px and
photographed into test-output/web/ for a person to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from conftest import REPO
from test_browser import chromium
from webapp import (
    WebApp,
    confirm_link,
    listening,
    messages,
    running_site,
    serving,
    unsubscribe_link,
)

from subscribers.model import SubscriptionStatus

if TYPE_CHECKING:
    from playwright.sync_api import ViewportSize

OUTPUT = REPO / "test-output" / "web"
PHONE: ViewportSize = {"width": 375, "height": 740}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, WebApp]]:
    """The app on uvicorn in a thread, on a port the OS picked; its URL and parts."""
    with (
        listening() as (listener, base),
        running_site(tmp_path_factory.mktemp("web"), base) as site,
        serving(site.app, listener),
    ):
        yield base, site


@pytest.fixture(scope="module")
def page() -> Iterator[Any]:
    with chromium() as browser:
        yield browser.new_context(viewport=PHONE).new_page()


def looks_right(page: Any, name: str, heading: str) -> None:
    """The page's heading, no horizontal overflow at 375 px, and a screenshot."""
    assert page.locator("h1").inner_text() == heading
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"{name}.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    widest = page.evaluate(
        "Math.max(...[...document.querySelectorAll('body *')]"
        ".map(e => e.getBoundingClientRect().right))"
    )
    assert widest <= PHONE["width"] + 0.5, f"{name}: something is {widest}px wide"


def test_subscribe_confirm_preferences_unsubscribe(server: tuple[str, WebApp], page: Any) -> None:
    base, site = server
    store = site.parts.subscribers

    page.goto(f"{base}/subscribe")
    looks_right(page, "subscribe", "Subscribe")
    page.get_by_label("Email address").fill("ana.lima@example.org")
    page.get_by_label("Name").fill("Ana Lima")
    page.get_by_role("radio", name="The Meridian Daily").check()
    page.get_by_role("checkbox", name="Technology").uncheck()
    page.get_by_role("button", name="Subscribe").click()
    looks_right(page, "check-inbox", "Check your inbox")

    (mail,) = messages(site.outbox)
    page.goto(confirm_link(mail))
    looks_right(page, "confirmed", "You're subscribed to The Meridian Daily")
    page.get_by_role("link", name="Choose your sections and delivery time").click()
    looks_right(page, "preferences", "Your preferences for The Meridian Daily")
    assert page.get_by_role("checkbox", name="Science").is_checked()
    assert not page.get_by_role("checkbox", name="Technology").is_checked()
    page.get_by_role("checkbox", name="Culture").uncheck()
    page.get_by_role("checkbox", name="Technology").check()
    page.get_by_label("Your time zone").select_option("Asia/Tokyo")
    page.get_by_label("Deliver at").select_option("7")
    page.get_by_role("button", name="Save my preferences").click()
    assert page.get_by_role("status").inner_text().startswith("Saved.")
    looks_right(page, "preferences-saved", "Your preferences for The Meridian Daily")
    found = store.find("ana.lima@example.org")
    assert found is not None
    assert (found.timezone, found.send_hour) == ("Asia/Tokyo", 7)
    subscription = store.subscription(found.id, "daily")
    assert subscription is not None
    assert subscription.sections == ("Science", "Technology")

    page.goto(unsubscribe_link(mail))
    looks_right(page, "unsubscribe", "Unsubscribe from The Meridian Daily?")
    subscription = store.subscription(found.id, "daily")
    assert subscription is not None
    assert subscription.status is SubscriptionStatus.ACTIVE  # opening the page did nothing
    page.get_by_role("button", name="Unsubscribe from The Meridian Daily").click()
    looks_right(page, "unsubscribed", "You're unsubscribed from The Meridian Daily")
    assert [m for batch in store.audience("daily") for m in batch] == []


def test_error_pages_fit_a_phone(server: tuple[str, WebApp], page: Any) -> None:
    base, _ = server
    page.goto(f"{base}/unsubscribe/not-a-token")
    looks_right(page, "invalid-link", "This link is not valid")
    page.goto(f"{base}/subscribe?newsletter=daily")
    page.get_by_label("Email address").fill("x" * 70 + "@no")
    page.get_by_role("button", name="Subscribe").click()
    looks_right(page, "subscribe-error", "Subscribe to The Meridian Daily")
    assert "Please check the email address" in page.get_by_role("alert").inner_text()
