"""The email-client linter: feature detection, levels, and real MJML output against caniemail."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import pytest
from mjml import mjml2html

from digest.errors import ConfigError
from digest.render.lint import (
    TARGETS,
    FeatureSupport,
    Finding,
    Support,
    default_support_folder,
    detect_features,
    lint,
    load_support,
)

GOLDEN_DIGEST = Path(__file__).resolve().parent / "golden" / "digest.html"

# --------------------------------------------------------------------------- detection


def test_style_attribute_properties_fold_longhands_onto_the_tested_slug() -> None:
    found = detect_features(
        '<div style="margin-top:4px; padding-left:2em; border-top:1px solid red;'
        " background:url('a.png') no-repeat; max-width:50%; -webkit-border-radius:3px;"
        ' color:rgba(0,0,0,.5) !important; mso-line-height-rule:exactly">x</div>'
    )
    for slug in (
        "html-div",
        "css-margin",
        "css-padding",
        "css-border",
        "css-background",
        "css-background-image",
        "image-png",
        "css-max-width",
        "css-border-radius",
        "css-rgba",
        "css-important",
        "css-unit-px",
        "css-unit-em",
        "css-unit-percent",
    ):
        assert slug in found, slug
    assert found["css-margin"] == "<div style=…> margin-top:4px"
    assert found["css-important"].endswith("color:rgba(0,0,0,.5) !important")
    assert not [slug for slug in found if "mso" in slug or slug == "css-color"]


def test_display_values_units_and_functions() -> None:
    found = detect_features(
        '<p style="display:flex">a</p><span style="display:inline-grid">b</span>'
        '<div style="display:none;width:calc(100% - 2rem);font-size:clamp(1rem,2vw,2rem);'
        'background-image:linear-gradient(#fff,#000);height:fit-content;color:var(--ink)">c</div>'
    )
    for slug in (
        "css-display",
        "css-display-flex",
        "css-display-grid",
        "css-display-none",
        "css-unit-calc",
        "css-unit-rem",
        "css-unit-vw",
        "css-function-clamp",
        "css-linear-gradient",
        "css-intrinsic-size",
        "css-variables",
    ):
        assert slug in found, slug


def test_style_block_selectors_at_rules_and_comments() -> None:
    found = detect_features(
        "<html><head><style>/* reset */"
        ".a, #b > p + span ~ em { color: red; }"
        "td.x.y:hover { color: blue !important; }"
        "[data-ogsc] * { color: white; }"
        "a::before { content: 'x'; }"
        "@import url(https://fonts.example/f.css);"
        "@font-face { font-family: X; src: url(x.woff2); }"
        "@supports (display: grid) { .g { display: grid; } }"
        "@keyframes spin { from { opacity: 0; } }"
        "@media only screen and (max-width: 480px) { .col { width: 100% !important; } }"
        "@media (prefers-color-scheme: dark) { .d { background-color: #000; } }"
        "</style></head><body><p>x</p></body></html>"
    )
    for slug in (
        "html-style",
        "css-comments",
        "css-selector-grouping",
        "css-selector-class",
        "css-selector-id",
        "css-selector-child",
        "css-selector-adjacent-sibling",
        "css-selector-general-sibling",
        "css-selector-type",
        "css-selector-chaining",
        "css-pseudo-class-hover",
        "css-selector-attribute",
        "css-selector-universal",
        "css-selector-descendant",
        "css-pseudo-element-before",
        "css-important",
        "css-at-import",
        "css-at-font-face",
        "css-at-supports",
        "css-at-keyframes",
        "css-at-media",
        "css-at-media-prefers-color-scheme",
        "css-background-color",
        "css-width",
    ):
        assert slug in found, slug
    assert found["css-at-media"].startswith("<style> @media only screen")
    assert "css-opacity" not in found  # keyframe steps are not rules


def test_html_elements_attributes_and_links() -> None:
    found = detect_features(
        '<!DOCTYPE html><html lang="en" dir="ltr"><head><meta name="color-scheme" content="light">'
        '</head><body><table role="presentation" cellpadding="0" cellspacing="0" width="600" '
        'align="center"><tr><td valign="top" background="bg.gif"><h2>T</h2>'
        '<ul><li><a href="mailto:x@example.com">m</a></li></ul><a href="#top">up</a>'
        '<a href="https://x.example" target="_blank" aria-label="x">x</a>'
        "<blockquote>q</blockquote><hr><strong>s</strong><section>s</section>"
        '<input type="checkbox"><button type="reset">r</button>'
        "</td></tr></table></body></html>"
    )
    for slug in (
        "html-doctype",
        "html-body",
        "html-lang",
        "html-dir",
        "html-meta-color-scheme",
        "html-table",
        "html-role",
        "html-cellpadding",
        "html-cellspacing",
        "html-width",
        "html-align",
        "html-valign",
        "html-background",
        "image-gif",
        "html-h1-h6",
        "html-lists",
        "html-mailto-links",
        "html-anchor-links",
        "html-target",
        "html-aria-label",
        "html-blockquote",
        "html-hr",
        "html-strong",
        "html-semantics",
        "html-input-checkbox",
        "html-button-reset",
    ):
        assert slug in found, slug
    assert "html-doctype" not in detect_features("<div>no doctype</div>")
    assert "html-body" not in detect_features("<div>no body tag</div>")


@pytest.mark.parametrize(
    ("src", "slugs"),
    [
        ("https://x.example/a.PNG?w=600", {"image-png"}),
        ("https://x.example/a.jpeg", {"image-jpg"}),
        ("https://x.example/a.gif#f", {"image-gif"}),
        ("https://x.example/logo.svg", {"image-svg"}),
        ("https://x.example/a.webp", {"image-webp"}),
        ("https://x.example/a.avif", {"image-avif"}),
        ("data:image/png;base64,iVBORw0KGgo=", {"image-base64", "image-png"}),
        ("data:image/svg+xml;base64,PHN2Zz4=", {"image-base64", "image-svg"}),
        ("https://x.example/image?id=3", set()),
    ],
)
def test_images_by_type(src: str, slugs: set[str]) -> None:
    found = detect_features(f'<img src="{src}" alt="">')
    assert {slug for slug in found if slug.startswith("image-")} == slugs


def test_srcset_candidates_are_images_too() -> None:
    found = detect_features('<img src="a.jpg" srcset="a.webp 1x, b.avif 2x" alt="">')
    assert {"html-srcset", "image-jpg", "image-webp", "image-avif"} <= set(found)


def test_mso_conditional_content_is_found_and_marked() -> None:
    found = detect_features(
        '<div><!--[if mso | IE]><table role="presentation"><tr><td style="width:600px;'
        'display:flex"><v:rect style="position:absolute;width:600px"></v:rect>'
        "<![endif]--><p>body</p></div>"
    )
    assert found["css-display-flex"] == "[if mso] <td style=…> display:flex"
    assert found["html-table"] == "[if mso] <table>"
    assert "html-comments" in found
    assert "css-position" not in found  # VML's style attribute is not CSS


def test_empty_and_unparseable_input_has_no_features() -> None:
    assert detect_features("") == {}
    assert detect_features("<!-- only a comment -->") == {}
    assert "css-display" in detect_features('<div style="display:block;;;:;{">x</div>')


# --------------------------------------------------------------------------- levels (made-up data)

GMAIL = ("gmail", "desktop-webmail")
OUTLOOK = ("outlook", "windows")


def made_up_support(stats: Mapping[str, Mapping[tuple[str, str], str]]) -> Support:
    features = {
        slug: FeatureSupport(
            slug=slug,
            title=slug.removeprefix("css-"),
            latest=MappingProxyType(dict(latest)),
            notes_by_num=MappingProxyType(
                {"1": "Partial. Negative values are not supported.", "2": "Removed."}
            ),
        )
        for slug, latest in stats.items()
    }
    return Support(MappingProxyType(features))


def only(findings: tuple[Finding, ...], feature: str) -> Finding:
    (finding,) = [f for f in findings if f.feature == feature]
    return finding


def test_unsupported_is_an_error_with_client_platform_and_notes() -> None:
    support = made_up_support({"css-position": {GMAIL: "n #2", OUTLOOK: "y"}})
    report = lint('<div style="position:relative">x</div>', support, (GMAIL, OUTLOOK))
    finding = only(report.errors, "css-position")
    assert (finding.client, finding.platform, finding.support) == (
        "gmail",
        "desktop-webmail",
        "n #2",
    )
    assert finding.notes == ("Removed.",)
    assert finding.level == "error"
    assert finding.where == "<div style=…> position:relative"
    assert report.warnings == ()
    assert report.as_json()["errors"] == [
        {
            "feature": "css-position",
            "title": "position",
            "client": "gmail",
            "platform": "desktop-webmail",
            "support": "n #2",
            "notes": ["Removed."],
            "where": "<div style=…> position:relative",
        }
    ]


def test_partial_is_a_warning_with_the_resolved_note() -> None:
    support = made_up_support({"css-margin": {GMAIL: "a #1", OUTLOOK: "a #1 #2 #9"}})
    report = lint('<p style="margin:-4px 0">x</p>', support, (GMAIL, OUTLOOK))
    assert report.errors == ()
    gmail, outlook = report.warnings
    assert gmail.notes == ("Partial. Negative values are not supported.",)
    assert outlook.notes == ("Partial. Negative values are not supported.", "Removed.", "#9")


def test_unknown_support_and_features_outside_the_data_are_ignored() -> None:
    support = made_up_support({"css-display": {GMAIL: "u"}, "css-position": {OUTLOOK: "n"}})
    report = lint('<div style="display:block;line-height:2px">x</div>', support, (GMAIL,))
    assert report.errors == report.warnings == ()
    assert {"css-display", "css-line-height", "css-unit-px", "html-div"} <= report.features


def test_graceful_features_are_warnings_saying_why() -> None:
    support = made_up_support(
        {
            "css-at-media": {OUTLOOK: "n"},
            "css-display-flex": {OUTLOOK: "n"},
            "css-border-radius": {OUTLOOK: "n #2"},
            "css-word-spacing": {OUTLOOK: "n"},
            "html-meta-color-scheme": {OUTLOOK: "n"},
        }
    )
    html = (
        '<html><head><meta name="color-scheme" content="light dark"><style>'
        "@media (max-width: 480px) { .c { display: flex; } }</style></head>"
        '<body style="word-spacing:normal"><a style="border-radius:3px">x</a></body></html>'
    )
    report = lint(html, support, (OUTLOOK,))
    assert report.errors == ()  # display:flex only inside @media is not linted at all
    graceful = {f.feature: f for f in report.warnings}
    assert set(graceful) == {
        "css-at-media",
        "css-border-radius",
        "css-word-spacing",
        "html-meta-color-scheme",
    }
    assert all(
        f.notes[0].startswith("unsupported, degrades gracefully: ") for f in graceful.values()
    )
    assert graceful["css-border-radius"].notes[1:] == ("Removed.",)  # the data's note follows
    assert "default value 'normal'" in graceful["css-word-spacing"].notes[0]
    # the same property with a value that matters is an error
    report = lint('<body style="word-spacing:4px">x</body>', support, (OUTLOOK,))
    assert [f.feature for f in report.errors] == ["css-word-spacing"]


def test_a_hiding_means_is_graceful_when_another_in_the_block_works() -> None:
    support = made_up_support({"css-opacity": {OUTLOOK: "n"}, "css-display-none": {OUTLOOK: "y"}})
    hidden = '<div style="display:none;opacity:0;max-height:0">preheader</div>'
    assert lint(hidden, support, (OUTLOOK,)).errors == ()
    assert [
        f.feature for f in lint('<div style="opacity:0">x</div>', support, (OUTLOOK,)).errors
    ] == ["css-opacity"]


def test_mso_content_is_linted_for_outlook_windows_only() -> None:
    support = made_up_support({"css-position": {GMAIL: "n", OUTLOOK: "n"}})
    mso = '<!--[if mso]><div style="position:relative">x</div><![endif]--><p>x</p>'
    report = lint(mso, support, (GMAIL, OUTLOOK))
    assert [(f.client, f.platform) for f in report.errors] == [OUTLOOK]
    assert report.errors[0].where.startswith("[if mso] ")
    not_mso = '<!--[if !mso]><!--><div style="position:relative">x</div><!--<![endif]-->'
    report = lint(not_mso, support, (GMAIL, OUTLOOK))
    assert [(f.client, f.platform) for f in report.errors] == [GMAIL]


def test_style_sheet_rules_are_not_linted_where_style_is_stripped() -> None:
    support = made_up_support(
        {"html-style": {GMAIL: "n", OUTLOOK: "y"}, "css-position": {GMAIL: "n", OUTLOOK: "n"}}
    )
    report = lint(
        "<style>.a { position: relative; }</style><p class=a>x</p>", support, (GMAIL, OUTLOOK)
    )
    assert [(f.feature, f.client) for f in report.errors] == [("css-position", "outlook")]
    assert [(f.feature, f.client) for f in report.warnings] == [("html-style", "gmail")]


# --------------------------------------------------------------------------- caniemail's data


@pytest.fixture(scope="module")
def support() -> Support:
    folder = default_support_folder()
    if not (folder / "features.json").is_file():
        pytest.skip(
            f"{folder} is absent: caniemail's data sits in the shared corpora beside the repo"
        )
    return load_support(folder)


def test_missing_or_malformed_data_is_a_config_error_naming_the_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="caniemail support data not found") as missing:
        load_support(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(missing.value)
    (tmp_path / "features.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_support(tmp_path)
    (tmp_path / "features.json").write_text('{"css-x": {"stats": 3}}', encoding="utf-8")
    with pytest.raises(ConfigError, match="not in caniemail's format"):
        load_support(tmp_path)


@pytest.mark.corpus
def test_targets_cover_every_gmail_and_yahoo_platform(support: Support) -> None:
    for client in ("gmail", "yahoo"):
        assert set(support.platforms(client)) == {p for c, p in TARGETS if c == client}
    assert {("outlook", "windows"), ("outlook", "outlook-com")} <= set(TARGETS)
    assert {("apple-mail", "macos"), ("apple-mail", "ios")} <= set(TARGETS)


@pytest.mark.corpus
def test_latest_support_agrees_with_caniemails_own_flattening(support: Support) -> None:
    path = default_support_folder() / "support_latest.csv"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            feature = support.features[row["feature"]]
            assert feature.support(row["client"], row["platform"]) == row["latest_support"], row


MJML_DIGEST = """
<mjml>
  <mj-head>
    <mj-title>The Daily Digest</mj-title>
    <mj-preview>Three stories you should not miss today</mj-preview>
    <mj-attributes>
      <mj-all font-family="Helvetica, Arial, sans-serif" />
      <mj-text font-size="16px" line-height="1.5" color="#222222" />
    </mj-attributes>
    <mj-style>
      .dark-text { color: #eee !important; }
      @media (prefers-color-scheme: dark) {
        .dark-bg { background-color: #111111 !important; }
        .dark-text { color: #eeeeee !important; }
      }
    </mj-style>
    <mj-raw><meta name="color-scheme" content="light dark"></mj-raw>
  </mj-head>
  <mj-body width="600px" background-color="#f4f4f4">
    <mj-section background-color="#1a1a2e" padding="20px 0" css-class="dark-bg">
      <mj-column>
        <mj-text align="center" color="#ffffff" font-size="24px" font-weight="700">Digest</mj-text>
      </mj-column>
    </mj-section>
    <mj-section background-color="#ffffff" padding="20px">
      <mj-column>
        <mj-text css-class="dark-text">
          <h2 style="font-size:22px;line-height:28px;margin:0 0 8px 0;color:#111;
            font-weight:bold">World</h2>
          <h3 style="font-size:18px;margin:0 0 6px;font-family:Georgia, serif"><a
            href="https://news.example.com/a" style="color:#1a0dab;text-decoration:none"
            >A headline</a></h3>
          <p style="margin:0 0 12px;padding:0;font-size:15px;line-height:1.5">A summary with
            <strong>bold</strong> and <span style="color:#666666">grey</span> text.</p>
          <ul style="padding-left:20px;margin:0">
            <li style="margin-bottom:4px"><a href="https://news.example.com/b"
              style="color:#1a0dab;text-decoration:underline">Related one</a></li>
          </ul>
        </mj-text>
      </mj-column>
    </mj-section>
    <mj-section background-color="#ffffff">
      <mj-column width="50%">
        <mj-image src="https://news.example.com/img/photo.jpg" alt="A photo" width="280px" />
      </mj-column>
      <mj-column width="50%">
        <mj-text><h3 style="font-size:18px;margin:0">Business</h3>
          <p style="margin:0">Another <span style="font-weight:600">story</span>.</p></mj-text>
        <mj-button href="https://news.example.com/more" background-color="#1a0dab"
          >Read more</mj-button>
      </mj-column>
    </mj-section>
    <mj-section background-color="#ffffff">
      <mj-column><mj-divider border-color="#dddddd" border-width="1px" /></mj-column>
    </mj-section>
    <mj-section padding="20px">
      <mj-column>
        <mj-text align="center" font-size="12px" color="#888888">You subscribed.
          <a href="https://news.example.com/u/TOKEN" style="color:#888888">Unsubscribe</a></mj-text>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>
"""


@pytest.mark.corpus
def test_mjml_digest_has_no_error_and_its_enhancements_are_warnings(support: Support) -> None:
    html = mjml2html(MJML_DIGEST, fonts={})
    report = lint(html, support)
    assert report.errors == (), [f.as_json() for f in report.errors]
    warned = {(f.feature, f.client, f.platform): f for f in report.warnings}
    graceful = "unsupported, degrades gracefully"
    for key in (
        ("css-at-media", "outlook", "windows"),
        ("css-at-media-prefers-color-scheme", "gmail", "desktop-webmail"),
        ("html-meta-color-scheme", "gmail", "ios"),
        ("html-style", "gmail", "mobile-webmail"),
        ("css-border-radius", "outlook", "windows"),  # the button's corners
        ("css-opacity", "outlook", "windows"),  # the hidden preheader
        ("css-border-spacing", "outlook", "windows"),  # cellspacing="0" says it too
        ("html-target", "gmail", "desktop-webmail"),
    ):
        assert warned[key].notes[0].startswith(graceful), key
    assert warned[("css-margin", "gmail", "desktop-webmail")].support.startswith("a")
    assert {"css-important", "css-selector-class", "css-at-media-prefers-color-scheme"} <= (
        report.features
    )


@pytest.mark.corpus
def test_the_default_templates_golden_rendering_has_no_error(support: Support) -> None:
    if not GOLDEN_DIGEST.is_file():
        pytest.skip(f"{GOLDEN_DIGEST} is absent")
    report = lint(GOLDEN_DIGEST.read_text(encoding="utf-8"), support)
    assert report.errors == (), [f.as_json() for f in report.errors]


@pytest.mark.corpus
def test_layout_features_clients_lack_are_errors(support: Support) -> None:
    html = (
        '<!doctype html><html><body><div style="display:flex;position:absolute;'
        'background-image:url(\'https://x.example/bg.png\')"><img src="https://x.example/logo.svg"'
        ' alt="logo"></div></body></html>'
    )
    errors = {(f.feature, f.client, f.platform) for f in lint(html, support).errors}
    expected = {
        ("css-display-flex", "outlook", "windows"),
        ("css-position", "gmail", "desktop-webmail"),
        ("css-position", "gmail", "android"),
        ("css-position", "outlook", "windows"),
        ("css-background-image", "outlook", "windows"),
        ("image-svg", "gmail", "desktop-webmail"),
        ("image-svg", "gmail", "mobile-webmail"),
    }
    for feature, client, platform in expected:
        assert support.kind(feature, client, platform) == "n"  # what the data says
    assert expected <= errors
    assert ("image-svg", "apple-mail", "ios") not in errors
