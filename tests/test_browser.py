"""A rendered digest in a real browser: headless Chromium at phone and desktop widths.

Uses Debian's chromium (``.ci/run`` installs it) driven by Playwright with its executable
path; screenshots go to test-output/ for a person to look at.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO
from snapshots import LONGEST, READER, snapshot, values_for

from digest.render.templates import TemplateSet
from digest.render.variants import EditionRenderer, RenderOptions

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
OUTPUT = REPO / "test-output" / "browser"
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's chromium under Playwright; skips the test when it is not installed."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def digest_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    snap = snapshot()
    snap["sections"][0]["articles"][0]["title"] = (
        "An unusually long headline with a word like Donaudampfschifffahrtsgesellschaftskapitän "
        "that must wrap rather than push the layout sideways"
    )
    renderer = EditionRenderer(
        TemplateSet(), snap, RenderOptions(base_url="https://news.example.com"), values_for(LONGEST)
    )
    variant = renderer.variant(None)
    assert variant is not None
    path = tmp_path_factory.mktemp("digest") / "digest.html"
    path.write_text(variant.html.fill(values_for(READER)), encoding="utf-8")
    return path


@pytest.mark.parametrize("width", [375, 600])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_horizontal_overflow(
    browser: object, digest_file: Path, width: int, scheme: str
) -> None:
    page = browser.new_page(viewport={"width": width, "height": 800}, color_scheme=scheme)  # type: ignore[attr-defined]
    page.goto(digest_file.as_uri())
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    widest = page.evaluate(
        "Math.max(...[...document.querySelectorAll('body *')]"
        ".map(e => e.getBoundingClientRect().right))"
    )
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"digest-{width}-{scheme}.png"), full_page=True)
    assert scroll_width <= width
    assert widest <= width + 0.5
    heading = page.locator("h1").first
    assert heading.inner_text() == "The Meridian Daily"
    page.close()


def test_phone_width_stacks_to_one_column(browser: object, digest_file: Path) -> None:
    page = browser.new_page(viewport={"width": 375, "height": 800})  # type: ignore[attr-defined]
    page.goto(digest_file.as_uri())
    boxes = page.evaluate(
        "[...document.querySelectorAll('h3')].slice(0, 3).map(e => e.getBoundingClientRect().left)"
    )
    assert len(boxes) == 3
    assert max(boxes) - min(boxes) < 1  # every card starts at the same left edge
    page.close()
