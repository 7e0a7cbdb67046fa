"""Rendering: templates, variants, personal fields, the size guard and hostile article text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import ACTIVE_MARKUP
from snapshots import LONGEST, READER, snapshot, values_for

from digest.errors import ConfigError
from digest.render.confirmation import render_confirmation
from digest.render.personal import PersonalTemplate, Placeholders, Recipient
from digest.render.templates import TemplateSet
from digest.render.variants import EditionRenderer, RenderOptions

GOLDEN = Path(__file__).resolve().parent / "golden"
BASE = "https://news.example.com"


def renderer(snap: dict[str, object], budget: int = 95_000) -> EditionRenderer:
    templates = TemplateSet()
    templates.check()
    options = RenderOptions(base_url=BASE, budget_bytes=budget)
    return EditionRenderer(templates, snap, options, values_for(LONGEST))


def test_default_templates_compile_and_match_the_golden_files(
    request: pytest.FixtureRequest,
) -> None:
    variant = renderer(snapshot(sections=2, per_section=2)).variant(None)
    assert variant is not None
    html = variant.html.fill(values_for(READER))
    text = variant.text.fill(values_for(READER))
    for name, rendered in (("digest.html", html), ("digest.txt", text)):
        golden = GOLDEN / name
        if request.config.getoption("--update-golden"):
            golden.write_text(rendered, encoding="utf-8")
        assert rendered == golden.read_text(encoding="utf-8"), (
            f"{name} differs from its golden file"
        )


def test_variant_has_the_subscribers_sections_in_the_newsletters_order() -> None:
    render = renderer(snapshot(sections=4, per_section=1))
    variant = render.variant(["culture", "Economy", "Science", "Sport"])
    assert variant is not None
    assert variant.sections == ("Science", "Economy")
    text = variant.text.fill(values_for(READER))
    assert text.index("== SCIENCE ==") < text.index("== ECONOMY ==")
    assert "== POLITICAL HISTORY ==" not in text
    assert render.variant(["Sport"]) is None
    assert render.variant(["science", "economy"]) is variant  # compiled once, remembered


def test_subject_and_preheader_come_from_the_sandboxed_patterns() -> None:
    variant = renderer(snapshot(sections=2, per_section=3)).variant(["Science"])
    assert variant is not None
    assert variant.subject == (
        "The Meridian Daily #42: Science story number 1: a headline of ordinary length"
    )
    assert variant.preheader == "3 articles, Friday 27 November 2026"
    html = variant.html.fill(values_for(READER))
    assert "3 articles, Friday 27 November 2026" in html  # the hidden preheader


def test_a_pattern_cannot_reach_python_internals() -> None:
    snap = snapshot(sections=1, per_section=1, subject="{{ newsletter.__class__.__mro__ }}")
    with pytest.raises(ConfigError, match="subject pattern"):
        renderer(snap).variant(None)


HOSTILE = {
    "title": '<script>alert(1)</script> "><img src=x onerror=alert(2)> {{ 7*7 }}',
    "summary": "{% for x in range(3) %}loop{% endfor %} and <b>bold</b> & {{ config }}",
    "author": '"><svg onload=alert(3)> {% raw %}',
}


def test_hostile_article_text_stays_inert_text() -> None:
    snap = snapshot(sections=1, per_section=1)
    snap["sections"][0]["articles"][0].update(HOSTILE)
    variant = renderer(snap).variant(None)
    assert variant is not None
    html = variant.html.fill(values_for(READER))
    text = variant.text.fill(values_for(READER))
    assert not ACTIVE_MARKUP.search(html.replace('<script type="', ""))
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "{{ 7*7 }}" in html  # shown as typed, never evaluated
    assert "49" not in html
    assert "{% for x in range(3) %}loop{% endfor %}" in html
    assert "looplooploop" not in html
    assert "&#34;&gt;&lt;svg onload=alert(3)&gt;" in html or "&quot;&gt;&lt;svg" in html
    assert HOSTILE["title"] in text  # the plain-text part shows exactly what was written
    assert HOSTILE["summary"] in text


def test_personal_values_are_escaped_for_where_they_go() -> None:
    variant = renderer(snapshot(sections=1, per_section=1)).variant(None)
    assert variant is not None
    sly = Recipient('4"2', 'o"hara&co@example.org', "<b>Bobby</b> & Co")
    values = values_for(sly)
    html = variant.html.fill(values)
    text = variant.text.fill(values)
    assert "Hello &lt;b&gt;Bobby&lt;/b&gt; &amp; Co," in html
    assert "<b>Bobby</b>" not in html
    assert 'href="https://digest.meridian.example/unsubscribe/daily/4%222"' in html
    assert "o&quot;hara&amp;co@example.org" not in html  # text context: quotes need no escape
    assert 'o"hara&amp;co@example.org' in html
    assert "Hello <b>Bobby</b> & Co," in text


def test_placeholders_split_once_and_fill_every_slot() -> None:
    marks = Placeholders()
    compiled = f'<a href="{marks.attr("view_url")}">{marks.text("name")}</a>{marks.text("name")}'
    template = PersonalTemplate.parse(compiled)
    assert template.fields == {"view_url", "name"}
    filled = template.fill({"view_url": "https://x.example/?a=1&b=2", "name": "A&B"})
    assert filled == '<a href="https://x.example/?a=1&amp;b=2">A&amp;B</a>A&amp;B'
    with pytest.raises(KeyError, match="unknown personal field"):
        marks.text("password")


def test_size_guard_trims_in_order_and_records_each_step() -> None:
    full = renderer(snapshot()).variant(None)
    assert full is not None
    assert full.trimmed == ()
    assert full.html_bytes < 95_000
    budget = full.html_bytes * 8 // 10
    tight = renderer(snapshot(), budget=budget).variant(None)
    assert tight is not None
    assert tight.html_bytes <= budget
    steps = [re.sub(r" \(\d+ to \d+ bytes\)$", "", step) for step in tight.trimmed]
    assert steps[:2] == [
        "leaner markup: one block per section",
        "summaries cut to their first sentence",
    ]
    assert steps[2].startswith("left out the last article of ")
    html = tight.html.fill(values_for(READER))
    text = tight.text.fill(values_for(READER))
    assert "More in " in html
    assert f"{BASE}/culture" in html or f"{BASE}/economy" in html
    assert "More in " in text
    assert not tight.over_budget


def test_size_guard_says_when_it_cannot_reach_the_budget() -> None:
    variant = renderer(snapshot(), budget=5_000).variant(None)
    assert variant is not None
    assert variant.over_budget
    assert variant.trimmed[-1].startswith("still over the budget by ")


def test_every_link_is_http_and_utm_tagged_when_asked() -> None:
    utm = {"source": "meridian", "medium": "email", "campaign": "daily"}
    snap = snapshot(sections=1, per_section=2, utm=utm)
    snap["sections"][0]["articles"][1]["url"] = "javascript:alert(1)"
    snap["sections"][0]["articles"][1]["related"][0]["url"] = "data:text/html,<script>x</script>"
    variant = renderer(snap).variant(None)
    assert variant is not None
    html = variant.html.fill(values_for(READER))
    hrefs = re.findall(r'href="([^"]+)"', html)
    assert hrefs
    assert all(h.startswith("https://") for h in hrefs)
    article_links = [h for h in hrefs if h.startswith(BASE)]
    assert article_links
    assert all(
        "utm_source=meridian&amp;utm_medium=email&amp;utm_campaign=daily" in h
        for h in article_links
    )
    personal = [h for h in hrefs if h.startswith("https://digest.meridian.example")]
    assert personal
    assert not any("utm_" in h for h in personal)


def test_accessibility_basics_in_the_compiled_html() -> None:
    snap = snapshot(sections=1, per_section=1)
    snap["sections"][0]["articles"][0]["image_url"] = "https://news.example.com/tides.jpg"
    variant = renderer(snap).variant(None)
    assert variant is not None
    html = variant.html.fill(values_for(READER))
    assert re.search(r'<html[^>]* lang="en"', html)
    tables = re.findall(r"<table[^>]*>", html)
    assert tables
    assert all('role="presentation"' in t for t in tables)
    images = re.findall(r"<img[^>]*>", html)
    assert images
    assert all(re.search(r'alt="[^"]+"', img) for img in images)
    assert ">Unsubscribe from The Meridian Daily</a>" in html
    assert "prefers-color-scheme: dark" in html
    assert 'content="light dark"' in html


def test_broken_override_template_is_reported_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "article.mjml").write_text("<p>\n{{ article.title \n</p>\n")
    with pytest.raises(ConfigError, match=r"article\.mjml, line 3: template error"):
        TemplateSet(tmp_path).check()


def test_override_replaces_one_file_and_keeps_the_rest(tmp_path: Path) -> None:
    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "more.mjml").write_text("<p>See the rest on our site.</p>\n")
    templates = TemplateSet(tmp_path)
    templates.check()
    render = EditionRenderer(
        templates,
        snapshot(),
        RenderOptions(base_url=BASE, budget_bytes=40_000),
        values_for(LONGEST),
    )
    variant = render.variant(None)
    assert variant is not None
    assert "See the rest on our site." in variant.html.fill(values_for(READER))


def test_templates_dir_that_is_not_a_folder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="DIGEST_TEMPLATES_DIR"):
        TemplateSet(tmp_path / "nowhere")


def test_confirmation_mail() -> None:
    templates = TemplateSet()
    mail = render_confirmation(
        templates,
        {"name": "The Meridian Review", "postal_address": "1 Harbour Street"},
        {"title": "The Meridian Daily", "name": "daily"},
        "https://digest.meridian.example/confirm/abc",
        {"greeting": "Hello Ana,", "email": "ana@example.org"},
    )
    assert mail.subject == "Confirm your subscription to The Meridian Daily"
    assert 'href="https://digest.meridian.example/confirm/abc"' in mail.html
    assert "Confirm my subscription to The Meridian Daily" in mail.html
    assert "Confirm: https://digest.meridian.example/confirm/abc" in mail.text
    with pytest.raises(ValueError, match="must be http"):
        render_confirmation(templates, {}, {"title": "x"}, "javascript:alert(1)", {})
