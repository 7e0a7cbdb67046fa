"""The providers' webhook bodies read into events, and the signature checks, without the app.

Pure functions: the mapping of each provider's vocabulary onto ``EventKind``, the keys that
make a redelivery a duplicate, and each verification's refusals and their messages.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from digest.deliver.events import (
    EventKind,
    parse_mailgun,
    parse_postmark,
    parse_resend,
    parse_sendgrid,
)
from digest.deliver.webhook_auth import (
    sendgrid_key,
    svix_key,
    verify_basic_auth,
    verify_mailgun,
    verify_sendgrid,
    verify_svix,
)
from digest.errors import MalformedWebhook, WebhookAuthError

NOW = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
NO_HEADERS: dict[str, str] = {}
SIGNATURE = "x-twilio-email-event-webhook-signature"


def body(document: Any) -> bytes:
    return orjson.dumps(document)


# -- Postmark -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bounce_type", "inactive", "kind"),
    [
        ("HardBounce", True, EventKind.BOUNCE_HARD),
        ("BadEmailAddress", False, EventKind.BOUNCE_HARD),
        ("SoftBounce", False, EventKind.BOUNCE_SOFT),
        ("Blocked", False, EventKind.BOUNCE_SOFT),
        ("Transient", False, EventKind.DEFERRED),
        ("SoftBounce", True, EventKind.BOUNCE_HARD),  # Postmark deactivated the address
        ("AutoResponder", False, EventKind.OTHER),
        ("Unsubscribe", True, EventKind.UNSUBSCRIBE),
        ("SpamComplaint", True, EventKind.COMPLAINT),
    ],
)
def test_postmark_bounce_types(bounce_type: str, inactive: bool, kind: EventKind) -> None:
    record = {
        "RecordType": "Bounce",
        "ID": 42,
        "Type": bounce_type,
        "Email": "Ana Lima <Ana@Example.org>",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "BouncedAt": "2019-11-05T16:33:54.9070259Z",
        "Inactive": inactive,
    }
    (event,) = parse_postmark(body(record), NO_HEADERS)
    assert event.kind is kind
    assert (event.email, event.event_key) == ("ana@example.org", "bounce:42")
    assert event.occurred_at == datetime(2019, 11, 5, 16, 33, 54, 907025, tzinfo=UTC)


def test_postmark_records_we_do_not_act_on_are_kept_with_stable_keys() -> None:
    reactivated = {
        "RecordType": "SubscriptionChange",
        "Recipient": "ana@example.org",
        "ChangedAt": "2020-02-01T10:53:34.416071Z",
        "SuppressSending": False,
    }
    (event,) = parse_postmark(body(reactivated), NO_HEADERS)
    assert event.kind is EventKind.OTHER  # a reactivation never re-subscribes anyone
    click = {
        "RecordType": "Click",
        "MessageID": "m1",
        "Recipient": "ana@example.org",
        "ReceivedAt": "2026-11-27T06:00:00Z",
        "OriginalLink": "https://news.example.com/" + "long/" * 60,
    }
    first, again = (parse_postmark(body(click), NO_HEADERS)[0] for _ in range(2))
    assert first.kind is EventKind.CLICK
    assert first.event_key == again.event_key
    assert len(first.event_key) <= 128
    inbound = body({"RecordType": "Inbound", "From": "someone@example.org"})
    (other,) = parse_postmark(inbound, NO_HEADERS)
    assert other.kind is EventKind.OTHER
    assert other.event_key == parse_postmark(inbound, NO_HEADERS)[0].event_key


@pytest.mark.parametrize(
    "document",
    [[], {"Email": "a@example.org"}, {"RecordType": "Delivery", "MessageID": "m1"}],
)
def test_postmark_malformed_bodies(document: Any) -> None:
    with pytest.raises(MalformedWebhook):
        parse_postmark(body(document), NO_HEADERS)


# -- SendGrid -------------------------------------------------------------------------------


def sendgrid_event(**fields: Any) -> dict[str, Any]:
    return {"email": "ana@example.org", "timestamp": 1513299569, **fields}


@pytest.mark.parametrize(
    ("fields", "kind"),
    [
        ({"event": "bounce", "type": "bounce"}, EventKind.BOUNCE_HARD),
        ({"event": "bounce", "type": "blocked"}, EventKind.BOUNCE_SOFT),
        ({"event": "dropped", "reason": "Bounced Address"}, EventKind.BOUNCE_HARD),
        ({"event": "dropped", "reason": "Invalid"}, EventKind.BOUNCE_HARD),
        ({"event": "dropped", "reason": "Spam Reporting Address"}, EventKind.COMPLAINT),
        ({"event": "dropped", "reason": "Unsubscribed Address"}, EventKind.UNSUBSCRIBE),
        ({"event": "dropped", "reason": "Spam Content"}, EventKind.OTHER),
        ({"event": "spamreport"}, EventKind.COMPLAINT),
        ({"event": "group_unsubscribe", "asm_group_id": 7}, EventKind.UNSUBSCRIBE),
        ({"event": "deferred", "attempt": "5"}, EventKind.DEFERRED),
        ({"event": "processed"}, EventKind.OTHER),
    ],
)
def test_sendgrid_events(fields: dict[str, Any], kind: EventKind) -> None:
    (event,) = parse_sendgrid(body([sendgrid_event(sg_event_id="e1", **fields)]), NO_HEADERS)
    assert event.kind is kind
    assert event.event_key == "e1"
    assert event.occurred_at == datetime(2017, 12, 15, 0, 59, 29, tzinfo=UTC)


@pytest.mark.parametrize(
    ("sg_message_id", "request_id"),
    [
        ("XBg2anf2TqCy6WXKQFhieQ.filter0905p1mdw1-4434-59E0C6FF-3.0", "XBg2anf2TqCy6WXKQFhieQ"),
        ("14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0", "14c5d75ce93.dfd.64b469"),
        ("Ua9z9lSTSaqYBWJe_Xfc-Q.recvd-5b6b-1-5F6A1B0E-1F.0", "Ua9z9lSTSaqYBWJe_Xfc-Q"),
        (None, None),
    ],
)
def test_sendgrid_message_ids_are_the_send_calls_x_message_id(
    sg_message_id: str | None, request_id: str | None
) -> None:
    item = sendgrid_event(event="delivered", sg_event_id="e1", sg_message_id=sg_message_id)
    (event,) = parse_sendgrid(body([item]), NO_HEADERS)
    assert event.provider_message_id == request_id


def test_sendgrid_events_without_an_event_id_still_have_a_stable_key() -> None:
    batch = body([sendgrid_event(event="dropped", reason="Invalid")])
    first, again = parse_sendgrid(batch, NO_HEADERS), parse_sendgrid(batch, NO_HEADERS)
    assert first[0].event_key == again[0].event_key == "dropped::ana@example.org:1513299569"


@pytest.mark.parametrize("document", [{"event": "delivered"}, [{"email": "a@b.org"}], [3]])
def test_sendgrid_malformed_bodies(document: Any) -> None:
    with pytest.raises(MalformedWebhook):
        parse_sendgrid(body(document), NO_HEADERS)


# -- Mailgun --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "severity", "reason", "kind"),
    [
        ("failed", "permanent", "bounce", EventKind.BOUNCE_HARD),
        ("failed", "permanent", "suppress-bounce", EventKind.BOUNCE_HARD),
        ("failed", "permanent", "suppress-complaint", EventKind.COMPLAINT),
        ("failed", "permanent", "suppress-unsubscribe", EventKind.UNSUBSCRIBE),
        ("failed", "permanent", "old", EventKind.BOUNCE_SOFT),
        ("failed", "temporary", "generic", EventKind.BOUNCE_SOFT),
        ("delivered", None, None, EventKind.DELIVERED),
        ("complained", None, None, EventKind.COMPLAINT),
        ("unsubscribed", None, None, EventKind.UNSUBSCRIBE),
        ("accepted", None, None, EventKind.OTHER),
    ],
)
def test_mailgun_events(
    event: str, severity: str | None, reason: str | None, kind: EventKind
) -> None:
    data = {
        "event": event,
        "id": "CCXMjJ7nQi2N3BPigGOdgQ",
        "timestamp": 1521233123.501324,
        "recipient": "ana@example.org",
        "message": {"headers": {"message-id": "20260203192638.000be97f99f8cea1@mg.example"}},
    }
    if severity:
        data |= {"severity": severity, "reason": reason}
    (parsed,) = parse_mailgun(body({"signature": {}, "event-data": data}), NO_HEADERS)
    assert parsed.kind is kind
    assert parsed.provider_message_id == "<20260203192638.000be97f99f8cea1@mg.example>"
    assert parsed.event_key == "CCXMjJ7nQi2N3BPigGOdgQ:1521233123.501324"


# -- Resend ---------------------------------------------------------------------------------


def resend(kind: str, bounce: dict[str, str] | None = None, to: Any = None) -> bytes:
    data: dict[str, Any] = {"email_id": "56761188", "to": to or ["ana@example.org"]}
    if bounce is not None:
        data["bounce"] = bounce
    return body({"type": kind, "created_at": "2026-11-27T06:00:00.000Z", "data": data})


@pytest.mark.parametrize(
    ("bounce", "kind"),
    [
        ({"type": "Permanent", "subType": "General"}, EventKind.BOUNCE_HARD),
        ({"type": "Transient", "subType": "MailboxFull"}, EventKind.BOUNCE_SOFT),
        ({"type": "soft"}, EventKind.BOUNCE_SOFT),
        ({}, EventKind.BOUNCE_HARD),  # Resend documents email.bounced as a permanent refusal
        (None, EventKind.BOUNCE_HARD),
    ],
)
def test_resend_bounces(bounce: dict[str, str] | None, kind: EventKind) -> None:
    (event,) = parse_resend(resend("email.bounced", bounce), {"svix-id": "msg_1"})
    assert event.kind is kind
    assert event.event_key == "msg_1:ana@example.org"
    assert event.provider_message_id == "56761188"


def test_resend_one_event_per_recipient_and_a_key_without_svix_id() -> None:
    to = ["Ana <ana@example.org>", "bob@example.org"]
    events = parse_resend(resend("email.delivery_delayed", to=to), NO_HEADERS)
    assert [(e.kind, e.email) for e in events] == [
        (EventKind.DEFERRED, "ana@example.org"),
        (EventKind.DEFERRED, "bob@example.org"),
    ]
    assert events[0].event_key == (
        "email.delivery_delayed:56761188:2026-11-27T06:00:00.000Z:ana@example.org"
    )
    with pytest.raises(MalformedWebhook, match="data"):
        parse_resend(body({"type": "email.sent"}), NO_HEADERS)


# -- verification ---------------------------------------------------------------------------


def basic(credentials: bytes) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(credentials).decode()}


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "no basic auth"),
        ({"authorization": "Bearer abc"}, "no basic auth"),
        ({"authorization": "Basic ***"}, "not base64"),
        (basic(b"hooks:guess"), "does not match"),
        (basic(b"other:s3cret-password"), "does not match"),
        (basic(b"hooks"), "does not match"),
    ],
)
def test_basic_auth_refusals(headers: dict[str, str], message: str) -> None:
    with pytest.raises(WebhookAuthError, match=message) as refused:
        verify_basic_auth(("hooks", "s3cret-password"), b"", headers, NOW)
    assert "s3cret" not in str(refused.value)


def test_basic_auth_accepts_the_credentials_with_a_colon_in_the_password() -> None:
    verify_basic_auth(("hooks", "pa:ss"), b"", basic(b"hooks:pa:ss"), NOW)


def test_sendgrid_signature_checks() -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key = sendgrid_key(base64.b64encode(der).decode())
    payload, stamp = b'[{"event":"delivered"}]', str(int(NOW.timestamp()))
    signature = private.sign(stamp.encode() + payload, ec.ECDSA(hashes.SHA256()))
    headers = {
        "x-twilio-email-event-webhook-signature": base64.b64encode(signature).decode(),
        "x-twilio-email-event-webhook-timestamp": stamp,
    }
    verify_sendgrid(key, payload, headers, NOW)
    verify_sendgrid(key, payload, headers, NOW + timedelta(minutes=9))
    with pytest.raises(WebhookAuthError, match="does not match"):
        verify_sendgrid(key, payload + b" ", headers, NOW)
    with pytest.raises(WebhookAuthError, match="tolerance"):
        verify_sendgrid(key, payload, headers, NOW + timedelta(minutes=11))
    with pytest.raises(WebhookAuthError, match="not base64"):
        verify_sendgrid(key, payload, headers | {SIGNATURE: "%%%"}, NOW)
    with pytest.raises(WebhookAuthError, match="missing"):
        verify_sendgrid(key, payload, {SIGNATURE: headers[SIGNATURE]}, NOW)


def test_mailgun_signature_checks() -> None:
    stamp, token = str(int(NOW.timestamp())), "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0"
    digest = hmac.new(b"key-1", f"{stamp}{token}".encode(), hashlib.sha256).hexdigest()

    def signed(signature: dict[str, Any]) -> bytes:
        return body({"signature": signature, "event-data": {}})

    good = {"timestamp": stamp, "token": token, "signature": digest}
    assert verify_mailgun("key-1", signed(good), NO_HEADERS, NOW) == token
    assert (
        verify_mailgun("key-1", signed(good | {"signature": digest.upper()}), NO_HEADERS, NOW)
        == token
    )
    with pytest.raises(WebhookAuthError, match="does not match"):
        verify_mailgun("key-2", signed(good), NO_HEADERS, NOW)
    with pytest.raises(WebhookAuthError, match="tolerance"):
        verify_mailgun("key-1", signed(good), NO_HEADERS, NOW + timedelta(minutes=6))
    with pytest.raises(WebhookAuthError, match="lacks"):
        verify_mailgun("key-1", signed({"timestamp": stamp, "token": token}), NO_HEADERS, NOW)
    with pytest.raises(WebhookAuthError, match="no signature"):
        verify_mailgun("key-1", b"timestamp=1&token=2", NO_HEADERS, NOW)


def test_svix_signature_checks() -> None:
    key = svix_key("whsec_" + base64.b64encode(b"0123456789abcdef0123").decode())
    assert key == b"0123456789abcdef0123"
    stamp = str(int(NOW.timestamp()))
    payload = b'{"type":"email.delivered"}'
    mac = hmac.new(key, b"msg_1." + stamp.encode() + b"." + payload, hashlib.sha256).digest()
    valid = "v1," + base64.b64encode(mac).decode()
    headers = {"svix-id": "msg_1", "svix-timestamp": stamp, "svix-signature": valid}
    verify_svix(key, payload, headers, NOW)
    verify_svix(key, payload, headers | {"svix-signature": f"v1,AAAA {valid}"}, NOW)
    for wrong in ("v2," + valid[3:], "v1,AAAA", valid[3:]):
        with pytest.raises(WebhookAuthError, match="no svix-signature entry"):
            verify_svix(key, payload, headers | {"svix-signature": wrong}, NOW)
    with pytest.raises(WebhookAuthError, match="no svix-signature entry"):
        verify_svix(key, payload, headers | {"svix-id": "msg_2"}, NOW)
    with pytest.raises(WebhookAuthError, match="tolerance"):
        verify_svix(key, payload, headers, NOW - timedelta(minutes=6))
    with pytest.raises(WebhookAuthError, match="missing"):
        verify_svix(key, payload, {"svix-id": "msg_1", "svix-timestamp": stamp}, NOW)
    bad = hmac.new(key, b"msg_1.soon." + payload, hashlib.sha256).digest()
    soon = {"svix-timestamp": "soon", "svix-signature": "v1," + base64.b64encode(bad).decode()}
    with pytest.raises(WebhookAuthError, match="not a number"):
        verify_svix(key, payload, headers | soon, NOW)
