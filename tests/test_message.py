"""MIME messages built by ``digest.render.message``, read back with the stdlib parser."""

from __future__ import annotations

import binascii
import email
import email.policy
import random
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from email.header import decode_header, make_header
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Any

import pytest

from digest.render.message import (
    EditionHeaders,
    MessageBuilder,
    PersonalHeaders,
    list_id,
    make_message_id,
)

DOMAIN = "meridian.example"
EDITION = EditionHeaders(
    from_name="The Meridian — Daily",
    from_address=f"daily@{DOMAIN}",
    reply_to=f"editors@{DOMAIN}",
    subject="Élection : les résultats région par région, et la “surprise” de Zürich",
    list_id=list_id("The Meridian Daily", "daily", DOMAIN),
    feedback_id="daily:3f2a9c41:digest",
    sender_domain=DOMAIN,
)
PERSONAL = PersonalHeaders(
    to_name="Zoë Ó'Brien, Jr.",
    to_address="zoe.obrien@example.org",
    message_id=make_message_id("3f2a9c41", "s42", DOMAIN),
    unsubscribe_url=f"https://{DOMAIN}/u/s42.5f1c0e?list=daily",
    unsubscribe_mailto=f"mailto:unsubscribe@{DOMAIN}?subject=unsubscribe%20s42",
    date=datetime(2025, 3, 4, 7, 30, tzinfo=timezone(timedelta(hours=1))),
)
HTML = (
    '<html><body><table role="presentation"><tr><td style="color:#333;">Bonjour Zoë,</td></tr>'
    '</table><p>Le “budget” — €1.2bn</p><a href="https://x.example/?a=1&amp;b=2">lien</a>'
    "</body></html>"
)
TEXT = "Bonjour Zoë,\n\nLe “budget” — €1.2bn: https://x.example/?a=1&b=2\n"
CARD = (
    '<table role="presentation" style="width:100%;"><tbody><tr><td align="left" '
    'style="font-size:0px;padding:10px 25px;word-break:break-word;"><div style="font-family:'
    'Georgia, serif;font-size:21px;line-height:1.3;color:#111111;">{title}</div></td></tr>'
    "</tbody></table>"
)
MJML_LIKE = "<!doctype html><html><body>" + "".join(
    CARD.format(title=f"Élection n°{n} : “surprise” à Zürich = {n * 7}  ") for n in range(60)
)
BODIES = {
    "ascii": ("<p>Hello</p>", "Hello\n"),
    "non-ascii": (HTML, TEXT),
    "long line": ("<p>" + "é" * 1500 + "x" * 3500 + "</p>", "y" * 5000),
    "equals signs": ('<a href="?a=b&c=d">=3D ==</a>', "a = b\n==\n=\n"),
    "trailing spaces": ("<p>end  \n \t\n</p> ", "line \nline\t\n \n  "),
    "trailing space at the limit": ("é" + "a" * 63 + "é \n" + "b" * 75 + "\t\nc", "x" * 75 + " \n"),
    "dot lines": (".\n<p>.</p>\n.", ".\n..\n.\nend\n."),
    "dashes": ("<p>--</p>\n--\n-- \n---boundary", "--\n-- \n--=_\n--=_fake--\n"),
    "crlf input": ("<p>a</p>\r\n<p>b</p>\r\n", "one\r\ntwo\r\n\r\nthree"),
    "lone cr": ("<p>a</p>\r<p>b</p>", "one\rtwo"),
    "empty text": ("<p>only html</p>", ""),
    "control characters": ("<p>\x00\x01\x0c\x7f</p>", "bell\x07 tab\tend"),
    "mjml-like": (MJML_LIKE, TEXT * 40),
}


def build(
    html: str = HTML,
    text: str = TEXT,
    edition: EditionHeaders = EDITION,
    personal: PersonalHeaders = PERSONAL,
    builder: MessageBuilder | None = None,
) -> bytes:
    return (builder or MessageBuilder(edition)).build(personal, html, text)


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert message.defects == []
    return message


def body(message: EmailMessage, kind: str) -> str:
    part = message.get_body((kind,))
    assert part is not None
    assert part["Content-Transfer-Encoding"] == "quoted-printable"
    assert part.get_content_charset() == "utf-8"
    content = part.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


