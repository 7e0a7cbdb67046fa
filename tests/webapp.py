"""Shared by the web tests: a newsletters file, the app over a real store, the outbox.

Two newsletters, so that "unsubscribe from this newsletter only" can be seen to leave the
other one alone.
"""

from __future__ import annotations

import asyncio
import email
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import httpx
import uvicorn
from conftest import make_settings
from fastapi import FastAPI

from digest.demo import DEMO_NEWSLETTER, DEMO_NEWSLETTERS, DEMO_SUBSCRIBERS, write_corpus
from digest.web import create_app
from digest.web.ratelimit import Limits
from digest.wiring import Parts, build, http_client
from subscribers.imports import import_csv

SECRET = "a-test-secret-of-enough-length"
NEWSLETTERS = """
[publication]
name = "The Meridian Review"
sections = ["Political history", "Science", "Technology", "Economy", "Culture", "Travel"]
postal_address = "1 Harbour Street, Portsmouth PO1 2AB, United Kingdom"

[[newsletter]]
name = "daily"
title = "The Meridian Daily"
sender_name = "The Meridian Review"
sender_address = "digest@meridian.example"
timezone = "Europe/Paris"
cadence = "0 7 * * *"

[[newsletter.sections]]
name = "Science"

[[newsletter.sections]]
name = "Technology"

[[newsletter.sections]]
name = "Culture"

[[newsletter]]
name = "weekend"
title = "The Meridian Weekend"
sender_name = "The Meridian Review"
sender_address = "digest@meridian.example"
timezone = "Europe/London"
cadence = "0 8 * * 6"
weekly_rollup = "0 9 * * 0"

[[newsletter.sections]]
name = "Economy"

[[newsletter.sections]]
name = "Travel"
"""


@dataclass(frozen=True)
class WebApp:
    """The parts and app under test, and where its mail goes."""

    parts: Parts
    app: FastAPI
    outbox: Path


@contextmanager
def running_site(
    tmp_path: Path, public_url: str, *, limits: Limits | None = None, **settings: Any
) -> Iterator[WebApp]:
    newsletters = tmp_path / "newsletters.toml"
    newsletters.write_text(NEWSLETTERS, encoding="utf-8")
    values: dict[str, Any] = {
        "newsletters_file": newsletters,
        "outbox_dir": tmp_path / "outbox",
        "secret_key": SECRET,
        "public_url": public_url,
    }
    values.update(settings)
    with build(make_settings(tmp_path, **values)) as parts:
        yield WebApp(parts, create_app(parts, limits), tmp_path / "outbox")


class AppClient:
    """A synchronous httpx client that calls the ASGI app in-process (no server, no socket).

    httpx's ASGITransport is asynchronous; one event loop of its own runs every request, so
    tests read like a visitor's clicks. (Starlette's TestClient now wants another package.)
    """

    def __init__(self, app: FastAPI, base_url: str = "http://testserver") -> None:
        self._loop = asyncio.new_event_loop()
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        self._client = httpx.AsyncClient(transport=transport, base_url=base_url)

    @property
    def cookies(self) -> httpx.Cookies:
        """The cookies the client keeps between requests, as a browser would."""
        return self._client.cookies

    def request(self, method: str, url: str, **options: Any) -> httpx.Response:
        return self._loop.run_until_complete(self._client.request(method, url, **options))

    def get(self, url: str, **options: Any) -> httpx.Response:
        return self.request("GET", url, **options)

    def post(self, url: str, **options: Any) -> httpx.Response:
        return self.request("POST", url, **options)

    def close(self) -> None:
        self._loop.run_until_complete(self._client.aclose())
        self._loop.close()


@contextmanager
def app_client(app: FastAPI, base_url: str = "http://testserver") -> Iterator[AppClient]:
    """A client of ``app``; an https ``base_url`` makes it keep and send Secure cookies."""
    client = AppClient(app, base_url)
    try:
        yield client
    finally:
        client.close()


def messages(outbox: Path) -> list[EmailMessage]:
    """The outbox's messages, oldest first."""
    files = sorted(outbox.glob("*.eml"), key=lambda f: f.stat().st_mtime_ns)
    return [email.message_from_bytes(f.read_bytes(), policy=default) for f in files]


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(cast(EmailMessage, part).get_content())


def confirm_link(message: EmailMessage) -> str:
    """The confirmation URL, read from the message's plain-text part as a person would."""
    found = re.search(r"^Confirm: (\S+)", text_of(message), re.MULTILINE)
    assert found, text_of(message)
    return found.group(1)


def unsubscribe_link(message: EmailMessage) -> str:
    """The HTTPS URL of the message's List-Unsubscribe header."""
    found = re.search(r"<(https?://[^>]+)>", str(message["List-Unsubscribe"]))
    assert found
    return found.group(1)


def path_of(url: str) -> str:
    return urlsplit(url).path


EDITOR = "edna"
EDITOR_PASSWORD = "a long editor password"


@contextmanager
def demo_site(tmp_path: Path, public_url: str, **settings: Any) -> Iterator[WebApp]:
    """The app over the demo newsletters, corpus and 30 subscribers, with an editor."""
    with running_site(tmp_path, public_url, newsletters_file=DEMO_NEWSLETTERS, **settings) as site:
        parts = site.parts
        corpus = write_corpus(tmp_path / "corpus", date.today(), parts.settings.base_url)
        with http_client(parts) as client:
            assert parts.ingestor(client).run([str(corpus[0].parent)]).ok
        sections = parts.newsletters().get(DEMO_NEWSLETTER).section_names
        import_csv(parts.subscribers, DEMO_SUBSCRIBERS, DEMO_NEWSLETTER, sections)
        parts.editors().add(EDITOR, EDITOR_PASSWORD)
        yield site


@contextmanager
def listening() -> Iterator[tuple[socket.socket, str]]:
    """A socket on a port the OS picked, and the app's base URL on it."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    try:
        yield listener, f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


@contextmanager
def serving(app: FastAPI, listener: socket.socket) -> Iterator[None]:
    """The app on a real uvicorn server in a thread, for the browser tests."""
    config = uvicorn.Config(app, log_level="warning", lifespan="off", ws="none")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start within 10 s"
        time.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=10)
