"""What every email-API provider shares: rate limit, retries and one place for httpx errors. I/O.

Postmark, SendGrid, Mailgun and Resend differ in their payloads and answers, not in how a
call must be made. ``Transport.call`` makes one call through the ``httpx.AsyncClient`` the
application hands in (one pool for every provider, built where the settings are read):

- a ``Limiter`` spaces calls to the provider's budget in messages per second and caps the
  calls in flight (beyond ~15 concurrent connections httpx's throughput drops, see
  ``DESIGN.md``, so the budget is spent on bigger batches rather than more connections).
  ``RateLimit`` is the one of a single process; ``digest.deliver.shared_rate`` keeps the
  budget in the database, so that every worker on every machine spends the same one;
- 429, 5xx, timeouts and connection failures are retried with exponential backoff and full
  jitter (AWS's "full jitter": a random wait in [0, min(cap, base * factor**n)]), so workers
  that failed together do not come back together;
- the provider's own word on when to come back wins over backoff: ``Retry-After`` (seconds
  or an HTTP-date), ``X-RateLimit-Reset``/``ratelimit-reset`` when the remaining budget is 0
  (seconds until the reset, or the epoch time of it: both forms are in use), and Mailgun's
  "try again after N seconds" in the body. Such a wait holds the whole rate limit, so calls
  in flight elsewhere do not walk into the same wall;
- 401 and 403 raise ``ProviderAuthError`` naming the setting that holds the key: no retry
  can fix a key, and the edition should pause;
- any other 4xx is returned: only the provider's parser knows which recipients it names.

A request that the provider may have received but not answered (the read timed out, the
connection dropped after the body was sent) is *uncertain*. It is retried at once only when
the provider deduplicates retries itself (``retry_uncertain``, Resend's ``Idempotency-Key``);
otherwise it ends the call with ``RetryExhausted(uncertain=True)``, because an immediate
retry could deliver the message twice, and the sender's policy for uncertain rows decides.
A failure that proves nothing was received (no connection, a timeout while connecting or
waiting for the pool, a body that could not be written) is always retried.

Every httpx exception is caught in one place, ``Transport._attempt``: classified as above
(any other httpx error counts as uncertain), or, for a URL that cannot be called at all,
raised as ``ProviderConfigError``; the ``RetryExhausted`` that ends a call is raised ``from``
the last httpx exception. ``HttpProvider`` is the base of the API providers: ``post`` is this
transport's call plus the provider's ``parse``; a call whose retries ran out becomes
``Outcome.RETRY`` for each of its envelopes, so nothing unconfirmed is lost.

An optional ``CallObserver`` hears of every attempt (the provider, the HTTP status or
"error", the seconds it took): the metrics count calls by status code and time them, which
is how ops see a provider throttling or failing before the ledger does.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import re
import time
from abc import abstractmethod
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Literal, Protocol, TypeVar

import httpx
import orjson

from digest.deliver.base import Batch, Outcome, Provider, Request, Result
from digest.errors import DeliveryError, ProviderAuthError, ProviderConfigError

Sleep = Callable[[float], Awaitable[None]]
UncertainPolicy = Literal["resend", "review"]
Clock = Callable[[], float]
T = TypeVar("T")
TRANSPORT_ERROR = "error"
"""The status an observer hears for an attempt that got no HTTP answer."""


class CallObserver(Protocol):
    """Told of each HTTP attempt: ``status`` is the code ("429") or ``TRANSPORT_ERROR``."""

    def __call__(self, provider: str, status: str, seconds: float) -> None: ...


RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
"""Answers that say "not now" rather than "no": retried. Any other 5xx is retried too."""
_MAILGUN_WAIT = re.compile(r"try again after (\d+(?:\.\d+)?) ?s", re.IGNORECASE)
_EPOCH_AFTER = 1_000_000_000  # a reset header above this is a time, not a duration
_EPOCH_MS_AFTER = 100_000_000_000  # and above this, a time in milliseconds
_BODY_EXCERPT = 500


class RetryExhausted(DeliveryError):
    """A call that did not go through after every retry; its messages are not confirmed.

    ``status`` and ``body`` are the provider's last answer (None after a network failure),
    ``retry_after`` the provider's own hint when it gave one, and ``uncertain`` True when
    the provider may have received the last attempt (see the module docstring).
    """

    def __init__(
        self,
        provider: str,
        reason: str,
        *,
        attempts: int,
        status: int | None = None,
        body: str | None = None,
        retry_after: float | None = None,
        uncertain: bool = False,
    ) -> None:
        what = "uncertain, the provider may have accepted it" if uncertain else "not sent"
        super().__init__(f"{provider}: {reason} after {attempts} attempt(s); {what}")
        self.provider = provider
        self.reason = reason
        self.attempts = attempts
        self.status = status
        self.body = body
        self.retry_after = retry_after
        self.uncertain = uncertain


class Limiter(Protocol):
    """What the transport needs of a rate limit; ``RateLimit`` and ``SharedRateLimit`` are two.

    A protocol rather than a base class: the per-process limiter keeps its budget in memory,
    the shared one in a database row, and they share no code beyond these three names.
    """

    async def acquire(self, cost: int = 1) -> None:
        """Wait until a call of ``cost`` messages may start."""

    def hold(self, seconds: float) -> None:
        """No call starts for ``seconds``: the provider asked for it (429, reset headers)."""

    def slot(self) -> AbstractAsyncContextManager[None]:
        """One of the calls in flight; the block waits while all of them are taken."""


class RateLimit:
    """Messages per second (a token bucket that may run into debt) and calls in flight.

    The bucket holds one second of budget. A call costs its number of messages, so a
    500-message batch at 100 messages/s leaves the bucket 4 seconds in debt and the next
    call waits them out: big batches are allowed, the average rate is kept. Waiting is
    computed, not polled (generic cell rate algorithm), so an injected ``sleep`` that does
    not pass real time still gives exact waits in tests. ``per_second`` may be ``math.inf``.
    """

    def __init__(
        self,
        per_second: float,
        concurrency: int,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not per_second > 0:
            raise ValueError(
                f"per_second must be positive (math.inf for no limit), not {per_second}"
            )
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {concurrency}")
        self.per_second = per_second
        self.concurrency = concurrency
        self._clock = clock
        self._sleep = sleep
        self._burst = 1.0  # seconds of budget that may be spent at once
        self._theoretical = -math.inf  # when the budget spent so far is paid back
        self._resume_at = -math.inf  # a provider's "come back later", for every caller
        self._slots = asyncio.Semaphore(concurrency)

    async def acquire(self, cost: int = 1) -> None:
        """Wait until ``cost`` messages fit the budget (and any hold has passed)."""
        now = self._clock()
        paid_back = max(self._theoretical, now)
        allowed_at = max(paid_back - self._burst, now, self._resume_at)
        self._theoretical = max(paid_back, allowed_at) + cost / self.per_second
        if allowed_at > now:
            await self._sleep(allowed_at - now)

    def hold(self, seconds: float) -> None:
        """No call starts for ``seconds``: the provider said so."""
        self._resume_at = max(self._resume_at, self._clock() + seconds)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """One of the ``concurrency`` calls in flight."""
        async with self._slots:
            yield


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter, and how many attempts a call gets."""

    base: float = 0.5  # seconds before the first retry, at most
    factor: float = 2.0
    cap: float = 30.0  # the longest backoff between two attempts
    max_attempts: int = 5  # attempts per call, the first one included
    max_wait: float = 120.0  # a provider's hint longer than this ends the call (RETRY later)

    def delay(self, retry: int, draw: float) -> float:
        """The wait before retry number ``retry`` (1-based), for a draw in [0, 1)."""
        return draw * min(self.cap, self.base * self.factor ** (retry - 1))


