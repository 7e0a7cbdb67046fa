"""The transport writes a multipart form in one piece (``encode_form``): the same bytes as
httpx's own encoding, which streams it in some fifty writes per Mailgun call.
"""

from __future__ import annotations

import httpx

from digest.deliver.http import encode_form


def test_the_form_is_byte_for_byte_the_one_httpx_writes() -> None:
    data = {
        "from": "The Meridian <digest@meridian.example>",
        "to": "ana@example.org, Zoë <zoe@example.org>",
        "h:List-Unsubscribe": "%recipient.list_unsubscribe%",
        'odd "name" \\ with\x01control': "é, ü and 李",
    }
    files = [("html", (None, "<p>Hello %recipient.name_text%</p>")), ("text", (None, "Hi"))]
    body, content_type = encode_form(data, files)
    reference = httpx.Request("POST", "https://api.example", data=data, files=files)
    theirs = reference.read()
    their_boundary = reference.headers["Content-Type"].split("boundary=")[1]
    our_boundary = content_type.split("boundary=")[1]
    assert content_type == f"multipart/form-data; boundary={our_boundary}"
    assert len(our_boundary) == 32
    assert body == theirs.replace(their_boundary.encode(), our_boundary.encode())


def test_each_form_has_its_own_boundary() -> None:
    first = encode_form({"a": "1"}, [])[1]
    assert first != encode_form({"a": "1"}, [])[1]