def newlines(value: str) -> str:
    return value.replace("\r\n", "\n").replace("\r", "\n")


def assert_wire_format(raw: bytes) -> None:
    """CRLF everywhere, 998 octets at most, 76 in the bodies (quoted-printable)."""
    assert raw.endswith(b"\r\n")
    lines = raw[:-2].split(b"\r\n")
    assert all(b"\n" not in line and b"\r" not in line for line in lines)
    assert max(len(line) for line in lines) <= 998
    head_end = lines.index(b"")
    assert max(len(line) for line in lines[head_end:]) <= 76
    assert all(line.isascii() for line in lines)


def display(header: Any) -> tuple[str, str]:
    (address,) = header.addresses
    return address.display_name, address.addr_spec


@pytest.mark.parametrize("name", BODIES)
def test_bodies_round_trip(name: str) -> None:
    html, text = BODIES[name]
    raw = build(html, text)
    assert_wire_format(raw)
    message = parse(raw)
    assert message.get_content_type() == "multipart/alternative"
    assert body(message, "html") == newlines(html)
    assert body(message, "plain") == newlines(text)


def test_headers_round_trip() -> None:
    raw = build()
    message = parse(raw)
    assert display(message["From"]) == ("The Meridian — Daily", EDITION.from_address)
    assert display(message["Reply-To"]) == ("", EDITION.reply_to)
    assert display(message["To"]) == ("Zoë Ó'Brien, Jr.", PERSONAL.to_address)
    assert str(message["Subject"]) == EDITION.subject
    assert message["Date"].datetime == PERSONAL.date
    assert str(message["Message-ID"]) == f"<{PERSONAL.message_id}>"
    assert str(message["List-Id"]) == '"The Meridian Daily" <daily.meridian.example>'
    assert str(message["List-Unsubscribe"]) == (
        f"<{PERSONAL.unsubscribe_url}>, <{PERSONAL.unsubscribe_mailto}>"
    )
    assert str(message["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    assert str(message["Feedback-ID"]) == EDITION.feedback_id
    assert str(message["MIME-Version"]) == "1.0"
    for name in ("From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe"):
        assert len(message.get_all(name) or []) == 1
        assert message[name].defects == ()
    boundary = message.get_boundary()
    assert boundary is not None
    assert boundary.startswith("=_")


def test_optional_headers_left_out() -> None:
    edition = replace(EDITION, reply_to=None, from_name="")
    personal = replace(PERSONAL, to_name=None, unsubscribe_mailto=None)
    message = parse(build(edition=edition, personal=personal))
    assert "Reply-To" not in message
    assert display(message["From"]) == ("", EDITION.from_address)
    assert display(message["To"]) == ("", PERSONAL.to_address)
    assert str(message["List-Unsubscribe"]) == f"<{PERSONAL.unsubscribe_url}>"


@pytest.mark.parametrize(
    "name",
    [
        "Zoë Ó'Brien, Jr.",
        "Smith, John",
        'The "Daily" Reader',
        "back\\slash",
        "O'Neil-Smith",
        "=?utf-8?q?not_encoded?=",
        "  spaced   out  ",
        "山田太郎",
        "Ελένη Παπαδοπούλου",
    ],
)
def test_display_names_with_specials(name: str) -> None:
    message = parse(build(personal=replace(PERSONAL, to_name=name)))
    assert display(message["To"]) == (name, PERSONAL.to_address)


def test_long_non_ascii_display_name_is_split_into_encoded_words() -> None:
    name = "Zoë Ó'Brien-Ångström de la Fontaine-Müller, Jr. — 山田太郎 " * 2
    raw = build(personal=replace(PERSONAL, to_name=name))
    assert_wire_format(raw)
    unfolded = re.search(rb"\r\nTo: (.*?)\r\n(?! )", raw, re.DOTALL)
    assert unfolded is not None
    value = unfolded.group(1).replace(b"\r\n", b"").decode("ascii")
    phrase, address = value.rsplit(" <", 1)
    # RFC 2047: white space between adjacent encoded-words is not part of the text (the
    # stdlib's address parser keeps it, as it does for its own EmailMessage output)
    assert str(make_header(decode_header(phrase))) == name
    assert address == f"{PERSONAL.to_address}>"


def test_long_headers_are_folded() -> None:
    url = f"https://{DOMAIN}/u/" + "a1B2-c3_d4." * 54 + "end"
    subject = "Élection : “surprise” à Zürich, Straße über Ångström — naïve café déjà vu " * 4
    raw = build(
        edition=replace(EDITION, subject=subject),
        personal=replace(PERSONAL, unsubscribe_url=url),
    )
    assert len(url) >= 600
    assert_wire_format(raw)
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert all(len(line) <= 78 for line in head if url.encode() not in line)
    message = parse(raw)
    assert str(message["Subject"]) == subject
    assert str(message["List-Unsubscribe"]) == f"<{url}>, <{PERSONAL.unsubscribe_mailto}>"


def test_long_ascii_subject_is_folded_at_spaces() -> None:
    subject = "The week in review: councils, budgets, glaciers and the price of bread " * 5
    raw = build(edition=replace(EDITION, subject=subject.strip()))
    assert b"=?utf-8?" not in raw.split(b"Subject:", 1)[1].split(b"\r\nDate:")[0]
    assert_wire_format(raw)
    assert str(parse(raw)["Subject"]) == subject.strip()


def test_unfoldable_url_is_refused() -> None:
    url = f"https://{DOMAIN}/u/" + "x" * 1000
    with pytest.raises(ValueError, match="List-Unsubscribe"):
        build(personal=replace(PERSONAL, unsubscribe_url=url))


INJECTIONS = ["\r\nBcc: victim@example.com", "\nX-Evil: 1", "\rX", "\0", "ok\r\n"]


@pytest.mark.parametrize("field", ["to_name", "to_address", "message_id", "unsubscribe_url"])
@pytest.mark.parametrize("injection", INJECTIONS)
def test_personal_header_injection_is_refused(field: str, injection: str) -> None:
    changes: dict[str, Any] = {field: getattr(PERSONAL, field) + injection}
    with pytest.raises(ValueError, match=field):
        build(personal=replace(PERSONAL, **changes))


@pytest.mark.parametrize("injection", INJECTIONS)
def test_mailto_injection_is_refused(injection: str) -> None:
    personal = replace(PERSONAL, unsubscribe_mailto=f"{PERSONAL.unsubscribe_mailto}{injection}")
    with pytest.raises(ValueError, match="unsubscribe_mailto"):
        build(personal=personal)


@pytest.mark.parametrize(
    "field", ["from_name", "from_address", "reply_to", "subject", "list_id", "feedback_id"]
)
def test_edition_header_injection_is_refused(field: str) -> None:
    changes: dict[str, Any] = {field: getattr(EDITION, field) + "\r\nBcc: x@example.com"}
    edition = replace(EDITION, **changes)
    with pytest.raises(ValueError, match=field):
        MessageBuilder(edition)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("to_address", "two words@example.org"),
        ("to_address", "<zoe@example.org>"),
        ("to_address", "zoe@example.org, eve@example.org"),
        ("to_address", "zoë@example.org"),
        ("to_address", "no-at-sign"),
        ("unsubscribe_url", "http://meridian.example/u/1"),
        ("unsubscribe_url", "https://meridian.example/u/1> <https://evil.example"),
        ("unsubscribe_url", "https://meridian.example/ü"),
        ("unsubscribe_mailto", "https://meridian.example/u"),
        ("message_id", "<id@meridian.example>"),
        ("message_id", "no-domain"),
    ],
)
def test_malformed_personal_values_are_refused(field: str, value: str) -> None:
    changes: dict[str, Any] = {field: value}
    with pytest.raises(ValueError, match=field):
        build(personal=replace(PERSONAL, **changes))