@dataclass(frozen=True, slots=True)
class Timing:
    """How the transport waits, reads the time and draws jitter: injectable for tests."""

    sleep: Sleep = asyncio.sleep
    wall_clock: Clock = time.time  # for Retry-After dates and epoch reset times
    draw: Callable[[], float] = random.random  # jitter, in [0, 1)
    stopwatch: Clock = time.perf_counter  # how long an attempt took, for the observer


@dataclass(frozen=True, slots=True)
class HttpCall:
    """One HTTP request of a provider: what ``HttpProvider.post`` hands to the transport.

    ``content`` is a body already serialised (orjson, 20 times faster than json for these
    payloads); ``data`` and ``files`` make a multipart form (Mailgun).
    """

    method: str
    url: str
    content: bytes | None = None
    data: Mapping[str, str] | None = None
    files: Sequence[tuple[str, tuple[None, str]]] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


class Transport:
    """Makes one provider's calls: rate limit, retries, hints, error translation."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        provider: str,
        key_setting: str,
        rate_limit: Limiter,
        backoff: Backoff | None = None,
        retry_uncertain: bool = False,
        timing: Timing | None = None,
        observer: CallObserver | None = None,
    ) -> None:
        self.client = client
        self.provider = provider
        self.key_setting = key_setting
        self.rate_limit = rate_limit
        self.backoff = backoff or Backoff()
        self.retry_uncertain = retry_uncertain
        self.timing = timing or Timing()
        self.observer = observer

    async def call(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        data: Mapping[str, str] | None = None,
        files: Sequence[tuple[str, tuple[None, str]]] | None = None,
        headers: Mapping[str, str] | None = None,
        cost: int = 1,
    ) -> httpx.Response:
        """The provider's answer (2xx or a 4xx for the parser), after retries.

        Raises ``ProviderAuthError`` on 401/403 and ``RetryExhausted`` when the call could
        not be completed. ``json`` is serialised with orjson; ``cost`` is the number of
        messages the call carries, for the rate limit.
        """
        sent_headers = dict(headers or {})
        if json is not None:
            content = orjson.dumps(json)
            sent_headers.setdefault("Content-Type", "application/json")
        if data is not None or files is not None:
            content, sent_headers["Content-Type"] = encode_form(data or {}, files or ())
            data = files = None
        attempt = 0
        while True:
            attempt += 1
            await self.rate_limit.acquire(cost)
            async with self.rate_limit.slot():
                started = self.timing.stopwatch()
                outcome = await self._attempt(method, url, content, data, files, sent_headers)
                self._observe(outcome, self.timing.stopwatch() - started)
            if isinstance(outcome, httpx.Response):
                response = outcome
                self._note_budget(response)
                if response.status_code in (401, 403):
                    raise self._auth_error(response)
                if not _retryable(response.status_code):
                    return response
                hint = self._hint(response)
                failure = _Failure(
                    f"HTTP {response.status_code}: {_excerpt(response.text)}",
                    status=response.status_code,
                    body=response.text,
                    hint=hint,
                )
            else:
                failure = outcome
                if failure.uncertain and not self.retry_uncertain:
                    raise failure.exhausted(self.provider, attempt) from failure.cause
            if attempt >= self.backoff.max_attempts:
                raise failure.exhausted(self.provider, attempt) from failure.cause
            if failure.hint is not None:
                if failure.hint > self.backoff.max_wait:
                    raise failure.exhausted(self.provider, attempt) from failure.cause
                self.rate_limit.hold(failure.hint)  # acquire() waits it out, for everyone
            else:
                await self.timing.sleep(self.backoff.delay(attempt, self.timing.draw()))

    async def _attempt(
        self,
        method: str,
        url: str,
        content: bytes | None,
        data: Mapping[str, str] | None,
        files: Sequence[tuple[str, tuple[None, str]]] | None,
        headers: Mapping[str, str],
    ) -> httpx.Response | _Failure:
        """One try; the single place where httpx's exceptions are caught and classified."""
        try:
            return await self.client.request(
                method,
                url,
                content=content,
                data=data,
                files=files,
                headers=headers,
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            return _Failure(f"could not connect ({type(exc).__name__}: {exc})", cause=exc)
        except (httpx.WriteError, httpx.WriteTimeout) as exc:
            return _Failure(f"could not send the request ({type(exc).__name__})", cause=exc)
        except httpx.ReadTimeout as exc:
            return _Failure("no answer before the read timeout", cause=exc, uncertain=True)
        except (httpx.ReadError, httpx.RemoteProtocolError) as exc:
            reason = f"the connection dropped before an answer ({type(exc).__name__}: {exc})"
            return _Failure(reason, cause=exc, uncertain=True)
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise ProviderConfigError(
                f"{self.provider}: cannot call {url!r} ({exc}); check the provider's base URL"
            ) from exc
        except httpx.HTTPError as exc:  # a proxy, a protocol or a decoding error: unknown
            reason = f"the call failed ({type(exc).__name__}: {exc})"
            return _Failure(reason, cause=exc, uncertain=True)

    def _observe(self, outcome: httpx.Response | _Failure, seconds: float) -> None:
        if self.observer is None:
            return
        if isinstance(outcome, httpx.Response):
            self.observer(self.provider.lower(), str(outcome.status_code), seconds)
        else:
            self.observer(self.provider.lower(), TRANSPORT_ERROR, seconds)

    def _auth_error(self, response: httpx.Response) -> ProviderAuthError:
        return ProviderAuthError(
            f"{self.provider} refused the request with HTTP {response.status_code}: "
            f"{_excerpt(response.text)}. Check the API key in {self.key_setting} (and that "
            "the key may send from this sender); the edition is paused until it is fixed."
        )

    def _hint(self, response: httpx.Response) -> float | None:
        """Seconds the provider asked us to wait, from its headers or (Mailgun) its body."""
        retry_after = response.headers.get("retry-after")
        if retry_after is not None:
            seconds = self._retry_after(retry_after)
            if seconds is not None:
                return seconds
        reset = self._reset(response)
        if reset is not None:
            return reset
        match = _MAILGUN_WAIT.search(response.text[:2000])
        return float(match.group(1)) if match else None

    def _retry_after(self, value: str) -> float | None:
        """RFC 9110 Retry-After: delay-seconds or an HTTP-date."""
        value = value.strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:  # an HTTP-date is GMT by definition
            return None
        return max(0.0, when.timestamp() - self.timing.wall_clock())

    def _reset(self, response: httpx.Response) -> float | None:
        """Seconds until the rate-limit window resets, when the remaining budget is 0."""
        headers = response.headers
        remaining = headers.get("x-ratelimit-remaining", headers.get("ratelimit-remaining"))
        reset = headers.get("x-ratelimit-reset", headers.get("ratelimit-reset"))
        if remaining is None or reset is None:
            return None
        try:
            if float(remaining) > 0:
                return None
            value = float(reset)
        except ValueError:
            return None
        if value >= _EPOCH_MS_AFTER:
            value /= 1000
        if value >= _EPOCH_AFTER:  # an epoch time (SendGrid), else seconds (IETF draft, Resend)
            value -= self.timing.wall_clock()
        return max(0.0, value)

    def _note_budget(self, response: httpx.Response) -> None:
        """A success that spent the last of the window's budget holds the next calls."""
        if response.is_success:
            reset = self._reset(response)
            if reset:
                self.rate_limit.hold(min(reset, self.backoff.max_wait))


def encode_form(
    data: Mapping[str, str], files: Sequence[tuple[str, tuple[None, str]]]
) -> tuple[bytes, str]:
    """A multipart/form-data body in one piece, and its Content-Type with the boundary.

    Given ``data`` and ``files``, httpx streams the form piece by piece: a socket write (and
    an anyio cancel scope) for every boundary, header block and value, some fifty for one
    Mailgun call, which cost milliseconds of CPU per call (measured by
    ``benchmarks/send_throughput.py``). Encoded here into one bytes object, the call is one
    write. The bytes are the ones httpx writes: a random 32-hex-digit boundary, each data
    field then each file as ``Content-Disposition: form-data; name="..."`` (names escaped
    the HTML5 way, as httpx does), files without a filename and so without a Content-Type.
    """
    boundary = os.urandom(16).hex().encode("ascii")
    parts: list[bytes] = []
    fields = [*data.items(), *((name, value) for name, (_, value) in files)]
    for name, value in fields:
        parts += [
            b"--",
            boundary,
            b'\r\nContent-Disposition: form-data; name="',
            _FORM_ESCAPES.sub(lambda m: _FORM_REPLACEMENTS[m.group(0)], name).encode(),
            b'"\r\n\r\n',
            value.encode(),
            b"\r\n",
        ]
    parts += [b"--", boundary, b"--\r\n"]
    return b"".join(parts), f"multipart/form-data; boundary={boundary.decode('ascii')}"


_FORM_REPLACEMENTS = {'"': "%22", "\\": "\\\\"} | {
    chr(c): f"%{c:02X}" for c in range(0x20) if c != 0x1B
}
_FORM_ESCAPES = re.compile("|".join(re.escape(c) for c in _FORM_REPLACEMENTS))


@dataclass(slots=True)
class _Failure:
    """Why one attempt did not give an answer to return."""

    reason: str
    status: int | None = None
    body: str | None = None
    hint: float | None = None
    uncertain: bool = False
    cause: BaseException | None = None

    def exhausted(self, provider: str, attempts: int) -> RetryExhausted:
        return RetryExhausted(
            provider,
            self.reason,
            attempts=attempts,
            status=self.status,
            body=self.body,
            retry_after=self.hint,
            uncertain=self.uncertain,
        )


def _retryable(status: int) -> bool:
    return status in RETRY_STATUSES or status >= 500


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _BODY_EXCERPT else text[:_BODY_EXCERPT] + "..."


class HttpProvider(Provider):
    """An email API: ``build`` the calls, ``post`` each through the transport, ``parse``.

    Subclasses put an ``HttpCall`` in each ``Request.payload`` and turn an answer (2xx, or
    a 4xx other than 401/403) into one ``Result`` per envelope of the request.

    A call whose retries ran out is ``RETRY`` for its envelopes: they go back to pending.
    An *uncertain* one (the provider may have taken it) follows ``uncertain_policy``, the
    same choice the sender makes for rows a crash left behind (``DIGEST_UNCERTAIN_POLICY``):
    "resend" sends them again later, "review" marks them failed for a person to decide. An
    idempotent provider never gets there: its transport retries with the same key.
    """

    def __init__(self, transport: Transport, uncertain_policy: UncertainPolicy = "resend") -> None:
        self.transport = transport
        self.uncertain_policy = uncertain_policy

    async def post(self, request: Request, batch: Batch) -> list[Result]:
        call: HttpCall = request.payload
        try:
            response = await self.transport.call(
                call.method,
                call.url,
                content=call.content,
                data=call.data,
                files=call.files,
                headers=call.headers,
                cost=len(request.envelopes),
            )
        except RetryExhausted as exc:
            if exc.uncertain and self.uncertain_policy == "review":
                return fail_all(request, f"{exc}; review it")
            return retry_all(request, str(exc))
        return self.parse(response, request)

    @abstractmethod
    def parse(self, response: httpx.Response, request: Request) -> list[Result]:
        """One result per envelope of ``request`` from the provider's answer."""


def retry_all(request: Request, reason: str) -> list[Result]:
    return [Result(e.delivery_id, Outcome.RETRY, error=reason) for e in request.envelopes]


def fail_all(request: Request, reason: str) -> list[Result]:
    return [Result(e.delivery_id, Outcome.FAILED, error=reason) for e in request.envelopes]


def response_json(response: httpx.Response) -> Any:
    """The answer's JSON, or None when it is not JSON (an HTML error page, say)."""
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None


def provider_message(response: httpx.Response, *keys: str) -> str:
    """The provider's own explanation of a refusal, for the ledger's last error."""
    body = response_json(response)
    if isinstance(body, dict):
        for key in keys:
            value = body.get(key)
            if isinstance(value, str) and value:
                return f"HTTP {response.status_code}: {value}"
    return f"HTTP {response.status_code}: {_excerpt(response.text) or response.reason_phrase}"


def chunks(
    items: Iterable[T], *, max_count: int, max_bytes: int, size: Callable[[T], int]
) -> Iterator[list[T]]:
    """Consecutive runs of at most ``max_count`` items and ``max_bytes`` of payload.

    An item larger than ``max_bytes`` on its own still gets a run of its own: the provider
    will refuse it by name, which is better than never sending it.
    """
    run: list[T] = []
    total = 0
    for item in items:
        weight = size(item)
        if run and (len(run) >= max_count or total + weight > max_bytes):
            yield run
            run, total = [], 0
        run.append(item)
        total += weight
    if run:
        yield run
