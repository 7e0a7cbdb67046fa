"""Provider webhook bodies, read into one normalised event shape. Computes only.

Each provider reports the same few facts in its own words: "delivered", a hard or soft
bounce, a spam complaint, an unsubscribe. One parser per provider turns a verified body into
``ProviderEvent``s, so the code that acts on them (``digest.deliver.feedback``) knows no
provider's vocabulary. Shapes are the providers' documented webhook payloads:

- Postmark posts one object per request, told apart by ``RecordType``;
- SendGrid posts a JSON array of events, each with ``event`` and ``sg_event_id``;
- Mailgun posts ``{"signature": {...}, "event-data": {...}}``;
- Resend posts ``{"type", "created_at", "data"}``, signed Svix-style (``svix-id`` header).

Every event gets an ``event_key`` that is the same each time the provider delivers that event
again (its own event id where it has one, else the fields that identify it), so storing
events unique per (provider, key) makes a redelivery harmless. The message id is put in the
form the provider's send API answered with, which is what the ledger recorded.

A body that is not the documented shape raises ``MalformedWebhook`` naming the field; an
event type we do not act on is kept as ``EventKind.OTHER`` rather than refused, so the
provider does not retry it for days. Header names are looked up in lower case (Starlette's
headers are case-insensitive).
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parseaddr
from typing import Any

import orjson

from digest.errors import MalformedWebhook

KEY_LIMIT = 128  # provider_events.event_key


class EventKind(enum.Enum):
    DELIVERED = "delivered"
    BOUNCE_HARD = "bounce_hard"  # the address will never take mail: suppress it
    BOUNCE_SOFT = "bounce_soft"  # refused this time (full mailbox, blocked): count them
    COMPLAINT = "complaint"  # the reader marked it as spam: suppress
    UNSUBSCRIBE = "unsubscribe"  # left through the provider's own link or list
    DEFERRED = "deferred"  # the provider is still trying
    OPEN = "open"
    CLICK = "click"
    OTHER = "other"  # stored, not acted on


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    provider: str
    event_key: str
    kind: EventKind
    email: str | None
    provider_message_id: str | None
    occurred_at: datetime | None
    raw: dict[str, Any]


Parser = Callable[[bytes, Mapping[str, str]], list[ProviderEvent]]


# -- Postmark -------------------------------------------------------------------------------

POSTMARK_BOUNCES = {
    "HardBounce": EventKind.BOUNCE_HARD,
    "BadEmailAddress": EventKind.BOUNCE_HARD,
    "ManuallyDeactivated": EventKind.BOUNCE_HARD,
    "SoftBounce": EventKind.BOUNCE_SOFT,
    "DnsError": EventKind.BOUNCE_SOFT,
    "Blocked": EventKind.BOUNCE_SOFT,
    "SpamNotification": EventKind.BOUNCE_SOFT,
    "VirusNotification": EventKind.BOUNCE_SOFT,
    "Transient": EventKind.DEFERRED,
    "SpamComplaint": EventKind.COMPLAINT,
    "Unsubscribe": EventKind.UNSUBSCRIBE,
}
"""Postmark's bounce ``Type``s we act on; the rest (AutoResponder, AddressChange, ...) are OTHER."""

POSTMARK_SUPPRESSIONS = {
    "HardBounce": EventKind.BOUNCE_HARD,
    "SpamComplaint": EventKind.COMPLAINT,
    "ManualSuppression": EventKind.UNSUBSCRIBE,  # what Postmark records for an unsubscribe
}


