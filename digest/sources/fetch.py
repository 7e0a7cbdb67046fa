"""Fetching a source URL safely: the I/O edge of ingestion.

``fetch`` is the one place digest asks a server named in a source list for a document. Those
URLs are input that editors, and the servers they point at, control, so every request passes
these guards:

- Scheme: only http and https. ``file:``, ``ftp:``, ``data:`` or ``javascript:`` would let a
  source list read local files or speak other protocols.
- Address: unless ``DIGEST_ALLOW_PRIVATE_URLS=true``, the host is resolved and refused when
  any of its addresses is not globally routable (loopback, private, link-local such as the
  cloud metadata endpoint 169.254.169.254, unique-local, CGNAT, multicast, reserved). Without
  this a source URL could make the server read its own admin ports or the internal network
  (server-side request forgery). IP-literal hosts are checked without DNS.
- Redirects: the client never follows them itself. Each hop is followed here, re-checked for
  scheme and address (a public URL may redirect to 127.0.0.1), and the chain is capped.
- Size: the body is streamed and abandoned once it passes the cap, and a Content-Length
  above the cap is refused before reading, so a huge or endless response cannot fill memory.
- Time: each network operation has a timeout and the whole fetch a deadline of the same
  length, checked between chunks, so a server dripping a byte at a time cannot stall a run.
- Errors: httpx's exceptions are translated in one place into ``FetchError`` naming the URL,
  what happened and the setting that helps.

Known residual risks:

- DNS rebinding: the host is resolved for the check and again by httpx when it connects. A
  hostile name server answering a public address first and a private one second slips past
  the check; closing this would mean connecting to the checked address itself.
- Compression: the size cap counts decoded bytes, so one network read (64 KiB) may inflate
  up to about a thousand times in memory before it is counted and refused.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import unquote

import httpx

from digest.errors import BlockedURLError, FetchError
from digest.sources.base import RawDocument

ACCEPT = ", ".join(
    [
        "application/rss+xml",
        "application/atom+xml",
        "application/feed+json",
        "application/xml;q=0.9",
        "text/xml;q=0.9",
        "application/json;q=0.8",
        "text/html;q=0.8",
        "application/xhtml+xml;q=0.8",
        "text/plain;q=0.7",
        "*/*;q=0.1",
    ]
)
SCHEMES = {"http": 80, "https": 443}
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
PRIVATE = [ipaddress.IPv4Network(net) for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]
UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
ALLOW_PRIVATE_HINT = "set DIGEST_ALLOW_PRIVATE_URLS=true to allow it"

Resolver = Callable[[str, int], list[str]]
"""host, port -> the IP addresses (as strings) a connection could reach."""

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class Validators:
    """What a conditional GET sends back: the last response's ETag and Last-Modified."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """The limits of every fetch, built from the settings."""

    timeout: float = 10.0
    max_bytes: int = 10_000_000
    user_agent: str = "digest/0.1"
    allow_private: bool = False
    max_redirects: int = 5


@dataclass(frozen=True, slots=True)
class Fetched:
    """A fetch's outcome; ``document`` is None when the server answered 304 Not Modified."""

    document: RawDocument | None
    validators: Validators
    final_url: str


@dataclass(frozen=True, slots=True)
class _Hop:
    """One request of a redirect chain; its errors name the URL the caller asked for."""

    origin: str
    url: httpx.URL
    number: int = 0

    def error(self, kind: type[FetchError], reason: str) -> FetchError:
        if self.number:
            reason = f"redirected to {self.url}: {reason}"
        return kind(self.origin, reason)


