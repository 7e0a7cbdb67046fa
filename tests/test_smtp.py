"""The SMTP provider against a real SMTP server: aiosmtpd in its own thread on 127.0.0.1.

The server (``Sink``) records every message it accepts and every connection that said EHLO,
and can be told to refuse an address (550), defer one once (451), answer slowly, require
STARTTLS and AUTH, or drop its connections as a dying process would. TLS uses a
certificate authority made for the test run (trustme), trusted only by the client's context.
Each test runs its own event loop with ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import asyncio.base_events
import email
import email.policy
import functools
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword, Session
from aiosmtpd.smtp import Envelope as SmtpEnvelope
from snapshots import LINKS, LONGEST, snapshot, values_for

from digest.deliver.base import Batch, Envelope, Outcome, Result
from digest.deliver.smtp import SmtpProvider
from digest.errors import DeliveryError, ProviderAuthError, ProviderConfigError
from digest.render.copies import edition_headers
from digest.render.message import make_message_id
from digest.render.personal import Recipient, personal_values
from digest.render.templates import TemplateSet
from digest.render.variants import EditionRenderer, RenderOptions

WHEN = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
HEADERS = ("From", "To", "Subject", "List-Unsubscribe", "List-Unsubscribe-Post", "Message-ID")
GOOD_LOGIN = LoginPassword(b"digest", b"s3cret")


# -- the server ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes


class Sink:
    """The aiosmtpd handler: records what it accepts, refuses or defers what it is told to."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.connections: list[SMTP] = []  # one per connection that said EHLO
        self.refuse: dict[str, str] = {}  # address -> the reply to its RCPT
        self.defer_once: set[str] = set()  # addresses answered 451 the first time
        self.slow: set[str] = set()  # addresses whose DATA is answered after 1.5 s
        self.logins: list[bytes] = []

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: SmtpEnvelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        if all(known is not server for known in self.connections):
            self.connections.append(server)
        session.host_name = hostname  # a handle_EHLO hook has to record it (aiosmtpd)
        return responses

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: SmtpEnvelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        if address in self.defer_once:
            self.defer_once.discard(address)
            return "451 4.3.0 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: SmtpEnvelope) -> str:
        if self.slow.intersection(envelope.rcpt_tos):
            await asyncio.sleep(1.5)
        assert isinstance(envelope.content, bytes)
        self.received.append(
            Received(envelope.mail_from or "", list(envelope.rcpt_tos), envelope.content)
        )
        return "250 2.0.0 Ok: queued"

    def authenticate(
        self, server: SMTP, session: Session, envelope: SmtpEnvelope, mechanism: str, data: Any
    ) -> AuthResult:
        if data == GOOD_LOGIN:
            self.logins.append(data.login)
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


class Server(Controller):
    """aiosmtpd on 127.0.0.1 and a port the system chose, in a thread of its own."""

    def __init__(self, sink: Sink, **smtp: Any) -> None:
        super().__init__(sink, hostname="127.0.0.1", port=0, server_hostname="mx.test", **smtp)
        self.sink = sink

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.base_events.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]

    def drop_connections(self) -> None:
        """Close every connection from the server's side, without the client's loop running."""
        closed = threading.Event()

        def close_all() -> None:
            for connection in self.sink.connections:
                if connection.transport is not None:
                    connection.transport.close()
            closed.set()

        self.loop.call_soon_threadsafe(close_all)
        assert closed.wait(5)
        time.sleep(0.05)  # the FIN has reached the client's socket, unread


@contextmanager
def serving(sink: Sink, **smtp: Any) -> Iterator[Server]:
    server = Server(sink, **smtp)
    server.start()
    try:
        yield server
    finally:
        server.drop_connections()
        server.stop()


def provider(server: Server, **options: Any) -> SmtpProvider:
    options.setdefault("security", "none")
    options.setdefault("timeout", 5.0)
    return SmtpProvider("127.0.0.1", server.port, helo_name="digest.test", **options)


@dataclass(frozen=True)
class Tls:
    server: ssl.SSLContext
    client: ssl.SSLContext


@pytest.fixture(scope="module")
def tls() -> Tls:
    authority = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    authority.configure_trust(client)
    return Tls(server, client)


# -- the messages ----------------------------------------------------------------------------


@functools.cache
def renderer() -> EditionRenderer:
    snap = snapshot(sections=2, per_section=2)
    options = RenderOptions(base_url="https://news.example.com")
    return EditionRenderer(TemplateSet(), snap, options, values_for(LONGEST))


def make_batch(addresses: Sequence[str], first_id: int = 1) -> Batch:
    edition = renderer()
    variant = edition.variant(None)
    assert variant is not None
    snap = edition.snapshot
    envelopes = []
    for number, address in enumerate(addresses, start=first_id):
        recipient = Recipient(str(number), address, "Zoë Ana" if number % 2 else None)
        links = LINKS.personal_links(recipient, "daily", snap["edition_id"])
        envelopes.append(
            Envelope(
                delivery_id=number,
                to_address=address,
                to_name=recipient.name,
                message_id=make_message_id(snap["edition_id"], recipient.id, "meridian.example"),
                values=personal_values(recipient, links),
                unsubscribe_url=links.unsubscribe_url,
                unsubscribe_mailto=links.unsubscribe_mailto,
                idempotency_key=f"batch-{first_id}",
            )
        )
    return Batch(
        key=f"batch-{first_id}",
        headers=edition_headers(snap, variant.subject),
        variant=variant,
        envelopes=envelopes,
        date=WHEN,
    )


