"""fetch against a real HTTP server on 127.0.0.1, plus the address classifier on a table.

The server runs in a background thread for the whole module; each test starts with an empty
log of the requests it saw, so a test can assert that a refused URL never reached it.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from digest.errors import BlockedURLError, FetchError
from digest.sources.fetch import (
    FetchPolicy,
    Resolver,
    Validators,
    blocked_kind,
    fetch,
    make_client,
    resolve_host,
)

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title></channel></rss>'
ETAG = '"feed-v1"'
LAST_MODIFIED = "Wed, 01 Jan 2025 10:00:00 GMT"
BIG = 5_000
LOCAL = FetchPolicy(timeout=2.0, max_bytes=100_000, user_agent="digest-test/1", allow_private=True)
PUBLIC_ONLY = FetchPolicy(timeout=2.0, user_agent="digest-test/1", allow_private=False)


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


@dataclass
class Log:
    requests: list[Seen] = field(default_factory=list)

    def paths(self) -> list[str]:
        return [seen.path for seen in self.requests]


class Handler(BaseHTTPRequestHandler):
    server: Server

    def do_GET(self) -> None:
        self.server.log.requests.append(Seen(self.path, dict(self.headers.items())))
        route = ROUTES.get(self.path.split("?")[0])
        if route is None:
            self.send_error(404)
            return
        route(self)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the tests read the request log instead."""


