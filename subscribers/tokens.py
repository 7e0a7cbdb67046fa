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

import enum
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
    """Signs and reads tokens; ``clock`` (tests only) is the time tokens are made and read at."""

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

    def _serializer(self, purpose: Purpose) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(
            self._keys, salt=f"digest.{purpose.value}", signer=self._signer
        )

    def make(
        self, purpose: Purpose, subscriber_id: int, newsletter: str, edition_id: str | None = None
    ) -> str:
        payload: list[object] = [subscriber_id, newsletter]
        if edition_id is not None:
            payload.append(edition_id)
        return str(self._serializer(purpose).dumps(payload))

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


def _clocked_signer(clock: Callable[[], datetime]) -> type[TimestampSigner]:
    """A signer whose "now" is ``clock``: a test can make a token that is already old."""

    class ClockedSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(clock().timestamp())

    return ClockedSigner