def test_naive_date_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        build(personal=replace(PERSONAL, date=datetime(2025, 3, 4, 7, 30)))


def test_message_id_is_deterministic_and_personal() -> None:
    first = make_message_id("3f2a9c41", "s42", DOMAIN)
    assert first == make_message_id("3f2a9c41", "s42", DOMAIN) == "3f2a9c41.s42@meridian.example"
    others = {
        make_message_id("3f2a9c41", "s43", DOMAIN),
        make_message_id("3f2a9c42", "s42", DOMAIN),
        make_message_id("3f2a9c41", "s42.x", DOMAIN),
        make_message_id("3f2a9c41", "s 42", DOMAIN),
        make_message_id("3f2a9c41", "s 43", DOMAIN),
    }
    assert first not in others
    assert len(others) == 5
    odd = make_message_id("édition/2025", "zoë@example.org", DOMAIN)
    assert odd == make_message_id("édition/2025", "zoë@example.org", DOMAIN)
    for message_id in (first, odd):
        message = parse(build(personal=replace(PERSONAL, message_id=message_id)))
        assert str(message["Message-ID"]) == f"<{message_id}>"
        assert message["Message-ID"].defects == ()
    with pytest.raises(ValueError, match="domain"):
        make_message_id("e", "s", "bad domain")
    with pytest.raises(ValueError, match="subscriber_id"):
        make_message_id("e", "", DOMAIN)


