"""The SMTP provider: each message sent whole to a relay with aiosmtplib. I/O.

For a publication that already has a mail relay (its own Postfix, or a service's SMTP
endpoint). SMTP carries one message per transaction and here one recipient per message,
since every copy is personal: ``build`` makes one ``Request`` per envelope, and ``post``
runs MAIL FROM (the edition's From address, or ``bounce_address``), RCPT TO (the
envelope's address) and DATA (``Batch.mime``, built only when it is sent).

Connections are the expensive part (TCP, the TLS handshake, AUTH: several round trips),
so they are kept: a pool of at most ``connections`` authenticated clients, one per
concurrent worker. A server may close a connection that sat idle; a reused connection
found closed, or answering 421, before DATA (nothing delivered yet) is reopened once,
transparently. Within one batch, once the server cannot be reached the remaining
envelopes are marked RETRY at once rather than each waiting for its own timeout, which
is why ``send`` is overridden. A pool belongs to the event loop it was made in.

What the server says becomes, per envelope:

- 2xx after DATA: SENT, ``provider_message_id`` = the message's Message-ID;
- 5xx to RCPT or DATA (550 no such user, 552 too large, 554 refused): FAILED with the
  server's words;
- 4xx anywhere (421 busy, 451 try later), timeouts, refused or lost connections: RETRY;
- 530/535 or any AUTH refusal: ``ProviderAuthError`` naming DIGEST_SMTP_USERNAME and
  DIGEST_SMTP_PASSWORD (the edition pauses: retrying each subscriber would not help);
- what can only be a wrong setting (no STARTTLS offered, no AUTH offered, a TLS
  certificate or handshake failure, a 5xx to EHLO or to MAIL FROM): ``ProviderConfigError``
  naming the setting.

aiosmtplib's exceptions (and the ``ssl``/``OSError`` ones it lets through) are translated in
one place, ``_translate``, with ``raise ... from exc``, so nothing of aiosmtplib's tree
leaks to the send loop and every message says what to do.

Settings (the wiring builds the provider from them; nothing here reads the environment):

=============================  ================================================================
DIGEST_SMTP_HOST               the relay's host name (required when the provider is smtp)
DIGEST_SMTP_PORT               empty: 587 for starttls, 465 for tls, 25 for none
DIGEST_SMTP_USERNAME           empty: no AUTH
DIGEST_SMTP_PASSWORD           empty
DIGEST_SMTP_SECURITY           starttls (default) | tls (implicit TLS) | none
DIGEST_SMTP_TIMEOUT            30 (seconds, per connection attempt and per command)
DIGEST_SMTP_CONNECTIONS        2 (connections kept open, one per concurrent worker)
DIGEST_SMTP_MAX_BATCH          50 (envelopes handed to the provider at a time)
DIGEST_SMTP_BOUNCE_ADDRESS     empty: the newsletter's sender address is the MAIL FROM
DIGEST_SMTP_HELO_NAME          empty: this machine's fully qualified name, in EHLO
=============================  ================================================================
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import re
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

import aiosmtplib

from digest.deliver.base import Batch, Envelope, Outcome, Provider, Request, Result
from digest.errors import DeliveryError, ProviderAuthError, ProviderConfigError

Security = Literal["starttls", "tls", "none"]

DEFAULT_PORTS: dict[str, int] = {"starttls": 587, "tls": 465, "none": 25}
_AUTH_CODES = frozenset({530, 534, 535, 538})
"""Authentication required / too weak / credentials invalid / encryption required."""
_CREDENTIALS = "DIGEST_SMTP_USERNAME and DIGEST_SMTP_PASSWORD"
_ADDRESS = re.compile(r"[^\s<>@\"]+@[^\s<>@\"]+")


class _Stage(enum.Enum):
    CONNECT = "connect"
    STARTTLS = "STARTTLS"
    AUTH = "AUTH"
    MAIL = "MAIL FROM"
    RCPT = "RCPT TO"
    DATA = "DATA"


_OPENING = frozenset({_Stage.CONNECT, _Stage.STARTTLS, _Stage.AUTH})
_BEFORE_DATA = frozenset({_Stage.MAIL, _Stage.RCPT})
"""Stages after which nothing can have been delivered: safe to replay on a new connection."""


@dataclass(slots=True)
class _Progress:
    """How far one attempt got, for the error message and the outcome."""

    stage: _Stage = _Stage.CONNECT


@dataclass(frozen=True, slots=True)
class _Failure:
    outcome: Outcome  # FAILED or RETRY
    error: str
    lost: bool = False  # the connection closed under us (or a 421): worth reopening once
    unreachable: bool = False  # no connection could be made: the rest of the batch waits


@dataclass(slots=True)
class _Pool:
    loop: asyncio.AbstractEventLoop
    slots: asyncio.Semaphore
    idle: list[aiosmtplib.SMTP] = field(default_factory=list)
    clients: list[aiosmtplib.SMTP] = field(default_factory=list)
    sockets: list[Any] = field(default_factory=list)  # asyncio's TransportSocket, to see closed

    def opened(self, client: aiosmtplib.SMTP) -> None:
        self.sockets = [s for s in self.sockets if s.fileno() != -1]
        self.sockets.append(client.get_transport_info("socket"))

    async def wait_closed(self, seconds: float) -> None:
        """Until every socket is closed: a TLS close ends only after the peer's close_notify."""
        deadline = self.loop.time() + seconds
        while any(s.fileno() != -1 for s in self.sockets) and self.loop.time() < deadline:
            await asyncio.sleep(0.005)


