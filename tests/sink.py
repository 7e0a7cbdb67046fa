"""A local email-API sink that accepts sends the way the providers do, and counts recipients.

``failserver`` scripts failures one request at a time; this sink is the opposite: it takes
everything, fast, and keeps the books that the crash test and the send benchmark read. Per
recipient address it counts how many times a message to them was *accepted* (what "received
twice" means), and per request the bytes that came up the wire (what a send costs in upload).

It speaks just enough of each API for the real adapters to be satisfied with its answers:

- Resend ``POST /emails/batch``: ``{"data": [{"id"}...]}``. ``Idempotency-Key`` is honoured as
  Resend documents it (for 24 hours there, for the sink's life here): the same key with the
  same body answers the first answer again and accepts nobody a second time; the same key
  with a *different* body is ``409 invalid_idempotent_request``, and a key whose first
  request is still being handled is ``409 concurrent_idempotent_requests``. The body check
  matters: a retry after a crash is only deduplicated if digest rebuilds it byte for byte.
- Postmark ``POST /email/batch`` (one result per message with a ``MessageID``) and the
  single-message ``POST /email`` (the naive baseline of the benchmark).
- Mailgun ``POST /v3/{domain}/messages``: multipart, a comma-joined ``to``, and the
  ``recipient-variables`` object whose keys are the recipients.
- SendGrid ``POST /v3/mail/send``: ``personalizations``, answered ``202`` with ``X-Message-Id``.

A request whose body did not arrive in full (the client was killed mid-upload) accepts
nobody, as a real API would; one that did arrive is accepted even if the client dies before
reading the answer: that is the uncertain window the ledger has to account for.

Use it in a thread (``running()``, for tests) or as its own process, so that the server's CPU
is not charged to the client being measured::

    python tests/sink.py --port 0      # prints "sink listening on http://127.0.0.1:PORT"

``GET /_counts`` answers the books as JSON (``?addresses=1`` adds the per-address counts,
``?arrivals=1`` the arrival times), ``POST /_reset`` clears them.

Each acceptance is also kept with the wall-clock time it happened (``Books.arrivals``): the
rate the sink actually received, per second, is how the shared rate limit is checked.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import getaddresses
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

Answer = tuple[int, bytes, dict[str, str]]


class Refused(Exception):
    """A request the provider would refuse as a whole: its status and JSON body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body


@dataclass
class _Remembered:
    """What Resend remembers of an idempotency key: the body's hash and, once done, the answer."""

    digest: bytes
    answer: Answer | None = None


@dataclass
class Books:
    """The sink's counts; every change is made under ``lock`` (handlers run in threads)."""

    accepted: Counter[str] = field(default_factory=Counter)
    requests: int = 0  # calls that reached a handler with a whole body
    bytes: int = 0  # bytes of those calls: request line, headers and body
    request_bytes: list[int] = field(default_factory=list)
    by_path: Counter[str] = field(default_factory=Counter)
    replayed: int = 0  # idempotent repeats answered from memory
    conflicts: int = 0  # 409s for a key reused with another body, or still in flight
    truncated: int = 0  # bodies cut short (the client died mid-upload): nobody accepted
    arrivals: list[tuple[float, int]] = field(default_factory=list)  # (time.time(), accepted)
    keys: dict[str, _Remembered] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.accepted.clear()
            self.requests = self.bytes = self.replayed = self.conflicts = self.truncated = 0
            self.request_bytes.clear()
            self.arrivals.clear()
            self.by_path.clear()
            self.keys.clear()

    def total(self) -> int:
        """Acceptances so far, repeats included: cheap enough to poll."""
        with self.lock:
            return sum(self.accepted.values())

    def twice(self) -> dict[str, int]:
        """Addresses accepted more than once, with their counts."""
        with self.lock:
            return {address: n for address, n in self.accepted.items() if n > 1}

    def arrival_times(self) -> list[tuple[float, int]]:
        """When each accepting request was taken (wall clock) and how many it accepted."""
        with self.lock:
            return list(self.arrivals)

    def as_json(self, addresses: bool = False, arrivals: bool = False) -> dict[str, Any]:
        with self.lock:
            counts = list(self.accepted.values())
            report: dict[str, Any] = {
                "accepted": sum(counts),
                "distinct": len(counts),
                "twice": sum(1 for n in counts if n > 1),
                "max": max(counts, default=0),
                "requests": self.requests,
                "bytes": self.bytes,
                "max_request_bytes": max(self.request_bytes, default=0),
                "by_path": dict(self.by_path),
                "replayed": self.replayed,
                "conflicts": self.conflicts,
                "truncated": self.truncated,
                "process_cpu": time.process_time(),  # the sink's own, when it runs alone
            }
            if addresses:
                report["addresses"] = dict(self.accepted)
            if arrivals:
                report["arrivals"] = list(self.arrivals)
        return report


class SinkServer(ThreadingHTTPServer):
    """The HTTP server with its books; ``url`` is the base URL to give the adapters."""

    daemon_threads = True
    request_queue_size = 64

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__((host, port), Handler)
        self.books = Books()
        self.ids = itertools.count(1)
        self.url = f"http://{host}:{self.server_address[1]}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client killed mid-call resets its connection: expected here, not worth a trace."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextmanager
