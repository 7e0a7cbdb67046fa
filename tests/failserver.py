"""A scriptable local email-API server for what Prism cannot do: throttling, storms, resets.

It speaks just enough of each provider's send call to accept a batch the way the provider
would (Postmark's per-message results, SendGrid's 202, Mailgun's queued id, Resend's ids
with its ``Idempotency-Key`` honoured for 24 hours, here for the server's life). Each test
queues ``Step``s; a request takes the next step, and the default when none is left is to
accept. The server counts, per recipient address, how often it *accepted* a message, which
is what "delivered twice" means: ``accepted`` must never show a count above one.

Steps: ``Reply`` (a fixed answer, nothing accepted), ``Accept`` (accept, with optional
per-recipient refusals in the provider's own format), ``Slow`` (accept, then answer only
after a delay, past the client's timeout), ``Reset`` (read the request, then close the
socket without answering).
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    """Answer ``status`` with ``body`` and ``headers``; accept nothing."""

    status: int
    body: Any = ""
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Accept:
    """Accept the request; ``refuse`` maps an address to (code, message) it refuses."""

    refuse: Mapping[str, tuple[int, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Slow:
    """Accept the request, then wait ``seconds`` before answering."""

    seconds: float


@dataclass(frozen=True)
class Reset:
    """Read the request and drop the connection without a word."""


Step = Reply | Accept | Slow | Reset


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    recipients: list[str]


class FailServer:
    """The server, on 127.0.0.1 and a free port, in a thread of its own."""

    def __init__(self) -> None:
        self.steps: list[Step] = []
        self.accepted: Counter[str] = Counter()
        self.requests: list[Seen] = []
        self.keys: dict[str, tuple[int, bytes]] = {}  # Resend idempotency keys
        self.lock = threading.Lock()
        self.http = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        self.thread = threading.Thread(
            target=self.http.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def script(self, *steps: Step) -> None:
        with self.lock:
            self.steps.extend(steps)

    def next_step(self) -> Step:
        with self.lock:
            return self.steps.pop(0) if self.steps else Accept()

    def accept(self, recipients: list[str]) -> None:
        with self.lock:
            self.accepted.update(address.lower() for address in recipients)

    def twice(self) -> list[str]:
        """Addresses accepted more than once: must stay empty."""
        return [address for address, count in self.accepted.items() if count > 1]


@contextmanager
def running() -> Iterator[FailServer]:
    server = FailServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.http.shutdown()
        server.http.server_close()


_ADDRESS = re.compile(r"[^\s<>,\"]+@[^\s<>,\"]+")


def _handler(server: FailServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            kind, payload = _decode(self.path, self.headers.get("Content-Type", ""), body)
            recipients = _recipients(kind, payload)
            headers = {k.lower(): v for k, v in self.headers.items()}
            server.requests.append(Seen(self.path, headers, recipients))
            step = server.next_step()
            if isinstance(step, Reset):
                self._reset()
                return
            if isinstance(step, Reply):
                raw = step.body if isinstance(step.body, bytes | str) else json.dumps(step.body)
                self._answer(step.status, raw, step.headers)
                return
            key = headers.get("idempotency-key")
            if kind == "resend" and key is not None:
                with server.lock:
                    earlier = server.keys.get(key)
                if earlier is not None:  # the same request again: the same answer, no resend
                    self._answer(*earlier)
                    return
            refuse = step.refuse if isinstance(step, Accept) else {}
            status, answer = _accept(server, kind, payload, recipients, refuse)
            if kind == "resend" and key is not None:
                with server.lock:
                    server.keys[key] = (status, answer)
            if isinstance(step, Slow):
                time.sleep(step.seconds)
            with contextlib.suppress(OSError):  # after Slow, the client may be gone
                self._answer(status, answer)

        def _answer(
            self, status: int, body: bytes | str, headers: Mapping[str, str] | None = None
        ) -> None:
            data = body.encode() if isinstance(body, str) else body
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()

        def _reset(self) -> None:
            # SO_LINGER 0: close() sends RST at once, like a crashed peer or a cut connection
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()

    return Handler


def _decode(path: str, content_type: str, body: bytes) -> tuple[str, Any]:
    if path.endswith("/email/batch"):
        return "postmark", json.loads(body)
    if path.endswith("/emails/batch"):
        return "resend", json.loads(body)
    if path.endswith("/v3/mail/send"):
        return "sendgrid", json.loads(body)
    if path.endswith("/messages"):
        head = f"Content-Type: {content_type}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(head + body)
        fields = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            fields[str(name)] = payload.decode()
        return "mailgun", fields
    raise AssertionError(f"unexpected path {path}")


def _recipients(kind: str, payload: Any) -> list[str]:
    if kind == "postmark":
        return [_ADDRESS.findall(message["To"])[0] for message in payload]
    if kind == "resend":
        return [_ADDRESS.findall(email["to"][0])[0] for email in payload]
    if kind == "sendgrid":
        return [p["to"][0]["email"] for p in payload["personalizations"]]
    return list(json.loads(payload["recipient-variables"]))


def _accept(
    server: FailServer,
    kind: str,
    payload: Any,
    recipients: list[str],
    refuse: Mapping[str, tuple[int, str]],
) -> tuple[int, bytes]:
    """Accept the request as the provider would; returns the answer."""
    refused = [address in refuse for address in recipients]
    if kind == "postmark":
        server.accept([a for a, no in zip(recipients, refused, strict=True) if not no])
        results = [
            {"ErrorCode": refuse[a][0], "Message": refuse[a][1], "To": a}
            if no
            else {"ErrorCode": 0, "Message": "OK", "MessageID": f"pm-{a}", "To": a}
            for a, no in zip(recipients, refused, strict=True)
        ]
        return 200, json.dumps(results).encode()
    if kind == "resend":
        server.accept([a for a, no in zip(recipients, refused, strict=True) if not no])
        data = [{"id": f"re-{a}"} for a, no in zip(recipients, refused, strict=True) if not no]
        errors = [
            {"index": i, "message": refuse[a][1]} for i, a in enumerate(recipients) if a in refuse
        ]
        return 200, json.dumps({"data": data, "errors": errors}).encode()
    if kind == "sendgrid":  # all or nothing, naming the personalization
        if any(refused):
            errors = [
                {"message": refuse[a][1], "field": f"personalizations.{i}.to.0.email"}
                for i, a in enumerate(recipients)
                if a in refuse
            ]
            return 400, json.dumps({"errors": errors}).encode()
        server.accept(recipients)
        return 202, b""
    if any(refused):  # Mailgun: all or nothing, naming nobody
        return 400, json.dumps({"message": "to parameter is not a valid address"}).encode()
    server.accept(recipients)
    return 200, json.dumps({"id": "<mg-1@example>", "message": "Queued. Thank you."}).encode()