def resolve_host(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to, through the system resolver, without duplicates."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def make_client(policy: FetchPolicy) -> httpx.Client:
    """The one shared HTTP client for fetching sources; callers hand it to ``fetch``.

    It never follows redirects (``fetch`` checks each hop) and ignores proxy and certificate
    environment variables: settings are read in one place only.
    """
    return httpx.Client(
        timeout=policy.timeout,
        follow_redirects=False,
        limits=httpx.Limits(max_connections=10, max_keepalive_connections=5),
        headers={"User-Agent": policy.user_agent, "Accept": ACCEPT},
        trust_env=False,
    )


def fetch(
    client: httpx.Client,
    url: str,
    policy: FetchPolicy,
    validators: Validators | None = None,
    resolve: Resolver = resolve_host,
) -> Fetched:
    """GET ``url`` within ``policy``; a conditional GET when ``validators`` are given.

    Raises ``BlockedURLError`` before connecting to a refused URL (on any hop) and
    ``FetchError`` for network errors, timeouts, non-2xx statuses and oversized bodies.
    """
    deadline = time.monotonic() + policy.timeout
    hop = _Hop(url, _parse_url(url))
    while True:
        _check_hop(hop, policy, resolve)
        with _translated(hop, policy):
            outcome = _request(client, hop, policy, validators, deadline)
        if isinstance(outcome, Fetched):
            return outcome
        hop = _next_hop(hop, outcome, policy)


def _request_headers(policy: FetchPolicy, validators: Validators | None) -> dict[str, str]:
    """User-Agent, Accept and, when validators are given, the conditional headers."""
    headers = {"User-Agent": policy.user_agent, "Accept": ACCEPT}
    if validators and validators.etag:
        headers["If-None-Match"] = validators.etag
    if validators and validators.last_modified:
        headers["If-Modified-Since"] = validators.last_modified
    return headers


def _check_hop(hop: _Hop, policy: FetchPolicy, resolve: Resolver) -> None:
    """Refuse a hop whose scheme is not http(s) or whose host reaches a non-public address."""
    url = hop.url
    if url.scheme not in SCHEMES or not url.raw_host:
        raise hop.error(BlockedURLError, "only http and https URLs can be fetched")
    if policy.allow_private:
        return
    host = unquote(url.raw_host.decode("ascii"))
    literal = _ip_or_none(host) is not None
    port = url.port or SCHEMES[url.scheme]
    addresses = [host] if literal else _resolve(hop, host, port, resolve)
    for address in addresses:
        kind = blocked_kind(address)
        if kind is None:
            continue
        where = f"{address} is" if literal else f"{host} resolves to {address},"
        raise hop.error(BlockedURLError, f"{where} {kind}, not a public one; {ALLOW_PRIVATE_HINT}")


def blocked_kind(address: str) -> str | None:
    """What kind of non-public address ``address`` is, or None when it is globally routable.

    IPv4 addresses inside IPv6 ones (IPv4-mapped, 6to4, NAT64) are judged by the IPv4 one.
    """
    ip = _ip_or_none(address)
    if ip is None:
        return "an unrecognised address"
    ip = _embedded_ipv4(ip) or ip
    checks: list[tuple[bool, str]] = [
        (ip.is_unspecified, "the unspecified address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (ip in CGNAT, "a shared (CGNAT) address"),
        (any(ip in net for net in PRIVATE), "a private address"),
        (ip in UNIQUE_LOCAL, "a unique-local address"),
        (ip.is_reserved, "a reserved address"),
        (not ip.is_global, "a special-purpose address"),
    ]
    return next((kind for matched, kind in checks if matched), None)


def _ip_or_none(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.ipv4_mapped or ip.sixtofour


def _resolve(hop: _Hop, host: str, port: int, resolve: Resolver) -> list[str]:
    try:
        addresses = resolve(host, port)
    except OSError as exc:
        why = exc.strerror or str(exc) or type(exc).__name__
        raise hop.error(FetchError, f"cannot resolve host {host} ({why}); check the URL") from exc
    if not addresses:
        raise hop.error(FetchError, f"host {host} resolves to no address; check the URL")
    return addresses


def _parse_url(url: str) -> httpx.URL:
    try:
        return httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise BlockedURLError(url, f"is not a valid URL ({exc}); check it") from exc


def _request(
    client: httpx.Client,
    hop: _Hop,
    policy: FetchPolicy,
    sent: Validators | None,
    deadline: float,
) -> Fetched | httpx.URL:
    """One GET: the fetched document, a bodiless 304, or the URL a redirect points to."""
    request = client.stream(
        "GET",
        hop.url,
        headers=_request_headers(policy, sent),
        timeout=_remaining(hop, policy, deadline),
        follow_redirects=False,
    )
    with request as response:
        target = _redirect_target(hop, response)
        if target is not None:
            return target
        if response.status_code == HTTPStatus.NOT_MODIFIED:
            return Fetched(None, sent or Validators(), str(hop.url))
        if not response.is_success:
            raise hop.error(FetchError, _status_reason(response))
        document = RawDocument(
            origin=hop.origin,
            data=_read_body(hop, response, policy, deadline),
            url=str(hop.url),
            content_type=response.headers.get("Content-Type"),
        )
        return Fetched(document, _validators_of(response), str(hop.url))


def _remaining(hop: _Hop, policy: FetchPolicy, deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise hop.error(FetchError, _timed_out(policy))
    return left


def _redirect_target(hop: _Hop, response: httpx.Response) -> httpx.URL | None:
    location = response.headers.get("Location")
    if response.status_code not in REDIRECT_STATUSES or not location:
        return None
    try:
        return hop.url.join(location)
    except httpx.InvalidURL as exc:
        reason = f"redirects to an invalid URL {location!r} ({exc})"
        raise hop.error(FetchError, reason) from exc


def _next_hop(hop: _Hop, target: httpx.URL, policy: FetchPolicy) -> _Hop:
    if hop.number >= policy.max_redirects:
        reason = (
            f"stopped after {policy.max_redirects} redirects (the next to {target}); "
            "the URL may redirect in a loop"
        )
        raise FetchError(hop.origin, reason)
    return _Hop(hop.origin, target, hop.number + 1)


def _status_reason(response: httpx.Response) -> str:
    code = response.status_code
    status = " ".join(filter(None, [f"HTTP {code}", response.reason_phrase or _phrase(code)]))
    hint = "try again later" if code == 429 or code >= 500 else "check the URL"
    return f"{status}; {hint}"


def _phrase(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return ""


def _read_body(hop: _Hop, response: httpx.Response, policy: FetchPolicy, deadline: float) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > policy.max_bytes:
        reason = f"declares {int(declared):,} bytes, more than {_cap(policy)}"
        raise hop.error(FetchError, reason)
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > policy.max_bytes:
            raise hop.error(FetchError, f"is larger than {_cap(policy)}")
        if time.monotonic() > deadline:
            raise hop.error(FetchError, _timed_out(policy))
        chunks.append(chunk)
    return b"".join(chunks)


def _cap(policy: FetchPolicy) -> str:
    return f"the {policy.max_bytes:,}-byte cap; raise DIGEST_FETCH_MAX_BYTES to read it"


def _validators_of(response: httpx.Response) -> Validators:
    return Validators(
        etag=response.headers.get("ETag"),
        last_modified=response.headers.get("Last-Modified"),
    )


def _timed_out(policy: FetchPolicy) -> str:
    return f"timed out after {policy.timeout:g} s; raise DIGEST_FETCH_TIMEOUT if the server is slow"


@contextmanager
def _translated(hop: _Hop, policy: FetchPolicy) -> Iterator[None]:
    """The one place httpx's request errors become ``FetchError``s naming the URL."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise hop.error(FetchError, _timed_out(policy)) from exc
    except httpx.TransportError as exc:
        why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        reason = f"could not be fetched ({why}); check the URL and that the server is up"
        raise hop.error(FetchError, reason) from exc
    except httpx.RequestError as exc:
        reason = f"the response could not be read ({type(exc).__name__}: {exc})"
        raise hop.error(FetchError, reason) from exc
