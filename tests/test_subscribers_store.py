"""The subscriber store on SQLite and PostgreSQL: lifecycle, history, suppression, audience."""

from __future__ import annotations

import pytest
from conftest import StepClock
from sqlalchemy import Engine

from subscribers.addresses import InvalidAddress
from subscribers.model import Cadence, Source, Status, SubscriptionStatus
from subscribers.store import SubscriberStore


@pytest.fixture
def people(engine: Engine) -> SubscriberStore:
    return SubscriberStore(engine, clock=StepClock())


def confirmed(people: SubscriberStore, email: str, newsletter: str = "daily") -> int:
    signed = people.sign_up(email, newsletter, name="Reader")
    assert signed.subscriber is not None
    assert people.confirm(signed.subscriber.id, newsletter) is not None
    return signed.subscriber.id


def audience_ids(people: SubscriberStore, newsletter: str = "daily", page: int = 1000) -> list[int]:
    return [member.id for chunk in people.audience(newsletter, page_size=page) for member in chunk]


def test_sign_up_is_pending_until_confirmed(people: SubscriberStore) -> None:
    signed = people.sign_up("Ana@Example.ORG", "daily", name="  Ana  Lima ", sections=["Science"])
    assert signed.needs_confirmation
    subscriber = signed.subscriber
    assert subscriber is not None
    assert subscriber.email == "Ana@example.org"  # the domain folded, the local part kept
    assert subscriber.name == "Ana Lima"
    assert subscriber.status is Status.PENDING
    assert subscriber.consent_source is Source.FORM
    assert audience_ids(people) == []
    active = people.confirm(subscriber.id, "daily")
    assert active is not None
    assert active.status is Status.ACTIVE
    assert active.confirmed_at is not None
    assert audience_ids(people) == [subscriber.id]
    (member,) = next(people.audience("daily"))
    assert member.sections == ("Science",)
    kinds = [event.kind for event in people.events(subscriber.id)]
    assert kinds == ["created", "signed_up", "confirmed"]


def test_invalid_address_is_refused_with_a_reason(people: SubscriberStore) -> None:
    with pytest.raises(InvalidAddress, match="@"):
        people.sign_up("not-an-address", "daily")


def test_signing_up_again_when_active_sends_nothing(people: SubscriberStore) -> None:
    confirmed(people, "ana@example.org")
    again = people.sign_up("ana@example.org", "daily")
    assert not again.needs_confirmation
    assert again.refused is None


def test_unsubscribe_from_one_newsletter_keeps_the_others(people: SubscriberStore) -> None:
    subscriber_id = confirmed(people, "ana@example.org", "daily")
    weekly = people.sign_up("ana@example.org", "weekly")
    assert weekly.needs_confirmation
    people.confirm(subscriber_id, "weekly")
    assert people.unsubscribe(subscriber_id, "daily")
    assert not people.unsubscribe(subscriber_id, "daily")  # idempotent: nothing changes twice
    assert audience_ids(people, "daily") == []
    assert audience_ids(people, "weekly") == [subscriber_id]
    subscriber = people.get(subscriber_id)
    assert subscriber is not None
    assert subscriber.status is Status.ACTIVE
    daily = people.subscription(subscriber_id, "daily")
    assert daily is not None
    assert daily.status is SubscriptionStatus.UNSUBSCRIBED


def test_unsubscribe_from_everything(people: SubscriberStore) -> None:
    subscriber_id = confirmed(people, "ana@example.org", "daily")
    people.sign_up("ana@example.org", "weekly")
    people.confirm(subscriber_id, "weekly")
    assert people.unsubscribe(subscriber_id, None)
    assert audience_ids(people, "daily") == audience_ids(people, "weekly") == []
    subscriber = people.get(subscriber_id)
    assert subscriber is not None
    assert subscriber.status is Status.UNSUBSCRIBED
    assert subscriber.unsubscribed_at is not None
    assert people.confirm(subscriber_id, "daily") is None  # an old confirm link does nothing


def test_suppression_beats_every_path_back_in(people: SubscriberStore) -> None:
    subscriber_id = confirmed(people, "ana@example.org")
    people.suppress("ANA@example.org", "complaint", Source.PROVIDER)
    subscriber = people.get(subscriber_id)
    assert subscriber is not None
    assert subscriber.status is Status.COMPLAINED
    assert audience_ids(people) == []
    again = people.sign_up("ana@example.org", "daily")
    assert again.refused == "suppressed"
    assert not again.needs_confirmation
    suppression = people.suppression("Ana@Example.org")
    assert suppression is not None
    assert suppression.reason == "complaint"


def test_removal_erases_personal_data_and_keeps_a_hash(people: SubscriberStore) -> None:
    subscriber_id = confirmed(people, "ana@example.org")
    assert people.remove("ana@example.org")
    assert people.get(subscriber_id) is None
    assert people.find("ana@example.org") is None
    suppression = people.suppression("ana@example.org")
    assert suppression is not None
    assert suppression.email is None  # only the hash is left
    assert people.sign_up("ana@example.org", "daily").refused == "suppressed"


def test_preferences_change_what_and_when(people: SubscriberStore) -> None:
    subscriber_id = confirmed(people, "ana@example.org")
    changed = people.set_preferences(
        subscriber_id, "daily", ["Culture"], Cadence.EACH, "Europe/Paris", 7
    )
    assert changed
    assert not people.set_preferences(
        subscriber_id, "daily", ["Culture"], Cadence.EACH, "Europe/Paris", 7
    )
    (member,) = next(people.audience("daily"))
    assert (member.sections, member.timezone, member.send_hour) == (("Culture",), "Europe/Paris", 7)
    people.set_preferences(subscriber_id, "daily", None, Cadence.WEEKLY, None, None)
    assert audience_ids(people) == []  # weekly readers get the roll-up, not each edition
    assert people.events(subscriber_id)[-1].detail["cadence"] == "weekly"


def test_audience_streams_in_pages_by_id(people: SubscriberStore) -> None:
    ids = [confirmed(people, f"reader{n}@example.org") for n in range(7)]
    people.unsubscribe(ids[3], "daily")
    pages = list(people.audience("daily", page_size=2))
    assert [len(page) for page in pages] == [2, 2, 2]
    assert [m.id for page in pages for m in page] == [i for i in ids if i != ids[3]]