def parse_postmark(body: bytes, headers: Mapping[str, str]) -> list[ProviderEvent]:
    """One record: Bounce, SpamComplaint, Delivery, SubscriptionChange, Open or Click."""
    record = _object(_json(body), "the body")
    record_type = _text(record, "RecordType", "the body")
    read = POSTMARK_RECORDS.get(record_type)
    if read is None:  # a record type we do not act on: its body identifies it
        email = _address(_optional_text(record, "Recipient") or _optional_text(record, "Email"))
        key, kind, at = _key(record_type, _digest(body)), EventKind.OTHER, None
    else:
        key, kind, email, at = read(record)
    message_id = _optional_text(record, "MessageID")
    return [ProviderEvent("postmark", key, kind, email, message_id, at, record)]


Facts = tuple[str, EventKind, str | None, datetime | None]  # key, kind, address, time


def _postmark_bounce_record(record: dict[str, Any]) -> Facts:
    """Bounce and SpamComplaint records carry Postmark's bounce ``ID``, unique per server."""
    where = str(record["RecordType"])
    kind = _postmark_bounce(record) if where == "Bounce" else EventKind.COMPLAINT
    email = _address(_text(record, "Email", where))
    return (
        _key("bounce", _required(record, "ID", where)),
        kind,
        email,
        _time(record.get("BouncedAt")),
    )


def _postmark_delivery(record: dict[str, Any]) -> Facts:
    email = _address(_text(record, "Recipient", "Delivery"))
    key = _key("delivery", _text(record, "MessageID", "Delivery"), email)
    return key, EventKind.DELIVERED, email, _time(record.get("DeliveredAt"))


def _postmark_subscription(record: dict[str, Any]) -> Facts:
    """A change to the stream's suppression list; a reactivation is left to our consent."""
    email = _address(_text(record, "Recipient", "SubscriptionChange"))
    suppress = record.get("SuppressSending")
    kind = EventKind.OTHER
    if suppress is True:
        reason = str(record.get("SuppressionReason") or "")
        kind = POSTMARK_SUPPRESSIONS.get(reason, EventKind.OTHER)
    changed = record.get("ChangedAt")
    return _key("subscription", email, changed, suppress), kind, email, _time(changed)


def _postmark_engagement(record: dict[str, Any]) -> Facts:
    """Open and Click: one record per open or click, identified by message, reader and time."""
    where = str(record["RecordType"])
    email = _address(_optional_text(record, "Recipient"))
    received = record.get("ReceivedAt")
    key = _key(where.lower(), record.get("MessageID"), email, received)
    if where == "Click":
        key = _key(key, record.get("OriginalLink"))
        return key, EventKind.CLICK, email, _time(received)
    return key, EventKind.OPEN, email, _time(received)


POSTMARK_RECORDS: dict[str, Callable[[dict[str, Any]], Facts]] = {
    "Bounce": _postmark_bounce_record,
    "SpamComplaint": _postmark_bounce_record,
    "Delivery": _postmark_delivery,
    "SubscriptionChange": _postmark_subscription,
    "Open": _postmark_engagement,
    "Click": _postmark_engagement,
}


def _postmark_bounce(record: Mapping[str, Any]) -> EventKind:
    """The bounce's kind; an address Postmark deactivated is hard whatever the type says."""
    kind = POSTMARK_BOUNCES.get(str(record.get("Type")), EventKind.OTHER)
    inactive = record.get("Inactive") is True
    if inactive and kind not in (EventKind.COMPLAINT, EventKind.UNSUBSCRIBE):
        return EventKind.BOUNCE_HARD  # Postmark refuses every later send to it anyway
    return kind


# -- SendGrid -------------------------------------------------------------------------------

SENDGRID_EVENTS = {
    "delivered": EventKind.DELIVERED,
    "deferred": EventKind.DEFERRED,
    "spamreport": EventKind.COMPLAINT,
    "unsubscribe": EventKind.UNSUBSCRIBE,
    "group_unsubscribe": EventKind.UNSUBSCRIBE,
    "open": EventKind.OPEN,
    "click": EventKind.CLICK,
}
SENDGRID_DROPS = {
    "bounced address": EventKind.BOUNCE_HARD,
    "invalid": EventKind.BOUNCE_HARD,
    "spam reporting address": EventKind.COMPLAINT,
    "unsubscribed address": EventKind.UNSUBSCRIBE,
}
"""``dropped`` events by ``reason``: SendGrid did not even try, and says why."""


