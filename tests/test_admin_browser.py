"""The editors' preview in headless Chromium (Debian's, through Playwright), against the
app on a real uvicorn server with the demo's newsletters, corpus and subscribers.

Log in; open the next edition's preview; photograph it at desktop width; switch to phone
width and check the email itself has no horizontal overflow at 375 px; view it as Lena,
who chose Culture and Travel, and see only those sections; pin an article that was out
and see it in the email; approve. Screenshots go to test-output/admin/.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from conftest import REPO
from test_browser import chromium
from webapp import EDITOR, EDITOR_PASSWORD, WebApp, demo_site, listening, serving

OUTPUT = REPO / "test-output" / "admin"
LAPTOP = {"width": 1280, "height": 900}
LENA = "lena.reader12@example.org"  # Culture and Travel (digest/demo/subscribers.csv)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, WebApp]]:
    with (
        listening() as (listener, base),
        demo_site(tmp_path_factory.mktemp("admin"), base) as site,
        serving(site.app, listener),
    ):
        yield base, site


@pytest.fixture(scope="module")
def page() -> Iterator[Any]:
    with chromium() as browser:
        yield browser.new_context(viewport=LAPTOP).new_page()


def shoot(page: Any, name: str) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"{name}.png"), full_page=True)


def email_frame(page: Any) -> Any:
    handle = page.wait_for_selector("iframe#email")
    frame = handle.content_frame()
    frame.wait_for_load_state()
    return frame


def test_log_in_preview_phone_view_as_pin_approve(server: tuple[str, WebApp], page: Any) -> None:
    base, site = server
    page.goto(f"{base}/admin/")
    assert "/admin/login" in page.url
    page.get_by_label("Name").fill(EDITOR)
    page.get_by_label("Password").fill(EDITOR_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/admin/")
    assert page.locator("h1").inner_text() == "Newsletters"

    page.get_by_role("link", name="Preview the next edition").click()
    page.wait_for_selector("iframe#email")
    assert page.locator("iframe#email").get_attribute("width") == "600"
    frame = email_frame(page)
    assert "Sample Reader" in frame.locator("body").inner_text()
    shoot(page, "preview-desktop")

    page.get_by_role("link", name="Phone (375 px)").click()
    assert page.locator("iframe#email").get_attribute("width") == "375"
    frame = email_frame(page)
    scroll_width = frame.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= 375, f"the email is {scroll_width}px wide at phone width"
    shoot(page, "preview-phone")

    lena = site.parts.subscribers.find(LENA)
    assert lena is not None
    page.get_by_label("View as subscriber").select_option(str(lena.id))
    page.get_by_role("button", name="Show").click()
    page.wait_for_selector("text=sections: Culture, Travel.")
    # the text content, not the rendered text: section labels are upper-cased by CSS
    text = email_frame(page).locator("body").text_content()
    assert "Lena" in text
    assert "Culture" in text
    assert "Travel" in text
    for other in ("Political history", "Science", "Technology", "Economy"):
        assert other not in text, f"{other} shown to a reader who did not choose it"
    shoot(page, "preview-as-lena")

    pin = page.locator("tr.out", has=page.get_by_role("button", name="Pin")).first
    section = pin.locator("td").nth(0).inner_text()
    title = pin.locator("td").nth(1).inner_text()
    pin.get_by_role("button", name="Pin").click()
    page.wait_for_selector("text=Pinned")
    assert f"pinned by {EDITOR}" in page.locator("table.why").inner_text()
    page.get_by_label("View as subscriber").select_option("")
    page.get_by_role("button", name="Show").click()
    frame_text = email_frame(page).locator("body").text_content()
    assert title in frame_text, f"the pinned {section} article {title!r} is not in the email"

    page.get_by_role("button", name="Approve this edition").click()
    page.wait_for_selector(f"text=Approved by {EDITOR}")
    shoot(page, "preview-approved")
