"""The four providers as webhook senders: their payload shapes, signed with their schemes.

Each ``Peer`` builds the events a provider posts (hard and soft bounce, complaint,
unsubscribe, delivery) in that provider's documented shape, and signs a body the way the
provider does, with keys made here: an ECDSA P-256 pair for SendGrid, an HMAC signing key for
Mailgun, a ``whsec_`` secret for Resend (Svix), basic-auth credentials for Postmark. A request
can be forged (signed with another key), or stale (its timestamp ``age`` in the past).

``ledger_id`` is the message id in the form the provider's send API answered with (what the
ledger records); each peer puts it into its events in the provider's own form.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from abc import ABC, abstractmethod
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

Request = tuple[bytes, dict[str, str]]
KINDS = ("hard", "soft", "complaint", "unsubscribe", "delivered")
SENDER = "digest@meridian.example"


def iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


class Peer(ABC):
    name: str
    stamped = True  # its signature covers a timestamp

    @abstractmethod
    def settings(self) -> dict[str, str]:
        """The DIGEST_ settings (as Settings fields) that configure this peer's webhook."""

    @abstractmethod
    def event(self, kind: str, email: str, ledger_id: str, n: int) -> Any:
        """Event number ``n`` of ``kind`` for a message to ``email``, as the provider posts it."""

    @abstractmethod
    def sign(self, payload: Any, forged: bool, timestamp: str, token: str | None) -> Request:
        """The body and headers of the POST carrying ``payload``, signed at ``timestamp``."""

    def request(
        self,
        payload: Any,
        *,
        forged: bool = False,
        age: timedelta = timedelta(0),
        token: str | None = None,
    ) -> Request:
        """The provider's POST: ``forged`` signs with another key, ``age`` backdates it."""
        timestamp = str(int((datetime.now(UTC) - age).timestamp()))
        return self.sign(payload, forged, timestamp, token)

    def ledger_id(self, n: int) -> str:
        return f"{self.name}-{n:04d}-0b5e-4c1d-9f3e-7a1b2c3d4e5f"


class Postmark(Peer):
    """One record per POST; authenticated by the basic-auth credentials in the hook's URL."""

    name = "postmark"
    stamped = False
    user, password = "postmark-hooks", secrets.token_urlsafe(18)

    def settings(self) -> dict[str, str]:
        return {"postmark_webhook_username": self.user, "postmark_webhook_password": self.password}

    def event(self, kind: str, email: str, ledger_id: str, n: int) -> Any:
        at = iso(datetime.now(UTC))
        common = {"MessageStream": "broadcast", "ServerID": 23, "MessageID": ledger_id}
        if kind == "delivered":
            return {"RecordType": "Delivery", "Recipient": email, "DeliveredAt": at, **common}
        if kind == "unsubscribe":
            return {
                "RecordType": "SubscriptionChange",
                "Recipient": email,
                "ChangedAt": at,
                "Origin": "Recipient",
                "SuppressSending": True,
                "SuppressionReason": "ManualSuppression",
                **common,
            }
        bounce_type, code, record = {
            "hard": ("HardBounce", 1, "Bounce"),
            "soft": ("SoftBounce", 4096, "Bounce"),
            "complaint": ("SpamComplaint", 100001, "SpamComplaint"),
        }[kind]
        return {
            "RecordType": record,
            "ID": 4323372036854775000 + n,
            "Type": bounce_type,
            "TypeCode": code,
            "Email": email,
            "From": SENDER,
            "BouncedAt": at,
            "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist",
            "Inactive": kind != "soft",
            "CanActivate": True,
            "DumpAvailable": True,
            "Subject": "The Meridian Daily",
            **common,
        }

    def sign(self, payload: Any, forged: bool, timestamp: str, token: str | None) -> Request:
        password = "not-" + self.password if forged else self.password
        credentials = base64.b64encode(f"{self.user}:{password}".encode()).decode()
        headers = {"content-type": "application/json", "authorization": f"Basic {credentials}"}
        return orjson.dumps(payload), headers


