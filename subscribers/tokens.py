"""Signed tokens in every personal link: who, which newsletter, for what. Computes only.

A token is an HMAC-signed, URL-safe string (itsdangerous) naming a subscriber, a newsletter
and a purpose; each purpose has its own salt, so an unsubscribe token cannot be replayed as
a confirmation. A forged or altered token, or one past its age, raises ``BadToken`` and the
web pages change nothing.

Lifetimes: a confirmation link expires after seven days (ask again, it is cheap);
preferences links after a year; unsubscribe and web-view links never, because Gmail and
Yahoo require unsubscribing to keep working from any email a person still has.

Rotating the secret: put the new one in DIGEST_SECRET_KEY and the old one in
DIGEST_OLD_SECRET_KEYS. New links are signed with the new key; links signed with an old key
keep working until it is removed from the list (the grace period is as long as ops keep it).
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import json
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadData, SignatureExpired, TimestampSigner, URLSafeTimedSerializer


class Purpose(enum.Enum):
    CONFIRM = "confirm"
    UNSUBSCRIBE = "unsubscribe"
    PREFERENCES = "preferences"
    VIEW = "view"


LIFETIMES: dict[Purpose, timedelta | None] = {
    Purpose.CONFIRM: timedelta(days=7),
    Purpose.PREFERENCES: timedelta(days=365),
    Purpose.UNSUBSCRIBE: None,
    Purpose.VIEW: None,
}


class BadToken(ValueError):
    """The token is not one we signed for this purpose, or it has expired."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.expired = reason == "expired"


@dataclass(frozen=True, slots=True)
class Claims:
    subscriber_id: int
    newsletter: str
    edition_id: str | None = None


class Tokens:
    """Signs and reads tokens; ``clock`` is the time tokens are made and read at.

    Tests set ``clock`` to make tokens that are already old; an edition's links set it to
    the edition's slot, so that its copies are the same bytes every time they are built
    (see ``digest.wiring.Parts.links``). Such an instance is for making tokens only: it
    would also read ages against that fixed time.
    """

    def __init__(
        self,
        secret: str,
        old_secrets: Sequence[str] = (),
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if len(secret) < 16:
            raise ValueError("the signing secret must be at least 16 characters")
        self._keys = [*old_secrets, secret]  # itsdangerous signs with the last, accepts all
        self._signer = TimestampSigner if clock is None else _clocked_signer(clock)
        self._clock = clock
        self._macs = {purpose: _mac(secret, purpose) for purpose in Purpose}
        self._tails: dict[tuple[str, str | None], bytes] = {}
        self._last_stamp: tuple[int, bytes] = (-1, b"")

    def _serializer(self, purpose: Purpose) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(
            self._keys, salt=f"digest.{purpose.value}", signer=self._signer
        )

    def make(
        self, purpose: Purpose, subscriber_id: int, newsletter: str, edition_id: str | None = None
    ) -> str:
        """A token for these claims, as ``URLSafeTimedSerializer.dumps`` makes it, faster.

        The send loop signs three tokens per subscriber, and itsdangerous spends ~28 µs on
        each (a serializer, a signer and a derived key built per call, and a zlib attempt
        whose state alone costs more than the rest). This writes the same format with the
        key derived once per purpose: base64url(compact JSON) "." base64url(timestamp) "."
        base64url(HMAC-SHA1 under sha1(salt + "signer" + secret), itsdangerous's
        "django-concat"). The one difference: itsdangerous zlib-compresses a payload when
        that is shorter, which a few dozen bytes of ids never are, and ``read`` (itsdangerous
        ``loads``) takes the uncompressed form either way. ``tests/test_tokens.py`` checks
        the tokens against itsdangerous's own.
        """
        return self._sign(purpose, self._body(subscriber_id, newsletter, edition_id))

    def make_personal(
        self, subscriber_id: int, newsletter: str, edition_id: str
    ) -> tuple[str, str, str]:
        """An edition's three tokens for one subscriber: unsubscribe, preferences, view.

        The same tokens ``make`` would give, with the work they share done once: the
        unsubscribe and preferences tokens carry the same payload, and all three the same
        time stamp.
        """
        shared = self._body(subscriber_id, newsletter, None)
        return (
            self._sign(Purpose.UNSUBSCRIBE, shared),
            self._sign(Purpose.PREFERENCES, shared),
            self._sign(Purpose.VIEW, self._body(subscriber_id, newsletter, edition_id)),
        )

    def _body(self, subscriber_id: int, newsletter: str, edition_id: str | None) -> bytes:
        """base64url of the compact JSON ``[id, newsletter(, edition)]`` plus ".stamp".

        The JSON of the strings after the id is the same for a whole edition, so it is
        encoded once and kept (a handful of entries per process).
        """
        key = (newsletter, edition_id)
        tail = self._tails.get(key)
        if tail is None:
            rest = [newsletter] if edition_id is None else [newsletter, edition_id]
            tail = json.dumps(rest, ensure_ascii=False, separators=(",", ":"))[1:].encode()
            self._tails[key] = tail
        body = b"[" + str(subscriber_id).encode() + b"," + tail
        return _b64(body) + b"." + self._stamp()

    def _stamp(self) -> bytes:
        now = self._clock() if self._clock is not None else None
        stamp = int(now.timestamp()) if now is not None else int(time.time())
        if self._last_stamp[0] != stamp:
            self._last_stamp = (stamp, _b64(struct.pack(">Q", stamp).lstrip(b"\x00")))
        return self._last_stamp[1]

    def _sign(self, purpose: Purpose, value: bytes) -> str:
        mac = self._macs[purpose].copy()
        mac.update(value)
        return (value + b"." + _b64(mac.digest())).decode("ascii")

    def read(self, token: str, purpose: Purpose) -> Claims:
        lifetime = LIFETIMES[purpose]
        max_age = int(lifetime.total_seconds()) if lifetime else None
        try:
            payload = self._serializer(purpose).loads(token, max_age=max_age)
        except SignatureExpired as exc:
            raise BadToken("expired") from exc
        except BadData as exc:
            raise BadToken("not valid") from exc
        if not _well_formed(payload):
            raise BadToken("not valid")
        edition = payload[2] if len(payload) == 3 else None
        return Claims(int(payload[0]), str(payload[1]), edition)


def _well_formed(payload: object) -> bool:
    return (
        isinstance(payload, list)
        and len(payload) in (2, 3)
        and isinstance(payload[0], int)
        and isinstance(payload[1], str)
        and all(isinstance(item, str) for item in payload[2:])
    )


def _mac(secret: str, purpose: Purpose) -> hmac.HMAC:
    """The HMAC itsdangerous signs a ``purpose`` token with, keyed once."""
    salt = f"digest.{purpose.value}".encode()
    # SHA-1 is itsdangerous's key derivation, kept so its ``loads`` reads these tokens
    key = hashlib.sha1(salt + b"signer" + secret.encode("utf-8")).digest()  # noqa: S324
    return hmac.new(key, digestmod=hashlib.sha1)


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _clocked_signer(clock: Callable[[], datetime]) -> type[TimestampSigner]:
    """A signer whose "now" is ``clock``: a test can make a token that is already old."""

    class ClockedSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(clock().timestamp())

    return ClockedSigner