def addresses(count: int, start: int = 0) -> list[str]:
    return [f"reader{n}@example.org" for n in range(start, start + count)]


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def body(message: EmailMessage, subtype: str) -> str:
    part = message.get_body((subtype,))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


def outcomes(results: Sequence[Result]) -> list[Outcome]:
    return [result.outcome for result in results]


# -- the tests -------------------------------------------------------------------------------


def test_messages_arrive_as_rendered_over_starttls_with_auth(tls: Tls) -> None:
    sink = Sink()
    with serving(
        sink,
        tls_context=tls.server,
        require_starttls=True,
        authenticator=sink.authenticate,
        auth_required=True,
    ) as server:
        batch = make_batch(["ana@example.org", "bo@example.org"])
        smtp = provider(
            server,
            security="starttls",
            username="digest",
            password="s3cret",
            tls_context=tls.client,
        )

        async def scenario() -> list[Result]:
            try:
                await smtp.check()
                return await smtp.send(batch)
            finally:
                await smtp.close()

        results = asyncio.run(scenario())

    assert results == [Result(e.delivery_id, Outcome.SENT, e.message_id) for e in batch.envelopes]
    assert sink.logins == [b"digest"]
    assert len(sink.connections) == 1
    assert [r.rcpt_tos for r in sink.received] == [["ana@example.org"], ["bo@example.org"]]
    for envelope, received in zip(batch.envelopes, sink.received, strict=True):
        assert received.mail_from == "digest@meridian.example"
        assert received.content == batch.mime(envelope)
        got, sent = parse(received.content), parse(batch.mime(envelope))
        for name in HEADERS:
            assert got[name] == sent[name], name
        assert got["Message-ID"] == f"<{envelope.message_id}>"
        assert got["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert body(got, "html") == batch.html(envelope)
        assert body(got, "plain") == batch.text(envelope)
    assert "Hello Zoë Ana," in batch.html(batch.envelopes[0])
    assert str(parse(sink.received[0].content)["To"]) == "Zoë Ana <ana@example.org>"


def test_a_server_that_requires_auth_refuses_a_provider_without_credentials(tls: Tls) -> None:
    sink = Sink()
    with serving(
        sink, tls_context=tls.server, authenticator=sink.authenticate, auth_required=True
    ) as server:
        smtp = provider(server, security="starttls", tls_context=tls.client)

        async def scenario() -> None:
            try:
                await smtp.send(make_batch(["ana@example.org"]))
            finally:
                await smtp.close()

        with pytest.raises(
            ProviderAuthError, match="DIGEST_SMTP_USERNAME and DIGEST_SMTP_PASSWORD"
        ):
            asyncio.run(scenario())
    assert sink.received == []


def test_bad_credentials_raise_an_error_naming_the_settings() -> None:
    sink = Sink()
    with serving(sink, authenticator=sink.authenticate, auth_require_tls=False) as server:
        smtp = provider(server, username="digest", password="wrong")

        async def scenario() -> None:
            try:
                await smtp.send(make_batch(["ana@example.org", "bo@example.org"]))
            finally:
                await smtp.close()

        with pytest.raises(ProviderAuthError) as caught:
            asyncio.run(scenario())
    assert "535" in str(caught.value)
    assert "DIGEST_SMTP_USERNAME and DIGEST_SMTP_PASSWORD" in str(caught.value)
    assert sink.received == []


def test_implicit_tls_and_an_untrusted_certificate(tls: Tls) -> None:
    sink = Sink()
    with serving(sink, ssl_context=tls.server) as server:
        batch = make_batch(["ana@example.org"])
        trusted = provider(server, security="tls", tls_context=tls.client)
        untrusted = provider(server, security="tls", tls_context=ssl.create_default_context())

        async def scenario() -> list[Result]:
            try:
                with pytest.raises(ProviderConfigError, match="DIGEST_SMTP_HOST"):
                    await untrusted.send(batch)
                return await trusted.send(batch)
            finally:
                await trusted.close()
                await untrusted.close()

        results = asyncio.run(scenario())
    assert outcomes(results) == [Outcome.SENT]
    assert len(sink.received) == 1


def test_each_recipient_gets_the_servers_answer() -> None:
    sink = Sink()
    sink.refuse["nobody@example.org"] = "550 5.1.1 <nobody@example.org>: no such user"
    sink.defer_once.add("later@example.org")
    with serving(sink) as server:
        batch = make_batch(
            ["ana@example.org", "nobody@example.org", "later@example.org", "bo@example.org"]
        )
        smtp = provider(server)

        async def scenario() -> tuple[list[Result], list[Result]]:
            try:
                first = await smtp.send(batch)
                again = await smtp.send(make_batch(["later@example.org"], first_id=3))
                return first, again
            finally:
                await smtp.close()

        first, again = asyncio.run(scenario())

    assert outcomes(first) == [Outcome.SENT, Outcome.FAILED, Outcome.RETRY, Outcome.SENT]
    assert first[1].error == "550 5.1.1 <nobody@example.org>: no such user"
    assert first[1].provider_message_id is None
    assert first[2].error is not None
    assert first[2].error.startswith("451 4.3.0 Mailbox busy")
    assert outcomes(again) == [Outcome.SENT]
    assert [r.rcpt_tos for r in sink.received] == [
        ["ana@example.org"],
        ["bo@example.org"],
        ["later@example.org"],
    ]
    assert len(sink.connections) == 1  # a refused recipient does not cost the connection


def test_twenty_messages_reuse_at_most_the_pools_connections() -> None:
    sink = Sink()
    with serving(sink) as server:
        batches = [make_batch(addresses(5, start), first_id=start + 1) for start in (0, 5, 10, 15)]
        smtp = provider(server, connections=2)

        async def scenario() -> list[list[Result]]:
            try:
                return await asyncio.gather(*(smtp.send(batch) for batch in batches))
            finally:
                await smtp.close()

        results = asyncio.run(scenario())

    assert all(outcomes(r) == [Outcome.SENT] * 5 for r in results)
    assert sorted(r.rcpt_tos[0] for r in sink.received) == sorted(addresses(20))
    assert 1 <= len(sink.connections) <= 2


def test_a_server_that_is_gone_means_retry_for_every_envelope() -> None:
    sink = Sink()
    server = Server(sink)
    server.start()
    smtp = provider(server)
    dead = provider(server)  # has never connected

    async def scenario() -> tuple[list[Result], list[Result], list[Result]]:
        try:
            before = await smtp.send(make_batch(["ana@example.org"]))
            server.drop_connections()  # the process dies: its sockets close, then the port
            server.stop()
            after = await smtp.send(make_batch(addresses(3), first_id=2))
            never = await dead.send(make_batch(addresses(2), first_id=5))
            with pytest.raises(DeliveryError, match="DIGEST_SMTP_HOST"):
                await dead.check()
            return before, after, never
        finally:
            await smtp.close()
            await dead.close()

    started = time.monotonic()
    before, after, never = asyncio.run(scenario())
    assert time.monotonic() - started < 5
    assert outcomes(before) == [Outcome.SENT]
    assert outcomes(after) == [Outcome.RETRY] * 3
    assert outcomes(never) == [Outcome.RETRY] * 2
    assert all(r.error and "Error connecting to 127.0.0.1" in r.error for r in after + never)


def test_a_connection_the_server_dropped_is_reopened() -> None:
    sink = Sink()
    with serving(sink, timeout=0.5) as server:  # the server closes a connection idle 0.5 s
        smtp = provider(server)

        async def scenario() -> list[Result]:
            try:
                results = await smtp.send(make_batch(["ana@example.org"]))
                await asyncio.sleep(1.0)  # dropped while idle; the client has seen it close
                results += await smtp.send(make_batch(["bo@example.org"], first_id=2))
                server.drop_connections()  # dropped, and the client has not noticed yet
                results += await smtp.send(make_batch(["cy@example.org"], first_id=3))
                return results
            finally:
                await smtp.close()

        results = asyncio.run(scenario())

    assert outcomes(results) == [Outcome.SENT] * 3
    assert [r.rcpt_tos for r in sink.received] == [
        ["ana@example.org"],
        ["bo@example.org"],
        ["cy@example.org"],
    ]
    assert len(sink.connections) == 3


def test_a_server_that_answers_too_late_means_retry_and_the_next_one_goes() -> None:
    sink = Sink()
    sink.slow.add("slow@example.org")
    with serving(sink) as server:
        smtp = provider(server, timeout=0.5)

        async def scenario() -> list[Result]:
            try:
                return await smtp.send(make_batch(["slow@example.org", "bo@example.org"]))
            finally:
                await smtp.close()

        results = asyncio.run(scenario())

    assert outcomes(results) == [Outcome.RETRY, Outcome.SENT]
    assert results[0].error is not None
    assert "DATA" in results[0].error


def test_settings_are_checked_when_the_provider_is_made() -> None:
    with pytest.raises(ProviderConfigError, match="DIGEST_SMTP_SECURITY"):
        SmtpProvider("mail.example.org", security="ssl")  # type: ignore[arg-type]
    with pytest.raises(ProviderConfigError, match="DIGEST_SMTP_USERNAME"):
        SmtpProvider("mail.example.org", password="alone")
    with pytest.raises(ProviderConfigError, match="DIGEST_SMTP_CONNECTIONS"):
        SmtpProvider("mail.example.org", connections=0)
    assert SmtpProvider("mail.example.org", security="tls").port == 465
    assert SmtpProvider("mail.example.org").port == 587
    smtp = SmtpProvider("mail.example.org")
    batch = make_batch(addresses(3))
    assert [list(r.envelopes) for r in smtp.build(batch)] == [[e] for e in batch.envelopes]