def parse_sendgrid(body: bytes, headers: Mapping[str, str]) -> list[ProviderEvent]:
    """A JSON array of events; ``sg_event_id`` is SendGrid's own deduplication key."""
    batch = _json(body)
    if not isinstance(batch, list):
        raise MalformedWebhook("SendGrid posts a JSON array of events; this body is not one")
    return [_sendgrid_event(_object(item, f"event {n}"), n) for n, item in enumerate(batch)]


def _sendgrid_event(item: dict[str, Any], position: int) -> ProviderEvent:
    where = f"event {position}"
    name = _text(item, "event", where)
    email = _address(_optional_text(item, "email"))
    sg_message_id = _optional_text(item, "sg_message_id")
    event_id = _optional_text(item, "sg_event_id")
    key = _key(event_id) if event_id else _key(name, sg_message_id, email, item.get("timestamp"))
    kind = SENDGRID_EVENTS.get(name, EventKind.OTHER)
    if name == "bounce":  # "blocked": the receiving server refused this one for now
        blocked = str(item.get("type", "bounce")).lower() == "blocked"
        kind = EventKind.BOUNCE_SOFT if blocked else EventKind.BOUNCE_HARD
    elif name == "dropped":
        kind = SENDGRID_DROPS.get(str(item.get("reason", "")).lower(), EventKind.OTHER)
    return ProviderEvent(
        "sendgrid",
        key,
        kind,
        email,
        _sendgrid_request_id(sg_message_id),
        _epoch(item.get("timestamp")),
        item,
    )


def _sendgrid_request_id(sg_message_id: str | None) -> str | None:
    """The ``X-Message-Id`` the send call answered with: ``sg_message_id`` up to ``.filter``.

    SendGrid appends a per-recipient suffix (``<x-message-id>.filter0905p1...``) to the id
    of the request; today's request ids are base64url and hold no dot.
    """
    if not sg_message_id:
        return None
    head, marker, _ = sg_message_id.partition(".filter")
    return head if marker else sg_message_id.partition(".")[0]


# -- Mailgun --------------------------------------------------------------------------------


def parse_mailgun(body: bytes, headers: Mapping[str, str]) -> list[ProviderEvent]:
    """One event in ``event-data``; ``failed`` is split by ``severity`` and ``reason``."""
    document = _object(_json(body), "the body")
    data = _object(document.get("event-data"), "event-data")
    name = _text(data, "event", "event-data")
    event_id = _text(data, "id", "event-data")
    message = data.get("message")
    message_headers = message.get("headers") if isinstance(message, dict) else None
    raw_id = message_headers.get("message-id") if isinstance(message_headers, dict) else None
    kind = {
        "delivered": EventKind.DELIVERED,
        "complained": EventKind.COMPLAINT,
        "unsubscribed": EventKind.UNSUBSCRIBE,
        "opened": EventKind.OPEN,
        "clicked": EventKind.CLICK,
    }.get(name, EventKind.OTHER)
    if name == "failed":
        kind = _mailgun_failure(str(data.get("severity", "")), str(data.get("reason", "")))
    return [
        ProviderEvent(
            "mailgun",
            # Mailgun's ids are unique "within a day": with the event's time they are for good
            _key(event_id, data.get("timestamp")),
            kind,
            _address(_optional_text(data, "recipient")),
            f"<{raw_id.strip('<>')}>" if isinstance(raw_id, str) and raw_id else None,
            _epoch(data.get("timestamp")),
            document,
        )
    ]