class Server(ThreadingHTTPServer):
    log: Log

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that gave up (timeout, size cap) breaks the pipe; that is expected."""


Route = Callable[[Handler], None]


def feed(h: Handler) -> None:
    if h.headers.get("If-None-Match") == ETAG:
        h.send_response(304)
        h.send_header("ETag", ETAG)
        h.end_headers()
        return
    h.send_response(200)
    h.send_header("Content-Type", "application/rss+xml; charset=utf-8")
    h.send_header("Content-Length", str(len(FEED)))
    h.send_header("ETag", ETAG)
    h.send_header("Last-Modified", LAST_MODIFIED)
    h.end_headers()
    h.wfile.write(FEED)


def big_declared(h: Handler) -> None:
    h.send_response(200)
    h.send_header("Content-Length", str(BIG))
    h.end_headers()
    h.wfile.write(b"x" * BIG)


def big_undeclared(h: Handler) -> None:
    """No Content-Length: HTTP/1.0, the body ends when the connection closes."""
    h.send_response(200)
    h.end_headers()
    for _ in range(BIG // 500):
        h.wfile.write(b"x" * 500)
        h.wfile.flush()


def slow(h: Handler) -> None:
    time.sleep(1.0)
    feed(h)


def drip(h: Handler) -> None:
    """Each byte arrives well within the read timeout, the whole body never does."""
    h.send_response(200)
    h.end_headers()
    for _ in range(20):
        h.wfile.write(b"x")
        h.wfile.flush()
        time.sleep(0.05)


def redirect_to(location: str) -> Route:
    def route(h: Handler) -> None:
        h.send_response(302)
        h.send_header("Location", location.format(port=h.server.server_address[1]))
        h.end_headers()

    return route


ROUTES: dict[str, Route] = {
    "/feed": feed,
    "/big-declared": big_declared,
    "/big-undeclared": big_undeclared,
    "/slow": slow,
    "/drip": drip,
    "/redirect": redirect_to("/feed"),
    "/loop": redirect_to("/loop"),
    "/to-public-test": redirect_to("http://public.test:{port}/feed"),
    "/to-loopback": redirect_to("http://127.0.0.1:{port}/feed"),
    "/to-file": redirect_to("file:///etc/passwd"),
}


@pytest.fixture(scope="module")
def running() -> Iterator[Server]:
    server = Server(("127.0.0.1", 0), Handler)
    server.log = Log()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def server(running: Server) -> Server:
    running.log.requests.clear()
    return running


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_client(LOCAL) as client:
        yield client


def base(server: Server, host: str = "127.0.0.1") -> str:
    return f"http://{host}:{server.server_address[1]}"


def resolver(table: dict[str, list[str]]) -> Resolver:
    def resolve(host: str, port: int) -> list[str]:
        return table[host]

    return resolve


# --- fetching from the real server ----------------------------------------------------


def test_200_returns_body_and_captures_validators(server: Server, client: httpx.Client) -> None:
    url = f"{base(server)}/feed"
    fetched = fetch(client, url, LOCAL)
    assert fetched.document is not None
    assert fetched.document.data == FEED
    assert fetched.document.origin == url
    assert fetched.document.url == url
    assert fetched.document.content_type == "application/rss+xml; charset=utf-8"
    assert fetched.validators == Validators(etag=ETAG, last_modified=LAST_MODIFIED)
    assert fetched.final_url == url


def test_request_headers_seen_by_server(server: Server, client: httpx.Client) -> None:
    fetch(client, f"{base(server)}/feed", LOCAL)
    [seen] = server.log.requests
    assert seen.headers["User-Agent"] == "digest-test/1"
    assert "application/rss+xml" in seen.headers["Accept"]
    assert "text/html" in seen.headers["Accept"]
    assert "If-None-Match" not in seen.headers


def test_conditional_get_gets_304_and_keeps_sent_validators(
    server: Server, client: httpx.Client
) -> None:
    sent = Validators(etag=ETAG, last_modified=LAST_MODIFIED)
    fetched = fetch(client, f"{base(server)}/feed", LOCAL, sent)
    assert fetched.document is None
    assert fetched.validators == sent
    [seen] = server.log.requests
    assert seen.headers["If-None-Match"] == ETAG
    assert seen.headers["If-Modified-Since"] == LAST_MODIFIED


def test_stale_etag_gets_the_full_document(server: Server, client: httpx.Client) -> None:
    fetched = fetch(client, f"{base(server)}/feed", LOCAL, Validators(etag='"old"'))
    assert fetched.document is not None
    assert fetched.validators.etag == ETAG


def test_404_names_the_status(server: Server, client: httpx.Client) -> None:
    url = f"{base(server)}/nowhere"
    with pytest.raises(FetchError, match="HTTP 404 Not Found") as caught:
        fetch(client, url, LOCAL)
    assert not isinstance(caught.value, BlockedURLError)
    assert caught.value.source == url


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/big-declared", "declares 5,000 bytes, more than the 1,000-byte cap"),
        ("/big-undeclared", "is larger than the 1,000-byte cap"),
    ],
)
def test_size_cap(server: Server, client: httpx.Client, path: str, message: str) -> None:
    policy = FetchPolicy(max_bytes=1_000, allow_private=True)
    with pytest.raises(FetchError, match=message) as caught:
        fetch(client, f"{base(server)}{path}", policy)
    assert "DIGEST_FETCH_MAX_BYTES" in str(caught.value)


def test_body_exactly_at_the_cap_is_read(server: Server, client: httpx.Client) -> None:
    policy = FetchPolicy(max_bytes=BIG, allow_private=True)
    fetched = fetch(client, f"{base(server)}/big-undeclared", policy)
    assert fetched.document is not None
    assert len(fetched.document.data) == BIG


def test_slow_server_times_out(server: Server, client: httpx.Client) -> None:
    policy = FetchPolicy(timeout=0.2, allow_private=True)
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"timed out after 0\.2 s") as caught:
        fetch(client, f"{base(server)}/slow", policy)
    assert time.monotonic() - started < 0.9
    assert "DIGEST_FETCH_TIMEOUT" in str(caught.value)
    assert isinstance(caught.value.__cause__, httpx.TimeoutException)


def test_dripping_body_hits_the_whole_fetch_deadline(server: Server, client: httpx.Client) -> None:
    policy = FetchPolicy(timeout=0.3, allow_private=True)
    with pytest.raises(FetchError, match=r"timed out after 0\.3 s"):
        fetch(client, f"{base(server)}/drip", policy)


def test_connection_refused_is_a_fetch_error(client: httpx.Client) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/feed"
    with pytest.raises(FetchError, match="could not be fetched") as caught:
        fetch(client, url, LOCAL)
    assert str(caught.value).startswith(url)
    assert isinstance(caught.value.__cause__, httpx.TransportError)


def test_redirect_is_followed_and_final_url_reported(server: Server, client: httpx.Client) -> None:
    url = f"{base(server)}/redirect"
    fetched = fetch(client, url, LOCAL)
    assert fetched.final_url == f"{base(server)}/feed"
    assert fetched.document is not None
    assert fetched.document.origin == url
    assert fetched.document.url == f"{base(server)}/feed"
    assert server.log.paths() == ["/redirect", "/feed"]


def test_redirect_loop_is_cut_short(server: Server, client: httpx.Client) -> None:
    policy = FetchPolicy(max_redirects=3, allow_private=True)
    with pytest.raises(FetchError, match="stopped after 3 redirects"):
        fetch(client, f"{base(server)}/loop", policy)
    assert server.log.paths() == ["/loop"] * 4


# --- refusing before any request ------------------------------------------------------


def test_loopback_literal_is_blocked_before_any_request(
    server: Server, client: httpx.Client
) -> None:
    with pytest.raises(BlockedURLError, match="DIGEST_ALLOW_PRIVATE_URLS=true") as caught:
        fetch(client, f"{base(server)}/feed", PUBLIC_ONLY)
    assert "127.0.0.1 is a loopback address" in str(caught.value)
    assert server.log.requests == []


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://0.0.0.0:8080/feed", "0.0.0.0 is the unspecified address"),
        ("http://[::1]/feed", "::1 is a loopback address"),
        ("http://[::ffff:169.254.169.254]/latest", "is a link-local address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
    ],
)
def test_ip_literals_are_checked_without_dns(client: httpx.Client, url: str, message: str) -> None:
    def no_dns(host: str, port: int) -> list[str]:
        raise AssertionError(f"resolved {host} although it is an IP literal")

    with pytest.raises(BlockedURLError, match=re.escape(message)):
        fetch(client, url, PUBLIC_ONLY, resolve=no_dns)


def test_public_name_resolving_to_private_address_is_blocked(client: httpx.Client) -> None:
    resolve = resolver({"feeds.example.com": ["93.184.216.34", "10.0.0.5"]})
    with pytest.raises(BlockedURLError) as caught:
        fetch(client, "https://feeds.example.com/rss", PUBLIC_ONLY, resolve=resolve)
    message = str(caught.value)
    assert "feeds.example.com resolves to 10.0.0.5, a private address" in message
    assert "DIGEST_ALLOW_PRIVATE_URLS=true" in message


def test_name_resolving_to_loopback_never_reaches_the_server(
    server: Server, client: httpx.Client
) -> None:
    resolve = resolver({"public.test": ["127.0.0.1"]})
    url = f"{base(server, 'public.test')}/feed"
    with pytest.raises(BlockedURLError, match=re.escape("public.test resolves to 127.0.0.1")):
        fetch(client, url, PUBLIC_ONLY, resolve=resolve)
    assert server.log.requests == []


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/to-public-test", "public.test resolves to 127.0.0.1, a loopback address"),
        ("/to-loopback", "127.0.0.1 is a loopback address"),
        ("/to-file", "only http and https URLs can be fetched"),
    ],
)
def test_every_redirect_hop_is_checked(
    server: Server, client: httpx.Client, path: str, message: str
) -> None:
    """The first hop passes (the resolver vouches for "localhost"), the redirect does not."""
    resolve = resolver({"localhost": ["93.184.216.34"], "public.test": ["127.0.0.1"]})
    url = f"{base(server, 'localhost')}{path}"
    with pytest.raises(BlockedURLError, match=message) as caught:
        fetch(client, url, PUBLIC_ONLY, resolve=resolve)
    assert caught.value.source == url
    assert "redirected to" in caught.value.reason
    assert server.log.paths() == [path]


def test_dns_failure_names_the_host(client: httpx.Client) -> None:
    def fail(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(
        FetchError, match=re.escape("cannot resolve host nowhere.invalid")
    ) as caught:
        fetch(client, "https://nowhere.invalid/feed", PUBLIC_ONLY, resolve=fail)
    assert not isinstance(caught.value, BlockedURLError)


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "javascript:alert(1)",
        "ftp://ftp.example.com/feed.xml",
        "data:text/plain,hello",
        "http:///no-host",
    ],
)
def test_non_http_urls_are_blocked(client: httpx.Client, url: str) -> None:
    with pytest.raises(BlockedURLError, match="only http and https URLs can be fetched"):
        fetch(client, url, LOCAL)


def test_default_resolver_reads_numeric_hosts_without_dns() -> None:
    assert resolve_host("127.0.0.1", 80) == ["127.0.0.1"]


# --- the address classifier -----------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("100.64.0.1", "CGNAT"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.1", "special-purpose"),
        ("198.18.0.1", "special-purpose"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("fd12:3456::1", "unique-local"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "link-local"),
        ("2002:7f00:1::", "loopback"),
        ("64:ff9b::a00:1", "private"),
        ("2001:db8::1", "special-purpose"),
        ("not-an-address", "unrecognised"),
    ],
)
def test_non_public_addresses_are_blocked(address: str, kind: str) -> None:
    found = blocked_kind(address)
    assert found is not None
    assert kind in found


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "93.184.216.34", "2001:4860:4860::8888", "::ffff:8.8.8.8", "2002:808:808::"],
)
def test_public_addresses_are_allowed(address: str) -> None:
    assert blocked_kind(address) is None