class SmtpProvider(Provider):
    """Sends each envelope's full message over SMTP, keeping up to ``connections`` open."""

    name = "smtp"
    idempotent = False  # SMTP has no idempotency key: a replayed batch may arrive twice

    def __init__(
        self,
        host: str,
        port: int | None = None,
        username: str | None = None,
        password: str | None = None,
        security: Security = "starttls",
        timeout: float = 30.0,
        max_batch: int = 50,
        connections: int = 2,
        bounce_address: str | None = None,
        helo_name: str | None = None,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        if not host:
            raise ProviderConfigError("DIGEST_SMTP_HOST is empty: set the SMTP relay's host name")
        if security not in DEFAULT_PORTS:
            raise ProviderConfigError(
                f"DIGEST_SMTP_SECURITY={security!r}: expected starttls, tls or none"
            )
        if password and not username:
            raise ProviderConfigError(
                "DIGEST_SMTP_PASSWORD is set but DIGEST_SMTP_USERNAME is empty: set both or neither"
            )
        for setting, value in (
            ("DIGEST_SMTP_CONNECTIONS", connections),
            ("DIGEST_SMTP_MAX_BATCH", max_batch),
        ):
            if value < 1:
                raise ProviderConfigError(f"{setting}={value}: must be at least 1")
        if bounce_address and not _ADDRESS.fullmatch(bounce_address):
            raise ProviderConfigError(
                f"DIGEST_SMTP_BOUNCE_ADDRESS={bounce_address!r} is not an address like "
                "bounces@example.org"
            )
        if timeout <= 0:
            raise ProviderConfigError(f"DIGEST_SMTP_TIMEOUT={timeout}: must be above 0 seconds")
        self.host = host
        self.port = port if port is not None else DEFAULT_PORTS[security]
        self.username = username or None
        self.password = password or ""
        self.security: Security = security
        self.timeout = timeout
        self.max_batch = max_batch
        self.connections = connections
        self.bounce_address = bounce_address or None
        self.helo_name = helo_name or None
        self.tls_context = tls_context
        self._pool_state: _Pool | None = None

    # -- the template method's steps ---------------------------------------------------------

    def build(self, batch: Batch) -> list[Request]:
        """One request per envelope; the MIME bytes are made in ``post``, one at a time."""
        return [Request(envelopes=(envelope,), payload=None) for envelope in batch.envelopes]

    async def post(self, request: Request, batch: Batch) -> list[Result]:
        return [(await self._deliver(envelope, batch))[0] for envelope in request.envelopes]

    async def send(self, batch: Batch) -> list[Result]:
        """As the base loop, but once the server is unreachable the rest is RETRY at once."""
        results: list[Result] = []
        unreachable: str | None = None
        for request in self.build(batch):
            for envelope in request.envelopes:
                if unreachable is not None:
                    results.append(Result(envelope.delivery_id, Outcome.RETRY, error=unreachable))
                    continue
                result, failure = await self._deliver(envelope, batch)
                results.append(result)
                if failure is not None and failure.unreachable:
                    unreachable = failure.error
        return results

    async def check(self) -> None:
        """Open (or reuse) one connection, with TLS and AUTH, so that a wrong setting shows
        before anything is claimed. Raises ``ProviderAuthError``, ``ProviderConfigError``, or
        ``DeliveryError`` when the server cannot be reached."""
        async with self._lease() as client:
            if client.is_connected:
                return
            progress = _Progress()
            try:
                await self._open(client, progress)
            except BaseException as exc:
                client.close()
                if not isinstance(exc, aiosmtplib.SMTPException | OSError):
                    raise
                failure = self._translate(exc, progress.stage)
                raise DeliveryError(
                    f"cannot reach the SMTP server {self._where}: {failure.error}; "
                    "check DIGEST_SMTP_HOST, DIGEST_SMTP_PORT and DIGEST_SMTP_SECURITY"
                ) from exc

    async def close(self) -> None:
        """QUIT every open connection (best effort) and forget the pool."""
        pool, self._pool_state = self._pool_state, None
        if pool is None:
            return
        for client in pool.clients:
            if client.is_connected:
                with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                    await client.quit(timeout=min(self.timeout, 5.0))
            client.close()
        await pool.wait_closed(min(self.timeout, 2.0))

    # -- one envelope ------------------------------------------------------------------------

    async def _deliver(self, envelope: Envelope, batch: Batch) -> tuple[Result, _Failure | None]:
        sender = self.bounce_address or batch.headers.from_address
        raw = batch.mime(envelope)
        async with self._lease() as client:
            try:
                failure = await self._transaction(client, sender, envelope.to_address, raw)
            except BaseException:  # cancelled, or an auth/config error: the state is unknown
                client.close()
                raise
        if failure is None:
            return Result(envelope.delivery_id, Outcome.SENT, envelope.message_id), None
        return Result(envelope.delivery_id, failure.outcome, error=failure.error), failure

    async def _transaction(
        self, client: aiosmtplib.SMTP, sender: str, recipient: str, raw: bytes
    ) -> _Failure | None:
        """MAIL, RCPT, DATA on the client, opening it first if needed; None when accepted."""
        reopened = False
        while True:
            reused = client.is_connected
            progress = _Progress()
            try:
                if not reused:
                    await self._open(client, progress)
                progress.stage = _Stage.MAIL
                options = [f"SIZE={len(raw)}"] if client.supports_extension("size") else []
                await client.mail(sender, options=options)
                progress.stage = _Stage.RCPT
                await client.rcpt(recipient)
                progress.stage = _Stage.DATA
                await client.data(raw)
            except (aiosmtplib.SMTPException, OSError) as exc:
                failure = self._translate(exc, progress.stage)
                if failure.lost and reused and not reopened and progress.stage in _BEFORE_DATA:
                    client.close()  # closed while idle: nothing was delivered, open a new one
                    reopened = True
                    continue
                await self._reset(client)
                return failure
            return None

    async def _open(self, client: aiosmtplib.SMTP, progress: _Progress) -> None:
        """Connect, upgrade to TLS and authenticate, recording the stage for errors."""
        progress.stage = _Stage.CONNECT
        await client.connect()
        self._pool().opened(client)
        if self.security == "starttls":
            progress.stage = _Stage.STARTTLS
            await client.starttls()
        if self.username is not None:
            progress.stage = _Stage.AUTH
            await client.login(self.username, self.password)

    async def _reset(self, client: aiosmtplib.SMTP) -> None:
        """End a refused transaction with RSET so the connection can be reused; else drop it."""
        if not client.is_connected:
            return
        try:
            await client.rset()
        except (aiosmtplib.SMTPException, OSError):
            client.close()

    # -- translating aiosmtplib --------------------------------------------------------------

    def _translate(self, exc: BaseException, stage: _Stage) -> _Failure:
        """The one place aiosmtplib's exceptions become outcomes, or digest's errors."""
        tls = exc if isinstance(exc, ssl.SSLError) else exc.__cause__
        if isinstance(tls, ssl.SSLError) and stage in _OPENING:  # later on, an OSError like any
            raise ProviderConfigError(
                f"TLS with {self._where} failed ({tls}); check DIGEST_SMTP_HOST (the name in the "
                "server's certificate), DIGEST_SMTP_SECURITY and DIGEST_SMTP_PORT"
            ) from exc
        if isinstance(exc, aiosmtplib.SMTPAuthenticationError) or (
            isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code in _AUTH_CODES
        ):
            code, message = exc.code, exc.message
            hint = "check" if self.username else "the server requires AUTH: set"
            raise ProviderAuthError(
                f"the SMTP server {self._where} refused authentication ({code} {message}); "
                f"{hint} {_CREDENTIALS}"
            ) from exc
        if isinstance(exc, aiosmtplib.SMTPConnectResponseError):  # the greeting was not 220
            return _Failure(Outcome.RETRY, f"{exc.code} {exc.message}", unreachable=True)
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            return self._answer(exc, stage)
        if isinstance(exc, aiosmtplib.SMTPServerDisconnected | aiosmtplib.SMTPTimeoutError):
            where = "connecting" if stage is _Stage.CONNECT else f"at {stage.value}"
            return _Failure(
                Outcome.RETRY,
                f"{_describe(exc)} ({where}, {self._where})",
                lost=isinstance(exc, aiosmtplib.SMTPServerDisconnected),
                unreachable=stage in _OPENING,
            )
        if isinstance(exc, aiosmtplib.SMTPConnectError | OSError):
            return _Failure(Outcome.RETRY, _describe(exc), lost=True, unreachable=True)
        if stage is _Stage.STARTTLS:
            raise ProviderConfigError(
                f"the SMTP server {self._where} does not offer STARTTLS ({exc}); set "
                "DIGEST_SMTP_SECURITY=tls (usually port 465) or none, or check DIGEST_SMTP_PORT"
            ) from exc
        if stage is _Stage.AUTH:
            raise ProviderConfigError(
                f"the SMTP server {self._where} does not offer AUTH ({exc}); it is usually "
                "offered only over TLS: check DIGEST_SMTP_SECURITY, or leave "
                "DIGEST_SMTP_USERNAME empty if the relay needs no login"
            ) from exc
        return _Failure(Outcome.RETRY, _describe(exc))

    def _answer(self, exc: aiosmtplib.SMTPResponseException, stage: _Stage) -> _Failure:
        """A reply code that refused a command: the outcome for this envelope."""
        words = f"{exc.code} {exc.message}"
        if exc.code < 500:
            return _Failure(
                Outcome.RETRY, words, lost=exc.code == 421, unreachable=stage in _OPENING
            )
        if stage in (_Stage.RCPT, _Stage.DATA) or (stage is _Stage.MAIL and exc.code == 552):
            return _Failure(Outcome.FAILED, words)
        if isinstance(exc, aiosmtplib.SMTPHeloError):
            raise ProviderConfigError(
                f"the SMTP server {self._where} refused EHLO ({words}); set DIGEST_SMTP_HELO_NAME"
            ) from exc
        if stage is _Stage.MAIL:
            raise ProviderConfigError(
                f"the SMTP server {self._where} refused the sender ({words}); check the "
                "newsletter's sender_address, or set DIGEST_SMTP_BOUNCE_ADDRESS to an address "
                "the relay may send from"
            ) from exc
        raise ProviderConfigError(
            f"the SMTP server {self._where} refused {stage.value} ({words})"
        ) from exc

    @property
    def _where(self) -> str:
        return f"{self.host}:{self.port}"

    # -- the pool ----------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _lease(self) -> AsyncIterator[aiosmtplib.SMTP]:
        """One client for the duration of a transaction; at most ``connections`` at once."""
        pool = self._pool()
        async with pool.slots:
            client = pool.idle.pop() if pool.idle else self._client(pool)
            try:
                yield client
            finally:
                pool.idle.append(client)

    def _pool(self) -> _Pool:
        loop = asyncio.get_running_loop()
        pool = self._pool_state
        if pool is None or pool.loop is not loop:
            if pool is not None:  # made in another (finished) loop: its sockets are useless
                for client in pool.clients:
                    with contextlib.suppress(Exception):
                        client.close()
            pool = self._pool_state = _Pool(loop, asyncio.Semaphore(self.connections))
        return pool

    def _client(self, pool: _Pool) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            local_hostname=self.helo_name,
            timeout=self.timeout,
            use_tls=self.security == "tls",
            start_tls=False,  # done in _open, so that a refusal names its stage
            tls_context=self.tls_context,
        )
        pool.clients.append(client)
        return client


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, aiosmtplib.SMTPException) else f"{type(exc).__name__}: {text}"
