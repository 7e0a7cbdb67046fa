"""Ingestion end to end into real stores: files, folders, gzip and HTTP URLs."""

from __future__ import annotations

import gzip
import shutil
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from conftest import BASE_URL, TEST_DATA, StepClock
from sqlalchemy import Engine

from digest.ingest import Ingestor
from digest.sources.base import ParseOptions
from digest.sources.fetch import FetchPolicy, Validators
from digest.store.articles import ArticleStore
from digest.store.fetch_state import FetchStateStore

FEED_BYTES = (TEST_DATA / "feeds" / "rss2.xml").read_bytes()


def make_ingestor(engine: Engine, client: httpx.Client, **policy: object) -> Ingestor:
    return Ingestor(
        store=ArticleStore(engine, base_url=BASE_URL, clock=StepClock()),
        fetch_state=FetchStateStore(engine),
        client=client,
        options=ParseOptions(),
        policy=FetchPolicy(**policy),  # type: ignore[arg-type]
    )


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(follow_redirects=False) as c:
        yield c


def test_folder_of_mixed_sources(engine: Engine, client: httpx.Client) -> None:
    ingestor = make_ingestor(engine, client)
    report = ingestor.run([str(TEST_DATA / "exports"), str(TEST_DATA / "feeds")])
    counts = report.as_json()
    # 3 exports + rss2 (3 of 4) + rss1 (1) + rss091 (1) + atom (2) + json feed (2 of 3)
    assert counts["added"] == 12
    assert counts["failed_sources"] == []
    assert report.ok
    rejected = {(r["item"], r["reason"]) for r in counts["rejected"]}
    assert rejected == {
        ("item 4", "the item has no title and no text"),
        ("item 3", "item 3 is a JSON str, not an object"),
    }
    sources = [str(TEST_DATA / "exports"), str(TEST_DATA / "feeds")]
    again = make_ingestor(engine, client).run(sources).as_json()
    assert (again["added"], again["updated"], again["unchanged"]) == (0, 0, 12)


def test_unreadable_source_is_reported_and_the_others_kept(
    engine: Engine, client: httpx.Client, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere.xml"
    unknown = tmp_path / "notes.bin"
    unknown.write_bytes(b"\x00\x01binary")
    report = make_ingestor(engine, client).run(
        [str(missing), str(TEST_DATA / "feeds" / "rss091.xml"), str(unknown)]
    )
    assert not report.ok
    failures = {n.source: n.reason for n in report.failed_sources}
    assert failures[str(missing)] == "no such file or folder; check the path"
    assert "not a feed" in failures[str(unknown)]
    assert report.as_json()["added"] == 1


def test_folder_walk_skips_what_is_not_a_source(
    engine: Engine, client: httpx.Client, tmp_path: Path
) -> None:
    shutil.copy(TEST_DATA / "feeds" / "atom.xml", tmp_path / "atom.xml")
    (tmp_path / "LICENSE").write_text("Permission is hereby granted")
    (tmp_path / "metadata.json").write_text('{"title": "not a feed"}')
    (tmp_path / ".hidden.xml").write_text("<rss")
    report = make_ingestor(engine, client).run([str(tmp_path)])
    assert report.ok
    assert report.as_json()["added"] == 2
    assert [(n.source, n.reason) for n in report.warnings] == [
        (str(tmp_path / "metadata.json"), "skipped: a JSON file but not a JSON Feed")
    ]


def test_gzip_files_are_read_and_bombs_refused(
    engine: Engine, client: httpx.Client, tmp_path: Path
) -> None:
    packed = tmp_path / "feed.xml.gz"
    packed.write_bytes(gzip.compress(FEED_BYTES))
    bomb = tmp_path / "bomb.xml.gz"
    bomb.write_bytes(gzip.compress(b"<rss>" + b" " * 5_000_000))
    ingestor = make_ingestor(engine, client, max_bytes=1_000_000)
    report = ingestor.run([str(packed), str(bomb)])
    assert report.as_json()["added"] == 3
    (failure,) = report.failed_sources
    assert failure.source == str(bomb)
    assert "once decompressed" in failure.reason
    assert "DIGEST_FETCH_MAX_BYTES" in failure.reason


def test_small_batches_store_everything(engine: Engine, client: httpx.Client) -> None:
    ingestor = make_ingestor(engine, client)
    ingestor.batch_size = 2
    report = ingestor.run([str(TEST_DATA / "feeds")])
    assert report.as_json()["added"] == 9
    assert ingestor.store.count() == 9


class FeedServer:
    """A real HTTP server that serves one feed with an ETag and honours If-None-Match."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(dict(self.headers))
                if self.headers.get("If-None-Match") == '"v1"':
                    self.send_response(304)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
                self.send_header("ETag", '"v1"')
                self.send_header("Content-Length", str(len(FEED_BYTES)))
                self.end_headers()
                self.wfile.write(FEED_BYTES)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/feed"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer()
    yield server
    server.close()


def test_url_ingest_uses_conditional_get(
    engine: Engine, client: httpx.Client, feed_server: FeedServer
) -> None:
    first = make_ingestor(engine, client, allow_private=True).run([feed_server.url])
    assert first.as_json()["added"] == 3
    second = make_ingestor(engine, client, allow_private=True).run([feed_server.url])
    assert second.ok
    assert second.as_json()["added"] == 0
    assert [n.reason for n in second.warnings] == ["not modified since the last fetch (HTTP 304)"]
    assert feed_server.requests[1].get("If-None-Match") == '"v1"'
    assert "digest" in feed_server.requests[0]["User-Agent"]


def test_private_address_is_refused_by_default(
    engine: Engine, client: httpx.Client, feed_server: FeedServer
) -> None:
    report = make_ingestor(engine, client).run([feed_server.url])
    assert not report.ok
    (failure,) = report.failed_sources
    assert "DIGEST_ALLOW_PRIVATE_URLS" in failure.reason
    assert feed_server.requests == []


class AlertTally:
    def __init__(self) -> None:
        self.kinds: list[str] = []

    def count_alert(self, kind: str) -> None:
        self.kinds.append(kind)


def test_a_feed_that_keeps_failing_alerts_ops_and_a_success_resets_it(
    engine: Engine, client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as probe:  # a port nobody listens on: every fetch is refused
        probe.bind(("127.0.0.1", 0))
        missing = f"http://127.0.0.1:{probe.getsockname()[1]}/feed"
    tally = AlertTally()
    for run in range(1, 4):
        ingestor = make_ingestor(engine, client, allow_private=True)
        ingestor.alerts = tally
        report = ingestor.run([missing])
        assert not report.ok
        assert tally.kinds == (["feed_failing"] if run == 3 else [])
    (record,) = [r for r in caplog.records if getattr(r, "alert", None) == "feed_failing"]
    assert record.levelname == "ERROR"
    assert "failed 3 fetches in a row" in record.getMessage()
    state = FetchStateStore(engine)
    assert state.record_failure(missing, "again", datetime.now(UTC)) == 4
    state.save(missing, Validators(etag=None, last_modified=None), datetime.now(UTC))
    assert state.record_failure(missing, "after a success", datetime.now(UTC)) == 1
