"""Each subscriber's copy: the HTML, the text and a MIME message that parses back intact."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage

from snapshots import LINKS, LONGEST, READER, snapshot, values_for

from digest.render.copies import CopyMaker, worst_case_values
from digest.render.personal import Recipient
from digest.render.templates import TemplateSet
from digest.render.variants import EditionRenderer, RenderOptions

WHEN = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)


def maker() -> CopyMaker:
    snap = snapshot(sections=3, per_section=3)
    renderer = EditionRenderer(
        TemplateSet(), snap, RenderOptions(base_url="https://news.example.com"), values_for(LONGEST)
    )
    return CopyMaker(renderer, LINKS, clock=lambda: WHEN)


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_a_copy_is_a_complete_message() -> None:
    copy = maker().make(READER)
    assert copy is not None
    message = parse(copy.message)
    assert message["From"] == "The Meridian Review <digest@meridian.example>"
    assert message["Reply-To"] == "editors@meridian.example"
    assert message["To"] == "Ana <ana@example.org>"
    assert message["Subject"] == (
        "The Meridian Daily #42: Political history story number 1: a headline of ordinary length"
    )
    assert message["Message-ID"] == f"<{copy.message_id}>"
    assert copy.message_id.endswith("@meridian.example")
    assert message["List-Id"] == '"The Meridian Daily" <daily.meridian.example>'
    assert message["List-Unsubscribe"] == (
        "<https://digest.meridian.example/unsubscribe/daily/42>, "
        "<mailto:unsubscribe@meridian.example?subject=unsubscribe%20daily%2042>"
    )
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Feedback-ID"] == "daily:0123456789abcdef:digest"
    assert message["Date"].datetime == WHEN
    html_part = message.get_body(("html",))
    text_part = message.get_body(("plain",))
    assert html_part is not None
    assert text_part is not None
    # the wire format's line breaks are CRLF; the content is the same once they are folded
    assert html_part.get_content().replace("\r\n", "\n") == copy.html
    assert text_part.get_content().replace("\r\n", "\n") == copy.text
    assert "Hello Ana," in copy.html
    lines = copy.message.split(b"\r\n")
    assert all(len(line) <= 998 for line in lines)
    assert b"\n" not in copy.message.replace(b"\r\n", b"")


def test_the_same_subscriber_gets_the_same_message_id_and_others_differ() -> None:
    make = maker()
    first, again = make.make(READER), make.make(READER)
    other = make.make(Recipient("43", "bo@example.org", None, ("Science",)))
    assert first is not None
    assert again is not None
    assert other is not None
    assert first.message_id == again.message_id
    assert other.message_id != first.message_id
    assert other.variant.sections == ("Science",)
    assert "Hello," in other.html


def test_no_copy_for_a_subscriber_whose_sections_are_all_empty() -> None:
    assert maker().make(Recipient("44", "cy@example.org", None, ("Travel",))) is None


def test_worst_case_values_are_at_least_as_long_as_a_real_subscribers() -> None:
    snap = snapshot(sections=1, per_section=1)
    longest = worst_case_values(LINKS, snap)
    ordinary = values_for(READER)
    assert all(len(longest[field]) >= len(ordinary[field]) for field in ordinary)
