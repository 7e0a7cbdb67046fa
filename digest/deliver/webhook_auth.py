"""Is this webhook request really from the provider? One check per scheme. Computes only.

- Postmark: HTTP basic auth, from the credentials written into the webhook URL.
- SendGrid: ECDSA P-256 / SHA-256 over the timestamp header and the raw body, verified with
  the account's public key (base64 DER SubjectPublicKeyInfo, as SendGrid shows it).
- Mailgun: hex HMAC-SHA256 of timestamp + token under the webhook signing key, in the body's
  ``signature`` object. The token is handed back: the caller refuses one seen before (that
  needs the database, so it is not done here).
- Resend: Svix's scheme, base64 HMAC-SHA256 of ``{svix-id}.{svix-timestamp}.{body}`` under the
  ``whsec_`` secret; the header may list several ``v1,<signature>`` entries (key rotation).

Every comparison of a secret-derived value is ``hmac.compare_digest``; credentials are
compared in full even when the user name is already wrong. Every check takes the same
arguments (its key, the body, the headers, the time), so the app binds each key once and
calls them alike. Timestamps must be within a
tolerance of ``now`` either way, so a captured request cannot be replayed later. Each
failure is one ``WebhookAuthError`` whose message names the check, never a secret or the
expected value. Keys are decoded once (``sendgrid_key``, ``svix_key``) when the app starts,
and a malformed one is a ``ConfigError`` naming its setting.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from digest.errors import ConfigError, WebhookAuthError

SENDGRID_TOLERANCE = timedelta(minutes=10)
MAILGUN_TOLERANCE = timedelta(minutes=5)
SVIX_TOLERANCE = timedelta(minutes=5)
SENDGRID_SIGNATURE = "x-twilio-email-event-webhook-signature"
SENDGRID_TIMESTAMP = "x-twilio-email-event-webhook-timestamp"


# -- keys, decoded once ---------------------------------------------------------------------


def sendgrid_key(text: str) -> ec.EllipticCurvePublicKey:
    """The verification key SendGrid shows: base64 of a DER P-256 public key."""
    try:
        key = load_der_public_key(base64.b64decode(text.strip(), validate=True))
    except (ValueError, binascii.Error) as exc:
        raise ConfigError(
            "setting DIGEST_SENDGRID_WEBHOOK_PUBLIC_KEY: not a base64 DER public key; copy "
            "the verification key from SendGrid's Mail Settings > Event Webhook"
        ) from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ConfigError(
            "setting DIGEST_SENDGRID_WEBHOOK_PUBLIC_KEY: SendGrid signs with ECDSA P-256, "
            "and this is another kind of key"
        )
    return key


def svix_key(secret: str) -> bytes:
    """The HMAC key of a Svix secret: the base64 after ``whsec_``."""
    encoded = secret.strip().removeprefix("whsec_")
    try:
        key = base64.b64decode(encoded, validate=True)
    except binascii.Error as exc:
        raise ConfigError(
            "setting DIGEST_RESEND_WEBHOOK_SECRET: expected whsec_ followed by base64, as "
            "Resend shows it on the webhook's page"
        ) from exc
    if not key:
        raise ConfigError("setting DIGEST_RESEND_WEBHOOK_SECRET: the secret is empty")
    return key


# -- Postmark -------------------------------------------------------------------------------


def verify_basic_auth(
    credentials: tuple[str, str], body: bytes, headers: Mapping[str, str], now: datetime
) -> None:
    """The Authorization header's basic credentials are the configured (user, password).

    The body and the time are not used: Postmark signs neither, so the transport (HTTPS)
    and the secret credentials are all there is.
    """
    username, password = credentials
    scheme, _, encoded = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise WebhookAuthError("no basic auth credentials (put them in the webhook URL)")
    try:
        given = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error as exc:
        raise WebhookAuthError("the basic auth credentials are not base64") from exc
    user, _, secret = given.partition(b":")
    same_user = hmac.compare_digest(user, username.encode())
    same_password = hmac.compare_digest(secret, password.encode())
    if not (same_user & same_password):
        raise WebhookAuthError("the basic auth user or password does not match")


# -- SendGrid -------------------------------------------------------------------------------


def verify_sendgrid(
    key: ec.EllipticCurvePublicKey,
    body: bytes,
    headers: Mapping[str, str],
    now: datetime,
    tolerance: timedelta = SENDGRID_TOLERANCE,
) -> None:
    signature = headers.get(SENDGRID_SIGNATURE)
    timestamp = headers.get(SENDGRID_TIMESTAMP)
    if not signature or not timestamp:
        raise WebhookAuthError(
            "the X-Twilio-Email-Event-Webhook-Signature or -Timestamp header is missing"
        )
    try:
        der = base64.b64decode(signature, validate=True)
    except binascii.Error as exc:
        raise WebhookAuthError("the SendGrid signature is not base64") from exc
    try:
        key.verify(der, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise WebhookAuthError("the SendGrid signature does not match the body") from exc
    _fresh(timestamp, now, tolerance, "X-Twilio-Email-Event-Webhook-Timestamp")


# -- Mailgun --------------------------------------------------------------------------------


def verify_mailgun(
    signing_key: str,
    body: bytes,
    headers: Mapping[str, str],
    now: datetime,
    tolerance: timedelta = MAILGUN_TOLERANCE,
) -> str:
    """Check the body's signature; the token, for the caller's replay check."""
    signature = _mailgun_signature(body)
    timestamp, token, given = (signature.get(f) for f in ("timestamp", "token", "signature"))
    if not all(isinstance(v, str | int) and str(v) for v in (timestamp, token, given)):
        raise WebhookAuthError("the body's signature object lacks timestamp, token or signature")
    message = f"{timestamp}{token}".encode()
    expected = hmac.new(signing_key.encode(), message, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(str(given).lower().encode(), expected.encode()):
        raise WebhookAuthError("the Mailgun signature does not match timestamp and token")
    _fresh(str(timestamp), now, tolerance, "signature.timestamp")
    return str(token)


def _mailgun_signature(body: bytes) -> dict[str, Any]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise WebhookAuthError("no signature: the body is not JSON") from exc
    signature = document.get("signature") if isinstance(document, dict) else None
    if not isinstance(signature, dict):
        raise WebhookAuthError("no signature object in the body")
    return signature


# -- Resend (Svix) --------------------------------------------------------------------------


def verify_svix(
    key: bytes,
    body: bytes,
    headers: Mapping[str, str],
    now: datetime,
    tolerance: timedelta = SVIX_TOLERANCE,
) -> None:
    message_id = headers.get("svix-id")
    timestamp = headers.get("svix-timestamp")
    signatures = headers.get("svix-signature")
    if not message_id or not timestamp or not signatures:
        raise WebhookAuthError("the svix-id, svix-timestamp or svix-signature header is missing")
    signed = f"{message_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
    matched = False
    for entry in signatures.split():
        version, _, given = entry.partition(",")
        if version == "v1" and hmac.compare_digest(given.encode(), expected):
            matched = True
    if not matched:
        raise WebhookAuthError("no svix-signature entry matches the body")
    _fresh(timestamp, now, tolerance, "svix-timestamp")


# -- shared ---------------------------------------------------------------------------------


def _fresh(timestamp: str, now: datetime, tolerance: timedelta, name: str) -> None:
    """Seconds since the epoch, within ``tolerance`` of ``now`` (past or future)."""
    try:
        seconds = int(timestamp)
    except ValueError as exc:
        raise WebhookAuthError(f"{name} is not a number of seconds") from exc
    off = abs(now.timestamp() - seconds)
    if off > tolerance.total_seconds():
        raise WebhookAuthError(
            f"{name} is {off:.0f} s away from now, outside the "
            f"{tolerance.total_seconds():.0f} s tolerance (a replay, or a clock off)"
        )