def _mailgun_failure(severity: str, reason: str) -> EventKind:
    if severity == "temporary":
        return EventKind.BOUNCE_SOFT
    if reason == "suppress-complaint":
        return EventKind.COMPLAINT
    if reason == "suppress-unsubscribe":
        return EventKind.UNSUBSCRIBE
    if reason == "old":  # gave up after retrying temporary failures: the address may be fine
        return EventKind.BOUNCE_SOFT
    return EventKind.BOUNCE_HARD


# -- Resend ---------------------------------------------------------------------------------

RESEND_EVENTS = {
    "email.delivered": EventKind.DELIVERED,
    "email.complained": EventKind.COMPLAINT,
    "email.delivery_delayed": EventKind.DEFERRED,
    "email.opened": EventKind.OPEN,
    "email.clicked": EventKind.CLICK,
}


def parse_resend(body: bytes, headers: Mapping[str, str]) -> list[ProviderEvent]:
    """One event, one ``ProviderEvent`` per address in ``data.to``; keyed by ``svix-id``.

    Svix sends the same ``svix-id`` every time it retries a message, so it is the natural
    key; without it, the event's type, email id and time identify it.
    """
    document = _object(_json(body), "the body")
    name = _text(document, "type", "the body")
    data = _object(document.get("data"), "data")
    email_id = _optional_text(data, "email_id")
    kind = RESEND_EVENTS.get(name, EventKind.OTHER)
    if name == "email.bounced":
        kind = _resend_bounce(data.get("bounce"))
    to = data.get("to")
    addresses = [to] if isinstance(to, str) else to if isinstance(to, list) else []
    if not all(isinstance(a, str) for a in addresses):
        raise MalformedWebhook("data.to: expected a list of addresses")
    at = _time(document.get("created_at"))
    base = headers.get("svix-id") or _key(name, email_id, document.get("created_at"))
    return [
        ProviderEvent("resend", _key(base, email), kind, email, email_id, at, document)
        for email in [_address(a) for a in addresses] or [None]
    ]


def _resend_bounce(bounce: Any) -> EventKind:
    """Resend sends ``email.bounced`` for permanent rejections; a soft type, when given, wins."""
    kind = str(bounce.get("type", "")).lower() if isinstance(bounce, dict) else ""
    soft = kind in ("transient", "soft", "undetermined")
    return EventKind.BOUNCE_SOFT if soft else EventKind.BOUNCE_HARD


PARSERS: dict[str, Parser] = {
    "postmark": parse_postmark,
    "sendgrid": parse_sendgrid,
    "mailgun": parse_mailgun,
    "resend": parse_resend,
}


# -- shared helpers -------------------------------------------------------------------------


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedWebhook(f"the body is not JSON: {exc}") from exc


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedWebhook(f"{where}: expected a JSON object")
    return value


def _required(record: Mapping[str, Any], field: str, where: str) -> Any:
    value = record.get(field)
    if value is None or value == "":
        raise MalformedWebhook(f"{where}: the field {field!r} is missing")
    return value


def _text(record: Mapping[str, Any], field: str, where: str) -> str:
    value = _required(record, field, where)
    if not isinstance(value, str):
        raise MalformedWebhook(f"{where}: the field {field!r} should be a string")
    return value


def _optional_text(record: Mapping[str, Any], field: str) -> str | None:
    value = record.get(field)
    return value if isinstance(value, str) and value else None


def _address(value: str | None) -> str | None:
    """The bare address, lower-cased, so events of one reader count together."""
    if not value:
        return None
    return (parseaddr(value)[1] or value).strip().lower() or None


def _key(*parts: Any) -> str:
    """Parts joined by ':'; hashed when longer than the column, so a key always fits."""
    key = ":".join("" if part is None else str(part) for part in parts)
    if len(key) <= KEY_LIMIT:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:32]


def _time(value: Any) -> datetime | None:
    """An ISO 8601 time; None when absent or unreadable (the event still counts)."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _epoch(value: Any) -> datetime | None:
    """Seconds since the epoch, as a number or a numeric string."""
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