def running(host: str = "127.0.0.1", port: int = 0) -> Iterator[SinkServer]:
    """The sink in a thread of this process, for as long as the block runs."""
    server = SinkServer(host, port)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60  # a client that vanished without a FIN does not hold a thread for ever
    server: SinkServer

    def setup(self) -> None:
        """No Nagle: the status line and headers, then the body, must not wait for an ACK
        (with the client's delayed ACK that is 40 ms a call, and the benchmark measures it).
        """
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # -- plumbing ---------------------------------------------------------------------------

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path != "/_counts":
            self._send(404, orjson.dumps({"message": f"no GET {url.path}"}))
            return
        query = parse_qs(url.query)
        addresses = query.get("addresses", ["0"])[0] not in ("0", "")
        arrivals = query.get("arrivals", ["0"])[0] not in ("0", "")
        self._send(200, orjson.dumps(self.server.books.as_json(addresses, arrivals)))

    def do_POST(self) -> None:
        if self.path == "/_reset":
            self._drain()
            self.server.books.reset()
            self._send(200, b"{}")
            return
        body = self._body()
        if body is None:
            return
        books = self.server.books
        size = len(self.requestline) + 2 + len(bytes(self.headers)) + len(body)
        with books.lock:
            books.requests += 1
            books.bytes += size
            books.request_bytes.append(size)
            books.by_path[_route(self.path)] += 1
        try:
            status, answer, headers = self._dispatch(body)
        except Refused as refused:
            status, answer, headers = refused.status, orjson.dumps(refused.body), {}
        except (ValueError, KeyError, IndexError, TypeError) as exc:  # a malformed payload
            status, answer, headers = 422, orjson.dumps({"message": f"sink: {exc!r}"}), {}
        self._send(status, answer, headers)

    def _body(self) -> bytes | None:
        """The whole body, or None (and the connection closed) when it was cut short."""
        length = int(self.headers.get("Content-Length") or 0)
        buffer = bytearray(length)
        view = memoryview(buffer)
        got = 0
        try:
            while got < length:
                n = self.rfile.readinto(view[got:])
                if not n:
                    break
                got += n
        except OSError:
            pass
        if got < length:
            with self.server.books.lock:
                self.server.books.truncated += 1
            self.close_connection = True
            return None
        return bytes(buffer)

    def _drain(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:  # the client is gone (killed): what it sent is accepted all the same
            self.close_connection = True

    def _accept(self, recipients: list[str]) -> None:
        books = self.server.books
        with books.lock:
            books.accepted.update(recipients)
            books.arrivals.append((time.time(), len(recipients)))

    def _next_id(self) -> int:
        return next(self.server.ids)

    # -- the providers ----------------------------------------------------------------------

    def _dispatch(self, body: bytes) -> Answer:
        path = urlsplit(self.path).path
        route = _route(path)
        if route == "other":
            raise Refused(404, {"message": f"sink: no such endpoint {path}"})
        if route == "postmark-batch":
            self._key("X-Postmark-Server-Token", 10)
            return self._postmark(orjson.loads(body))
        if route == "postmark":
            self._key("X-Postmark-Server-Token", 10)
            return self._postmark_one(orjson.loads(body))
        if route == "resend":
            self._key("Authorization", 401)
            return self._resend(body)
        if route == "sendgrid":
            self._key("Authorization", 401)
            return self._sendgrid(orjson.loads(body))
        self._key("Authorization", 401)
        return self._mailgun(_multipart(self.headers.get("Content-Type", ""), body))

    def _key(self, header: str, code: int) -> None:
        if not self.headers.get(header):
            raise Refused(401, {"ErrorCode": code, "Message": f"sink: no {header} header"})

    def _postmark(self, messages: Any) -> Answer:
        if not isinstance(messages, list):
            raise Refused(422, {"ErrorCode": 402, "Message": "Received invalid JSON input."})
        recipients = [_postmark_check(message) for message in messages]
        self._accept(recipients)
        results = [
            {
                "ErrorCode": 0,
                "Message": "OK",
                "MessageID": f"00000000-0000-0000-0000-{self._next_id():012d}",
                "To": address,
            }
            for address in recipients
        ]
        return 200, orjson.dumps(results), {}

    def _postmark_one(self, message: Any) -> Answer:
        address = _postmark_check(message)
        self._accept([address])
        result = {
            "ErrorCode": 0,
            "Message": "OK",
            "MessageID": f"00000000-0000-0000-0000-{self._next_id():012d}",
            "To": address,
        }
        return 200, orjson.dumps(result), {}

    def _resend(self, body: bytes) -> Answer:
        key = self.headers.get("Idempotency-Key")
        books = self.server.books
        digest = hashlib.sha256(body).digest()
        if key is not None:
            with books.lock:
                earlier = books.keys.get(key)
                if earlier is None:
                    books.keys[key] = _Remembered(digest)
                elif earlier.digest != digest:
                    books.conflicts += 1
                    raise Refused(409, _resend_error("invalid_idempotent_request", key))
                elif earlier.answer is None:
                    books.conflicts += 1
                    raise Refused(409, _resend_error("concurrent_idempotent_requests", key))
                else:
                    books.replayed += 1
                    return earlier.answer
        try:
            emails = orjson.loads(body)
            if not isinstance(emails, list) or not emails or len(emails) > 100:
                raise Refused(422, {"name": "validation_error", "message": "1 to 100 emails"})
            recipients = []
            for email in emails:
                for name in ("from", "to", "subject"):
                    if not email.get(name):
                        raise Refused(422, {"name": "missing_required_field", "message": name})
                recipients.append(_address(email["to"][0]))
            self._accept(recipients)
            data = [{"id": f"re-{self._next_id()}"} for _ in recipients]
            answer: Answer = (200, orjson.dumps({"data": data}), {})
        except BaseException:
            if key is not None:
                with books.lock:
                    books.keys.pop(key, None)
            raise
        if key is not None:
            with books.lock:
                books.keys[key].answer = answer
        return answer

    def _sendgrid(self, message: Any) -> Answer:
        personalizations = message["personalizations"]
        if not message.get("from") or not message.get("content") or not personalizations:
            raise Refused(400, {"errors": [{"message": "from, content and personalizations"}]})
        if len(personalizations) > 1000:
            raise Refused(400, {"errors": [{"message": "at most 1000 personalizations"}]})
        recipients = [to["email"].lower() for p in personalizations for to in p["to"]]
        self._accept(recipients)
        return 202, b"", {"X-Message-Id": f"sg-{self._next_id()}"}

    def _mailgun(self, fields: dict[str, str]) -> Answer:
        for name in ("from", "to", "subject"):
            if not fields.get(name):
                raise Refused(400, {"message": f"'{name}' parameter is missing"})
        if "html" not in fields and "text" not in fields:
            raise Refused(400, {"message": "Need at least one of 'text' or 'html' parameters"})
        addresses = [address.lower() for _, address in getaddresses([fields["to"]])]
        variables = fields.get("recipient-variables")
        if variables is not None:
            keys = {key.lower() for key in orjson.loads(variables)}
            if not set(addresses) <= keys:
                raise Refused(400, {"message": "recipient-variables miss some 'to' addresses"})
        if len(addresses) > 1000:
            raise Refused(400, {"message": "Too many recipients: at most 1000"})
        self._accept(addresses)
        answer = {"id": f"<{self._next_id()}@sink.example>", "message": "Queued. Thank you."}
        return 200, orjson.dumps(answer), {}


def _route(path: str) -> str:
    if path.endswith("/emails/batch"):
        return "resend"
    if path.endswith("/email/batch"):
        return "postmark-batch"
    if path.endswith("/email"):
        return "postmark"
    if path.endswith("/v3/mail/send"):
        return "sendgrid"
    if path.startswith("/v3/") and path.endswith("/messages"):
        return "mailgun"
    return "other"


def _address(mailbox: str) -> str:
    """``Name <a@b>`` or ``a@b`` to ``a@b``, lower-cased (a fast path for formataddr's output)."""
    start = mailbox.rfind("<")
    if start >= 0:
        return mailbox[start + 1 : mailbox.rindex(">")].strip().lower()
    return mailbox.strip().lower()


def _postmark_check(message: Any) -> str:
    for name in ("From", "To", "Subject", "MessageStream"):
        if not message.get(name):
            raise Refused(422, {"ErrorCode": 300, "Message": f"Invalid email request: {name}"})
    if not message.get("HtmlBody") and not message.get("TextBody"):
        raise Refused(422, {"ErrorCode": 300, "Message": "Provide either HtmlBody or TextBody"})
    return _address(message["To"])


def _resend_error(name: str, key: str) -> dict[str, Any]:
    return {"statusCode": 409, "name": name, "message": f"idempotency key {key!r}: {name}"}


def _multipart(content_type: str, body: bytes) -> dict[str, str]:
    """A multipart/form-data body's fields (no files), split by hand: email.parser is slow."""
    marker = "boundary="
    at = content_type.find(marker)
    if at < 0:
        raise Refused(400, {"message": "expected multipart/form-data with a boundary"})
    boundary = content_type[at + len(marker) :].split(";")[0].strip().strip('"').encode()
    fields: dict[str, str] = {}
    for part in body.split(b"--" + boundary)[1:]:
        if part.startswith(b"--"):
            break
        head, _, value = part.partition(b"\r\n\r\n")
        name = ""
        for line in head.decode("latin-1").split("\r\n"):
            if line.lower().startswith("content-disposition:"):
                for param in line.split(";")[1:]:
                    key, _, quoted = param.strip().partition("=")
                    if key == "name":
                        name = quoted.strip('"')
        fields[name] = value.removesuffix(b"\r\n").decode()
    return fields


def main(argv: list[str] | None = None) -> None:
    """Run the sink as its own process until killed; the first line printed is its URL."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    args = parser.parse_args(argv)
    server = SinkServer(args.host, args.port)
    print(f"sink listening on {server.url}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    sys.exit(0)


if __name__ == "__main__":
    main()
