"""``Tokens.make`` writes itsdangerous's format itself (it is on the send path, three tokens a
subscriber): its tokens must be the very ones ``URLSafeTimedSerializer.dumps`` makes, and
every one must read back, including where itsdangerous would have compressed the payload.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from itsdangerous import URLSafeTimedSerializer

from subscribers.tokens import BadToken, Purpose, Tokens, _clocked_signer

SECRET = "a-secret-of-at-least-16-characters"
WHEN = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)


def reference(
    purpose: Purpose, payload: list[object], keys: list[str], when: datetime = WHEN
) -> str:
    """The token as itsdangerous itself makes it."""
    serializer = URLSafeTimedSerializer(
        keys, salt=f"digest.{purpose.value}", signer=_clocked_signer(lambda: when)
    )
    return str(serializer.dumps(payload))


@pytest.mark.parametrize("purpose", list(Purpose))
@pytest.mark.parametrize(
    ("subscriber", "newsletter", "edition"),
    [
        (1, "daily", None),
        (123_456_789, "weekly-science", "2b9caaefc3c2fa93"),
        (42, "Lettre du matin", "0f1e2d3c4b5a6978"),
        (7, "Утренний выпуск", None),  # not ASCII: JSON keeps it as UTF-8, like itsdangerous
        (2**40, "d", "x"),
    ],
)
def test_tokens_are_the_ones_itsdangerous_makes(
    purpose: Purpose, subscriber: int, newsletter: str, edition: str | None
) -> None:
    tokens = Tokens(SECRET, ["an-older-secret-0123456789"], clock=lambda: WHEN)
    payload: list[object] = [subscriber, newsletter] + ([edition] if edition else [])
    made = tokens.make(purpose, subscriber, newsletter, edition)
    assert made == reference(purpose, payload, ["an-older-secret-0123456789", SECRET])
    claims = Tokens(SECRET, clock=lambda: WHEN + timedelta(hours=1)).read(made, purpose)
    assert (claims.subscriber_id, claims.newsletter, claims.edition_id) == (
        subscriber,
        newsletter,
        edition,
    )


def test_a_payload_itsdangerous_would_compress_still_reads_back() -> None:
    name = "daily-" + "a" * 200
    made = Tokens(SECRET).make(Purpose.UNSUBSCRIBE, 5, name)
    assert reference(Purpose.UNSUBSCRIBE, [5, name], [SECRET]).startswith(".")  # compressed
    assert not made.startswith(".")  # ours is not, and is just as valid
    assert Tokens(SECRET).read(made, Purpose.UNSUBSCRIBE).newsletter == name


def test_a_token_is_tied_to_its_purpose_and_secret() -> None:
    made = Tokens(SECRET).make(Purpose.UNSUBSCRIBE, 5, "daily")
    with pytest.raises(BadToken):
        Tokens(SECRET).read(made, Purpose.CONFIRM)
    with pytest.raises(BadToken):
        Tokens("another-secret-0123456789").read(made, Purpose.UNSUBSCRIBE)
    assert Tokens("new-secret-0123456789", [SECRET]).read(made, Purpose.UNSUBSCRIBE).subscriber_id


def test_a_stamped_token_is_the_same_every_time_and_ages_from_its_stamp() -> None:
    stamped = Tokens(SECRET, clock=lambda: WHEN)
    first = stamped.make(Purpose.PREFERENCES, 9, "daily")
    assert stamped.make(Purpose.PREFERENCES, 9, "daily") == first
    late = Tokens(SECRET, clock=lambda: WHEN + timedelta(days=366))
    with pytest.raises(BadToken) as expired:
        late.read(first, Purpose.PREFERENCES)
    assert expired.value.expired


def test_an_editions_three_tokens_at_once_are_the_ones_make_gives() -> None:
    tokens = Tokens(SECRET, clock=lambda: WHEN)
    together = tokens.make_personal(42, "daily", "2b9caaefc3c2fa93")
    apart = (
        tokens.make(Purpose.UNSUBSCRIBE, 42, "daily"),
        tokens.make(Purpose.PREFERENCES, 42, "daily"),
        tokens.make(Purpose.VIEW, 42, "daily", "2b9caaefc3c2fa93"),
    )
    assert together == apart
    assert together[0] == reference(Purpose.UNSUBSCRIBE, [42, "daily"], [SECRET])
    assert tokens.read(together[2], Purpose.VIEW).edition_id == "2b9caaefc3c2fa93"