def test_list_id() -> None:
    assert list_id("The Meridian Daily", "daily", DOMAIN) == (
        '"The Meridian Daily" <daily.meridian.example>'
    )
    assert list_id("", "Morning Brief", "Meridian.Example") == "<morning-brief.meridian.example>"
    title = "Le Quotidien de Zürich"
    value = list_id(title, "Zürich", DOMAIN)
    assert value.endswith(" <zurich.meridian.example>")
    message = parse(build(edition=replace(EDITION, list_id=value)))
    assert str(message["List-Id"]) == f"{title} <zurich.meridian.example>"
    with pytest.raises(ValueError, match="domain"):
        list_id("T", "daily", "meridian.example>\r\nBcc: x@example.com")
    with pytest.raises(ValueError, match="title"):
        list_id("T\r\nBcc: x@example.com", "daily", DOMAIN)


def stdlib_message(
    edition: EditionHeaders, personal: PersonalHeaders, html: str, text: str
) -> bytes:
    message = EmailMessage()
    message["From"] = Address(edition.from_name, addr_spec=edition.from_address)
    message["Reply-To"] = edition.reply_to
    message["To"] = Address(personal.to_name or "", addr_spec=personal.to_address)
    message["Subject"] = edition.subject
    message["Date"] = personal.date
    message["Message-ID"] = f"<{personal.message_id}>"
    message["List-Id"] = edition.list_id
    message["List-Unsubscribe"] = f"<{personal.unsubscribe_url}>, <{personal.unsubscribe_mailto}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Feedback-ID"] = edition.feedback_id
    message.set_content(text, cte="quoted-printable")
    message.add_alternative(html, subtype="html", cte="quoted-printable")
    return message.as_bytes(policy=email.policy.SMTP)


@pytest.mark.parametrize("name", ["non-ascii", "long line", "trailing spaces", "mjml-like"])
def test_same_as_the_stdlib(name: str) -> None:
    html, text = BODIES[name]
    ours = parse(build(html, text))
    theirs = parse(stdlib_message(EDITION, PERSONAL, html, text))
    for header in ("From", "Reply-To", "To"):
        assert display(ours[header]) == display(theirs[header])
    for header in (
        "Subject",
        "Date",
        "Message-ID",
        "List-Id",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
        "Feedback-ID",
        "MIME-Version",
    ):
        assert str(ours[header]) == str(theirs[header]), header
    assert ours.get_content_type() == theirs.get_content_type()
    for kind in ("html", "plain"):
        # the stdlib ends a body with a newline where it has none
        assert body(ours, kind).rstrip("\n") == body(theirs, kind).rstrip("\n")


def test_one_builder_many_subscribers() -> None:
    """The segment cache gives the same bytes as a fresh builder, message after message."""
    builder = MessageBuilder(EDITION)
    for number in range(6):
        html = MJML_LIKE.replace("n°7 ", f"n°7 pour lecteur {number} ") + f"<p>s{number}</p>"
        text = TEXT * 20 + f"https://{DOMAIN}/u/s{number}\n"
        personal = replace(PERSONAL, message_id=make_message_id("e1", f"s{number}", DOMAIN))
        raw = builder.build(personal, html, text)
        assert raw == MessageBuilder(EDITION).build(personal, html, text)
        message = parse(raw)
        assert body(message, "html") == html
        assert body(message, "plain") == text


