"""Provider webhooks through the real app, signed with each provider's real scheme.

httpx calls the ASGI app in-process over a real SQLite store; the requests are built and
signed by ``webhook_peers`` as Postmark, SendGrid, Mailgun and Resend build and sign theirs,
with keys made for the test. Each test then reads the store: what changed, and (for forged,
stale, replayed and malformed requests) that nothing did. The event and token stores also
run on PostgreSQL through the ``engine`` fixture.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from httpx import Response
from sqlalchemy import Engine, func, select
from webapp import AppClient, WebApp, app_client, running_site
from webhook_peers import PEERS, Mailgun, Peer

from digest.deliver.events import EventKind, ProviderEvent
from digest.errors import ConfigError
from digest.store.editions import Edition, EditionStore
from digest.store.events import EventStore
from digest.store.ledger import Ledger, NewRow
from digest.store.ledger_schema import deliveries, provider_events, webhook_tokens
from digest.store.replay import ReplayGuard
from subscribers.model import Source, Status
from subscribers.schema import subscribers, suppressions

PUBLIC_URL = "https://news.example.com"
ANA = "ana@example.org"
BOB = "bob@example.org"
PAST = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
STAMPED = [p for p in PEERS if p.stamped]
UNSUBSCRIBING = [p for p in PEERS if p.name != "resend"]  # Resend posts no unsubscribe event
STORED = {"hard": "bounce_hard", "complaint": "complaint"}


def names(peer: Peer) -> str:
    return peer.name


@dataclass(frozen=True)
class Readers:
    """Ana and Bob, active on the daily; e1 was sent to Ana, e2 is pending for both."""

    ana: int
    bob: int


@pytest.fixture(params=PEERS, ids=names)
def peer(request: pytest.FixtureRequest) -> Peer:
    chosen: Peer = request.param
    return chosen


@pytest.fixture
def site(tmp_path: Path) -> Iterator[WebApp]:
    secrets: dict[str, Any] = {k: v for p in PEERS for k, v in p.settings().items()}
    with running_site(tmp_path, PUBLIC_URL, soft_bounce_limit=3, **secrets) as site:
        yield site


@pytest.fixture
def client(site: WebApp) -> Iterator[AppClient]:
    with app_client(site.app) as client:
        yield client


@pytest.fixture
def readers(site: WebApp, peer: Peer) -> Readers:
    store = site.parts.subscribers
    ids = []
    for address in (ANA, BOB):
        signed = store.sign_up(address, "daily")
        assert signed.subscriber is not None
        assert store.confirm(signed.subscriber.id, "daily") is not None
        ids.append(signed.subscriber.id)
    ana, bob = ids
    editions = EditionStore(site.parts.engine)
    for number, edition_id in enumerate(("e1", "e2")):
        slot = PAST + timedelta(days=number)
        editions.insert(Edition(edition_id, "daily", slot, None, slot, False, {}, slot), [])
    ledger = Ledger(site.parts.engine, clock=lambda: PAST)
    ledger.create("e1", [NewRow(ana, ANA, PAST)])
    ledger.create("e2", [NewRow(ana, ANA, PAST), NewRow(bob, BOB, PAST)])
    (sent,) = ledger.claim("e1", "worker", 1, timedelta(minutes=5), "k1")
    assert ledger.mark_sent("worker", [(sent.id, peer.ledger_id(1))]) == 1
    return Readers(ana, bob)


def post(client: AppClient, peer: Peer, payload: Any, **how: Any) -> Response:
    body, headers = peer.request(payload, **how)
    return client.post(f"/webhooks/{peer.name}", content=body, headers=headers)


def rows(site: WebApp) -> dict[tuple[str, str], tuple[str, str | None]]:
    """(edition, address) -> (status, skip reason) of every ledger row."""
    query = select(
        deliveries.c.edition_id, deliveries.c.email, deliveries.c.status, deliveries.c.skip_reason
    )
    with site.parts.engine.connect() as conn:
        return {(e, a): (s, r) for e, a, s, r in conn.execute(query)}


def world(site: WebApp) -> dict[str, Any]:
    """Everything a webhook could change, to compare before and after."""
    with site.parts.engine.connect() as conn:

        def everything(*columns: Any) -> list[tuple[Any, ...]]:
            return sorted(tuple(row) for row in conn.execute(select(*columns)))

        return {
            "subscribers": everything(subscribers.c.email, subscribers.c.status),
            "suppressions": everything(suppressions.c.email, suppressions.c.reason),
            "deliveries": everything(deliveries.c.id, deliveries.c.status, deliveries.c.updated_at),
            "events": everything(provider_events.c.provider, provider_events.c.event_key),
            "tokens": everything(webhook_tokens.c.token_hash),
        }


def status(site: WebApp, address: str) -> Status:
    found = site.parts.subscribers.find(address)
    assert found is not None
    return found.status


def stored_events(site: WebApp) -> list[tuple[str, str | None, str | None, dict[str, Any]]]:
    query = select(
        provider_events.c.kind,
        provider_events.c.email,
        provider_events.c.provider_message_id,
        provider_events.c.raw,
    ).order_by(provider_events.c.id)
    with site.parts.engine.connect() as conn:
        return [(k, e, m, orjson.loads(raw)) for k, e, m, raw in conn.execute(query)]


# -- what each kind of event does -------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "reason", "becomes", "skipped"),
    [
        ("hard", "bounce", Status.BOUNCED, "bounced"),
        ("complaint", "complaint", Status.COMPLAINED, "complained"),
    ],
    ids=["hard bounce", "complaint"],
)
def test_a_hard_bounce_or_complaint_suppresses_the_address_and_skips_its_pending_rows(
    site: WebApp,
    client: AppClient,
    readers: Readers,
    peer: Peer,
    kind: str,
    reason: str,
    becomes: Status,
    skipped: str,
) -> None:
    response = post(client, peer, peer.event(kind, ANA, peer.ledger_id(1), 1))
    assert response.status_code == 200, response.text
    assert response.json() == {"received": 1, "new": 1, "duplicates": 0}
    suppression = site.parts.subscribers.suppression(ANA)
    assert suppression is not None
    assert (suppression.reason, suppression.source) == (reason, Source.PROVIDER)
    assert status(site, ANA) is becomes
    assert rows(site) == {
        ("e1", ANA): ("sent", None),
        ("e2", ANA): ("skipped", f"{skipped} ({peer.name})"),
        ("e2", BOB): ("pending", None),
    }
    ((stored, email, message_id, raw),) = stored_events(site)
    assert (stored, email, message_id) == (STORED[kind], ANA, peer.ledger_id(1))
    assert raw  # the provider's own event, kept as it came
    assert status(site, BOB) is Status.ACTIVE


def test_soft_bounces_count_per_message_and_suppress_at_the_limit(
    site: WebApp, client: AppClient, readers: Readers, peer: Peer
) -> None:
    first, second, third = (peer.ledger_id(n) for n in (1, 2, 3))
    for n, message in enumerate([first, first, second], start=1):  # the first one retried
        response = post(client, peer, peer.event("soft", ANA, message, n))
        assert response.json() == {"received": 1, "new": 1, "duplicates": 0}
    assert site.parts.event_store().soft_bounces(ANA) == 2
    assert site.parts.subscribers.suppression(ANA) is None
    assert status(site, ANA) is Status.ACTIVE
    assert rows(site)[("e2", ANA)] == ("pending", None)

    response = post(client, peer, peer.event("soft", ANA, third, 4))
    assert response.status_code == 200, response.text
    suppression = site.parts.subscribers.suppression(ANA)
    assert suppression is not None
    assert suppression.reason == "bounce"
    assert status(site, ANA) is Status.BOUNCED
    assert rows(site)[("e2", ANA)] == ("skipped", f"bounced ({peer.name})")


@pytest.mark.parametrize("peer", UNSUBSCRIBING, ids=names)
def test_a_provider_unsubscribe_leaves_everything(
    site: WebApp, client: AppClient, readers: Readers, peer: Peer
) -> None:
    response = post(client, peer, peer.event("unsubscribe", ANA, peer.ledger_id(1), 1))
    assert response.status_code == 200, response.text
    assert status(site, ANA) is Status.UNSUBSCRIBED
    assert site.parts.subscribers.suppression(ANA) is None  # a new sign-up may bring them back
    assert rows(site)[("e2", ANA)] == ("skipped", f"unsubscribed ({peer.name})")


def test_a_delivery_updates_the_ledger_row_and_a_duplicate_changes_nothing(
    site: WebApp, client: AppClient, readers: Readers, peer: Peer
) -> None:
    def sent_row() -> tuple[str, datetime]:
        query = select(deliveries.c.status, deliveries.c.updated_at).where(
            deliveries.c.provider_message_id == peer.ledger_id(1)
        )
        with site.parts.engine.connect() as conn:
            (found,) = conn.execute(query).all()
        return found[0], found[1]

    assert sent_row() == ("sent", PAST)
    payload = peer.event("delivered", ANA, peer.ledger_id(1), 1)
    response = post(client, peer, payload)
    assert response.json() == {"received": 1, "new": 1, "duplicates": 0}
    state, updated = sent_row()
    assert state == "sent"
    assert updated > PAST
    after_first = world(site)

    # the provider delivers the same event again (Mailgun signs each delivery afresh)
    again = post(client, peer, payload)
    assert again.status_code == 200, again.text
    assert again.json() == {"received": 1, "new": 0, "duplicates": 1}
    now = world(site)
    now["tokens"] = after_first["tokens"] = None  # Mailgun's second delivery has its own token
    assert now == after_first


@pytest.mark.parametrize("peer", [p for p in PEERS if p.name == "sendgrid"], ids=names)
def test_a_sendgrid_batch_takes_each_event_once(
    site: WebApp, client: AppClient, readers: Readers, peer: Peer
) -> None:
    sendgrid = peer
    delivered = sendgrid.event("delivered", BOB, sendgrid.ledger_id(7), 1)
    batch = [
        delivered,
        sendgrid.event("complaint", ANA, sendgrid.ledger_id(1), 2),
        {**delivered, "event": "open", "sg_event_id": "b3BlbmVkLTE"},
        delivered,  # SendGrid may post one event twice, even in one batch
    ]
    response = post(client, sendgrid, batch)
    assert response.json() == {"received": 4, "new": 3, "duplicates": 1}
    kinds = [kind for kind, *_ in stored_events(site)]
    assert kinds == ["delivered", "complaint", "open"]
    assert status(site, ANA) is Status.COMPLAINED


# -- requests that change nothing -------------------------------------------------------------


def test_a_bad_signature_or_wrong_credentials_are_401_and_change_nothing(
    site: WebApp, client: AppClient, readers: Readers, peer: Peer
) -> None:
    before = world(site)
    payload = peer.event("hard", ANA, peer.ledger_id(1), 1)
    forged = post(client, peer, payload, forged=True)
    assert forged.status_code == 401, forged.text
    assert forged.json()["error"]
    for secret in peer.settings().values():
        assert secret not in forged.text
    body, _ = peer.request(payload)
    if peer.name == "mailgun":  # its signature travels in the body
        body = orjson.dumps({"event-data": orjson.loads(body)["event-data"]})
    bare = client.post(
        f"/webhooks/{peer.name}", content=body, headers={"content-type": "application/json"}
    )
    assert bare.status_code == 401, bare.text
    assert world(site) == before


@pytest.mark.parametrize("peer", STAMPED, ids=names)
@pytest.mark.parametrize("age", [timedelta(minutes=11), timedelta(minutes=-11)], ids=str)
def test_a_stale_or_future_timestamp_is_401(
    site: WebApp, client: AppClient, readers: Readers, peer: Peer, age: timedelta
) -> None:
    before = world(site)
    response = post(client, peer, peer.event("hard", ANA, peer.ledger_id(1), 1), age=age)
    assert response.status_code == 401, response.text
    assert "tolerance" in response.json()["error"]
    assert world(site) == before


@pytest.mark.parametrize("peer", [p for p in PEERS if isinstance(p, Mailgun)], ids=names)
def test_a_replayed_mailgun_token_is_401(
    site: WebApp, client: AppClient, readers: Readers, peer: Peer
) -> None:
    body, headers = peer.request(peer.event("delivered", ANA, peer.ledger_id(1), 1))
    assert client.post("/webhooks/mailgun", content=body, headers=headers).status_code == 200
    before = world(site)
    replay = client.post("/webhooks/mailgun", content=body, headers=headers)
    assert replay.status_code == 401
    assert "replay" in replay.json()["error"]
    # the signature covers timestamp and token only: a captured one on a forged event
    captured = orjson.loads(body)["signature"]
    forged = {"signature": captured, "event-data": peer.event("hard", ANA, peer.ledger_id(1), 2)}
    response = client.post("/webhooks/mailgun", content=orjson.dumps(forged), headers=headers)
    assert response.status_code == 401
    assert world(site) == before
    assert status(site, ANA) is Status.ACTIVE


def test_an_unconfigured_or_unknown_provider_is_404(tmp_path: Path) -> None:
    with running_site(tmp_path, PUBLIC_URL) as site, app_client(site.app) as client:
        for peer in PEERS:
            response = post(client, peer, peer.event("hard", ANA, peer.ledger_id(1), 1))
            assert response.status_code == 404, response.text
            error = response.json()["error"]
            assert "not configured" in error
            assert f"DIGEST_{peer.name.upper()}_WEBHOOK_" in error
        unknown = client.post("/webhooks/sparkpost", content=b"[]")
        assert unknown.status_code == 404
        assert "postmark, sendgrid, mailgun, resend" in unknown.json()["error"]
        assert world(site)["events"] == []


MALFORMED: dict[str, Any] = {
    "postmark": {"RecordType": "Bounce", "Email": ANA},  # no bounce ID
    "sendgrid": "an event that is not an object",
    "mailgun": {"event": "failed", "recipient": ANA},  # no event id
    "resend": {"type": "email.bounced", "created_at": "2026-11-27T06:00:00Z"},  # no data
}


def test_a_malformed_body_is_400_and_changes_nothing(
    site: WebApp, client: AppClient, readers: Readers, peer: Peer
) -> None:
    before = world(site)
    response = post(client, peer, MALFORMED[peer.name])
    assert response.status_code == 400, response.text
    assert response.json()["error"]
    if peer.name == "postmark":  # signed by its credentials alone: any body can be tried
        _, headers = peer.request({})
        response = client.post("/webhooks/postmark", content=b"{not json", headers=headers)
        assert response.status_code == 400
        assert "not JSON" in response.json()["error"]
    assert world(site) == before


def test_a_processing_error_is_a_500_and_the_retry_applies_the_event(
    site: WebApp,
    client: AppClient,
    readers: Readers,
    peer: Peer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    feedback = site.app.state.webhooks.feedback

    def broken(*args: object) -> int:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(feedback.ledger, "skip_pending_of", broken)
    body, headers = peer.request(peer.event("hard", ANA, peer.ledger_id(1), 1))
    failed = client.post(f"/webhooks/{peer.name}", content=body, headers=headers)
    assert failed.status_code == 500
    assert "retry" in failed.json()["error"]
    assert world(site)["events"] == []
    assert world(site)["tokens"] == []  # Mailgun's retry may carry the same token
    monkeypatch.undo()

    retried = client.post(f"/webhooks/{peer.name}", content=body, headers=headers)
    assert retried.status_code == 200, retried.text
    assert retried.json() == {"received": 1, "new": 1, "duplicates": 0}
    assert status(site, ANA) is Status.BOUNCED
    assert rows(site)[("e2", ANA)] == ("skipped", f"bounced ({peer.name})")


def test_a_malformed_secret_stops_the_app_at_start_up(tmp_path: Path) -> None:
    p384 = base64.b64encode(
        ec.generate_private_key(ec.SECP384R1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).decode()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"sendgrid_webhook_public_key": "bm90IGEga2V5"}, "DIGEST_SENDGRID_WEBHOOK_PUBLIC_KEY"),
        ({"sendgrid_webhook_public_key": p384}, "DIGEST_SENDGRID_WEBHOOK_PUBLIC_KEY"),
        ({"resend_webhook_secret": "whsec_not base64!"}, "DIGEST_RESEND_WEBHOOK_SECRET"),
    ]
    for settings, name in cases:
        with pytest.raises(ConfigError, match=name), running_site(tmp_path, PUBLIC_URL, **settings):
            pass


# -- the stores, on SQLite and PostgreSQL -----------------------------------------------------


def event(key: str, kind: EventKind = EventKind.BOUNCE_SOFT, message: str | None = "m1") -> Any:
    raw = {"event": kind.value, "nested": {"list": [1, 2.5, None], "text": "é"}}
    return ProviderEvent("sendgrid", key, kind, ANA, message, PAST, raw)


def test_event_store_records_each_event_once_with_its_raw_body(engine: Engine) -> None:
    store = EventStore(engine, clock=lambda: PAST)
    first = event("evt-1")
    assert store.record(first) is True
    assert store.record(first) is False
    assert store.seen("sendgrid", "evt-1")
    assert not store.seen("mailgun", "evt-1")
    assert store.record(ProviderEvent("mailgun", "evt-1", EventKind.OTHER, None, None, None, {}))
    with engine.connect() as conn:
        raw, received = conn.execute(
            select(provider_events.c.raw, provider_events.c.received_at).where(
                provider_events.c.provider == "sendgrid"
            )
        ).one()
        assert conn.execute(select(func.count()).select_from(provider_events)).scalar() == 2
    assert orjson.loads(raw) == first.raw
    assert received == PAST


def test_soft_bounces_count_messages_not_retries(engine: Engine) -> None:
    store = EventStore(engine)
    assert store.soft_bounces(ANA) == 0
    store.record(event("a", message="m1"))
    store.record(event("b", message="m1"))  # the provider retried m1 and it bounced again
    store.record(event("c", message=None))  # no message id: the event counts by itself
    store.record(event("d", EventKind.BOUNCE_HARD, "m2"))
    store.record(event("e", EventKind.DEFERRED, "m3"))
    assert store.soft_bounces(ANA) == 2
    assert store.soft_bounces(BOB) == 0
    assert store.soft_bounces(ANA, besides=event("f", message="m1")) == 2
    assert store.soft_bounces(ANA, besides=event("g", message="m4")) == 3


def test_replay_guard_takes_each_token_once_and_gives_it_back(engine: Engine) -> None:
    guard = ReplayGuard(engine, keep=timedelta(hours=1))
    assert guard.claim("mailgun", "token-1", PAST) is True
    assert guard.claim("mailgun", "token-1", PAST) is False
    assert guard.claim("other", "token-1", PAST) is True
    guard.release("mailgun", "token-1")
    assert guard.claim("mailgun", "token-1", PAST) is True
    later = PAST + timedelta(hours=2)
    assert guard.claim("mailgun", "token-2", later) is True  # prunes what is past keeping
    with engine.connect() as conn:
        kept = conn.execute(select(webhook_tokens.c.provider, webhook_tokens.c.seen_at)).all()
    assert [(provider, seen) for provider, seen in kept] == [("mailgun", later)]