class SendGrid(Peer):
    """A JSON array of events per POST, signed with ECDSA P-256 over timestamp + body."""

    name = "sendgrid"
    key = ec.generate_private_key(ec.SECP256R1())
    other_key = ec.generate_private_key(ec.SECP256R1())

    def settings(self) -> dict[str, str]:
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return {"sendgrid_webhook_public_key": base64.b64encode(der).decode()}

    def ledger_id(self, n: int) -> str:
        return f"Ua9z9lSTSaqYBWJe_Xfc{n:04d}"  # the X-Message-Id of the send call

    def event(self, kind: str, email: str, ledger_id: str, n: int) -> Any:
        event: dict[str, Any] = {
            "email": email,
            "timestamp": int(datetime.now(UTC).timestamp()),
            "smtp-id": f"<{ledger_id}@ismtpd-555>",
            "category": ["daily"],
            "sg_event_id": f"ZGVsaXZlcmVkLTAtMjQ2{n:06d}",
            "sg_message_id": f"{ledger_id}.filter0905p1mdw1-4434-59E0C6FF-{n}.0",
        }
        if kind in ("hard", "soft"):
            blocked = kind == "soft"
            return event | {
                "event": "bounce",
                "type": "blocked" if blocked else "bounce",
                "status": "4.7.1" if blocked else "5.1.1",
                "reason": "450 too many connections" if blocked else "550 unknown recipient",
                "bounce_classification": "Reputation" if blocked else "Invalid Address",
            }
        name = {"complaint": "spamreport", "unsubscribe": "unsubscribe"}.get(kind, kind)
        if name == "delivered":
            return event | {"event": name, "response": "250 OK", "tls": 1}
        return event | {"event": name}

    def sign(self, payload: Any, forged: bool, timestamp: str, token: str | None) -> Request:
        body = orjson.dumps(payload if isinstance(payload, list) else [payload])
        signer = self.other_key if forged else self.key
        signature = signer.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return body, {
            "content-type": "application/json",
            "x-twilio-email-event-webhook-signature": base64.b64encode(signature).decode(),
            "x-twilio-email-event-webhook-timestamp": timestamp,
        }


class Mailgun(Peer):
    """``{"signature", "event-data"}`` per POST; HMAC-SHA256 of timestamp + token, in the body."""

    name = "mailgun"
    signing_key = secrets.token_hex(16)

    def settings(self) -> dict[str, str]:
        return {"mailgun_webhook_signing_key": self.signing_key}

    def ledger_id(self, n: int) -> str:
        return f"<20261127060000.{n:016x}@mg.meridian.example>"  # the send call's "id"

    def event(self, kind: str, email: str, ledger_id: str, n: int) -> Any:
        data: dict[str, Any] = {
            "id": f"CCXMjJ7nQi2N3BPig{n:05d}",
            "timestamp": datetime.now(UTC).timestamp(),
            "log-level": "info",
            "recipient": email,
            "recipient-domain": email.rpartition("@")[2],
            "message": {
                "headers": {
                    "message-id": ledger_id.strip("<>"),
                    "from": SENDER,
                    "to": email,
                    "subject": "The Meridian Daily",
                }
            },
        }
        if kind in ("hard", "soft"):
            permanent = kind == "hard"
            return data | {
                "event": "failed",
                "log-level": "error" if permanent else "warn",
                "severity": "permanent" if permanent else "temporary",
                "reason": "bounce" if permanent else "generic",
                "delivery-status": {
                    "code": 550 if permanent else 452,
                    "message": "5.1.1 No such user" if permanent else "4.2.2 Mailbox full",
                    "attempt-no": 1,
                },
            }
        name = {"complaint": "complained", "unsubscribe": "unsubscribed"}.get(kind, kind)
        return data | {"event": name}

    def sign(self, payload: Any, forged: bool, timestamp: str, token: str | None) -> Request:
        token = token or secrets.token_hex(25)
        key = ("x" + self.signing_key) if forged else self.signing_key
        signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256)
        body = {
            "signature": {
                "timestamp": timestamp,
                "token": token,
                "signature": signature.hexdigest(),
            },
            "event-data": payload,
        }
        return orjson.dumps(body), {"content-type": "application/json"}


class Resend(Peer):
    """``{"type", "created_at", "data"}`` per POST, signed Svix-style over id.timestamp.body."""

    name = "resend"
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()

    def settings(self) -> dict[str, str]:
        return {"resend_webhook_secret": self.secret}

    def event(self, kind: str, email: str, ledger_id: str, n: int) -> Any:
        at = iso(datetime.now(UTC))
        name = {
            "hard": "email.bounced",
            "soft": "email.bounced",
            "complaint": "email.complained",
            "delivered": "email.delivered",
        }[kind]
        data: dict[str, Any] = {
            "created_at": at,
            "email_id": ledger_id,
            "from": f"The Meridian Review <{SENDER}>",
            "to": [email],
            "subject": "The Meridian Daily",
        }
        if name == "email.bounced":
            data["bounce"] = {
                "message": "The recipient's mail server permanently rejected the email.",
                "subType": "General",
                "type": "Permanent" if kind == "hard" else "Transient",
            }
        return {"type": name, "created_at": at, "data": data, "svix": f"msg_{n:08d}"}

    def sign(self, payload: Any, forged: bool, timestamp: str, token: str | None) -> Request:
        document = dict(payload)
        message_id = document.pop("svix", f"msg_{secrets.token_hex(8)}")
        body = orjson.dumps(document)
        key = base64.b64decode(self.secret.removeprefix("whsec_"))
        if forged:
            key = secrets.token_bytes(24)
        mac = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256)
        stale = base64.b64encode(secrets.token_bytes(32)).decode()  # a rotated-out secret's
        signatures = f"v1,{stale} v1,{base64.b64encode(mac.digest()).decode()}"
        return body, {
            "content-type": "application/json",
            "svix-id": message_id,
            "svix-timestamp": timestamp,
            "svix-signature": signatures,
        }


PEERS: list[Peer] = [Postmark(), SendGrid(), Mailgun(), Resend()]