def test_full_cache_starts_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("digest.render.message._CACHE_LIMIT", 5_000)
    monkeypatch.setattr("digest.render.message._SEEN_LIMIT", 100)
    builder = MessageBuilder(EDITION)
    for number in range(12):
        html = MJML_LIKE.replace("n°3 ", f"n°3 ({number % 3}) ")
        raw = builder.build(PERSONAL, html, TEXT * 30)
        assert raw == MessageBuilder(EDITION).build(PERSONAL, html, TEXT * 30)
        assert body(parse(raw), "html") == html


def test_short_bodies_then_long_ones() -> None:
    """Segments cut at different separators never share an encoding."""
    builder = MessageBuilder(EDITION)
    for html in ("x\nx", "x\nx", "x>" * 3000, "x>" * 3000 + "x\n" * 3000, "x</tr>" * 900):
        raw = builder.build(PERSONAL, html, html)
        assert_wire_format(raw)
        message = parse(raw)
        assert body(message, "html") == html
        assert body(message, "plain") == html


def test_random_bodies_stay_valid_quoted_printable() -> None:
    rng = random.Random(7)
    alphabet = ["a", "b", " ", "\t", "=", ".", "-", "é", "€", "😀", "\n", "\r\n", "\r", "\x00", ">"]
    alphabet += ["</tr>", "</table>", "x" * 70]
    html_builder, text_builder = MessageBuilder(EDITION), MessageBuilder(EDITION)
    for _ in range(200):
        html = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 400)))
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 200)))
        for builder in (html_builder, text_builder, MessageBuilder(EDITION)):
            raw = builder.build(PERSONAL, html, text)
            assert_wire_format(raw)
            message = parse(raw)
            assert body(message, "html") == newlines(html)
            assert body(message, "plain") == newlines(text)


@pytest.mark.parametrize("width", range(68, 84))
def test_segments_ending_at_the_line_limit(width: int) -> None:
    """A segment whose last line is full gets its soft break on a line of its own."""
    html = ("a" * width + "</tr>") * 30 + ("é" * (width // 6) + " </tr>") * 30
    builder = MessageBuilder(EDITION)
    for _ in range(3):  # encoded, then remembered, then reused
        raw = builder.build(PERSONAL, html, "")
        assert_wire_format(raw)
        assert body(parse(raw), "html") == html


def test_body_is_plain_quoted_printable() -> None:
    """Each part decodes with binascii alone: nothing but quoted-printable on the wire."""
    html, text = BODIES["mjml-like"]
    raw = build(html, text)
    boundary = parse(raw).get_boundary()
    assert boundary is not None
    parts = raw.split(f"--{boundary}".encode())
    assert len(parts) == 4
    assert parts[3] == b"--\r\n"
    for part, sent in ((parts[1], text), (parts[2], html)):
        encoded = part.split(b"\r\n\r\n", 1)[1].removesuffix(b"\r\n")
        assert binascii.a2b_qp(encoded).replace(b"\r\n", b"\n").decode() == sent


def test_timezones_are_kept() -> None:
    for moment in (
        datetime(2025, 3, 4, 6, 30, tzinfo=UTC),
        datetime(2025, 7, 1, 23, 59, 59, tzinfo=timezone(timedelta(hours=-7))),
    ):
        message = parse(build(personal=replace(PERSONAL, date=moment)))
        assert message["Date"].datetime == moment
        assert message["Date"].datetime.utcoffset() == moment.utcoffset()


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("http://127.0.0.1:8000/unsubscribe/daily/42", True),
        ("http://localhost/unsubscribe/daily/42", True),
        ("http://example.org/unsubscribe/daily/42", False),
        ("http://127.0.0.1.example.org/u", False),
    ],
)
def test_plain_http_unsubscribe_only_on_this_machine(url: str, accepted: bool) -> None:
    personal = replace(PERSONAL, unsubscribe_url=url)
    if accepted:
        assert b"List-Unsubscribe: <" + url.encode() in build(personal=personal)
    else:
        with pytest.raises(ValueError, match="unsubscribe_url"):
            build(personal=personal)
