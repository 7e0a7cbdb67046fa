"""``digest run`` as ops run it: a real process, killed, stopped, and doubled.

The newsletters file gives the demo newsletter a cadence whose slot was a minute ago, so
a starting ``digest run`` catches it up (plans it, enrols 2,000 subscribers) and sends it
into the project's local API sink (``sink.py``), which counts every recipient it accepts.

- SIGKILL in the middle of the edition, then a new ``digest run``: every subscriber is
  received exactly once (Resend's Idempotency-Key makes the batches the kill left in
  flight safe to send again).
- SIGTERM: the process stops claiming, finishes its batches in flight and exits 0,
  leaving nothing in ``sending``.
- Two ``digest run`` processes on one database (SQLite, and PostgreSQL when CI gives one)
  with a provider that has no idempotency: still nobody twice, because editions are unique
  per slot and rows are claimed atomically.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from conftest import BASE_URL, url_of
from prometheus_client.parser import text_string_to_metric_families
from sink import SinkServer, running
from sqlalchemy import Engine, create_engine, func, select

from digest.demo import DEMO_NEWSLETTER, DEMO_NEWSLETTERS, write_corpus
from digest.store.ledger_schema import deliveries

SUBSCRIBERS = 2_000
LEASE_SECONDS = 2


@pytest.fixture
def sink() -> Iterator[SinkServer]:
    with running() as server:
        yield server


def newsletters_due_now(folder: Path) -> Path:
    """The demo newsletters, the daily one due a minute ago (UTC), an hour's grace."""
    slot = datetime.now(UTC) - timedelta(minutes=1)
    text = DEMO_NEWSLETTERS.read_text(encoding="utf-8")
    text = text.replace('timezone = "Europe/Paris"', 'timezone = "UTC"', 1)
    text = re.sub(r'cadence = "0 7 \* \* \*"', f'cadence = "{slot.minute} {slot.hour} * * *"', text)
    path = folder / "newsletters.toml"
    path.write_text(text, encoding="utf-8")
    return path


def env_for(root: Path, sink: SinkServer, **extra: str) -> dict[str, str]:
    return {
        "DIGEST_DATA_DIR": str(root / "data"),
        "DIGEST_NEWSLETTERS_FILE": str(root / "newsletters.toml"),
        "DIGEST_SECRET_KEY": "run-test-secret-0123456789",
        "DIGEST_PROVIDER_BASE_URL": sink.url,
        "DIGEST_SEND_LEASE_SECONDS": str(LEASE_SECONDS),
        "DIGEST_SEND_RATE": "1000000",
        "DIGEST_DISPATCH_SECONDS": "0.5",
        "DIGEST_LOG_LEVEL": "INFO",
        "PATH": "/usr/bin:/bin",
        **extra,
    }


def digest(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "digest", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    return done


def prepare(root: Path, env: dict[str, str]) -> set[str]:
    """Articles and 2,000 confirmed subscribers of the demo newsletter."""
    newsletters_due_now(root)
    write_corpus(root / "corpus", date.today(), BASE_URL)
    addresses = [f"reader{n}@example.org" for n in range(SUBSCRIBERS)]
    rows = "".join(f"{address},Reader {n}\n" for n, address in enumerate(addresses))
    (root / "subscribers.csv").write_text("email,name\n" + rows, encoding="utf-8")
    digest(root, env, "ingest", str(root / "corpus"))
    digest(
        root,
        env,
        "subscribers",
        "import",
        str(root / "subscribers.csv"),
        "--newsletter",
        DEMO_NEWSLETTER,
    )
    return set(addresses)


def start(root: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "digest", "run", *args],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(sink: SinkServer, count: int, processes: list[subprocess.Popen[str]]) -> None:
    deadline = time.monotonic() + 150
    while len(sink.books.accepted) < count:
        for process in processes:
            if process.poll() is not None:
                pytest.fail(f"digest run exited early: {process.communicate()[1][-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"only {len(sink.books.accepted)} of {count} received in 150 s")
        time.sleep(0.01)


def terminate(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err[-3000:]
    return err


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def provider_calls(port: int) -> dict[str, float]:
    """``digest_provider_calls_total`` by status, from the process's own metrics page."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as page:
        text = page.read().decode()
    return {
        sample.labels["status"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "digest_provider_calls"
        for sample in family.samples
        if sample.name == "digest_provider_calls_total"
    }


def ledger(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(deliveries.c.status, func.count()).group_by(deliveries.c.status)
            ).all()
        return {status: int(count) for status, count in rows}
    finally:
        engine.dispose()


def test_sigkill_mid_edition_then_restart_delivers_everyone_exactly_once(
    tmp_path: Path, sink: SinkServer
) -> None:
    env = env_for(tmp_path, sink, DIGEST_PROVIDER="resend", DIGEST_RESEND_API_KEY="re_run_test")
    addresses = prepare(tmp_path, env)
    first = start(tmp_path, env)
    wait_for(sink, SUBSCRIBERS // 3, [first])
    os.kill(first.pid, signal.SIGKILL)
    first.communicate(timeout=30)
    url = f"sqlite:///{tmp_path / 'data' / 'digest.sqlite3'}"
    assert ledger(url).get("pending", 0) > 0, "the kill came after the edition was done"

    second = start(tmp_path, env)
    wait_for(sink, SUBSCRIBERS, [second])
    # the sink may have everyone before the dead run's leases expire and are taken over:
    # wait for the ledger too, so the signal does not cut the take-over short
    deadline = time.monotonic() + 60
    while ledger(url) != {"sent": SUBSCRIBERS} and time.monotonic() < deadline:
        time.sleep(0.2)
    terminate(second)
    assert set(sink.books.accepted) == addresses
    assert sink.books.twice() == {}
    assert sink.books.conflicts == 0
    assert ledger(url) == {"sent": SUBSCRIBERS}


def test_sigterm_finishes_the_batches_in_flight_and_leaves_nothing_sending(
    tmp_path: Path, sink: SinkServer
) -> None:
    env = env_for(
        tmp_path,
        sink,
        DIGEST_PROVIDER="postmark",
        DIGEST_POSTMARK_SERVER_TOKEN="pm-run-test",
        DIGEST_SEND_RATE="400",  # one 500-message batch at a time, slowly enough
        DIGEST_SEND_CONCURRENCY="1",  # that the edition is mid-way at the signal
    )
    prepare(tmp_path, env)
    port = free_port()
    process = start(tmp_path, env, "--metrics-port", str(port))
    wait_for(sink, SUBSCRIBERS // 4, [process])
    calls = provider_calls(port)
    terminate(process)
    assert calls.get("200", 0) >= 1  # the process counted its own calls to the API
    counts = ledger(f"sqlite:///{tmp_path / 'data' / 'digest.sqlite3'}")
    assert "sending" not in counts, counts
    assert counts.get("pending", 0) > 0, "the edition finished before the signal"
    assert counts["sent"] == len(sink.books.accepted)
    assert sink.books.twice() == {}


def test_two_runs_on_one_database_send_nobody_twice(
    engine: Engine, tmp_path: Path, sink: SinkServer
) -> None:
    env = env_for(
        tmp_path,
        sink,
        DIGEST_PROVIDER="postmark",
        DIGEST_POSTMARK_SERVER_TOKEN="pm-run-test",
        DIGEST_DATABASE_URL=url_of(engine),
        DIGEST_SEND_CONCURRENCY="2",
    )
    addresses = prepare(tmp_path, env)
    both = [start(tmp_path, env), start(tmp_path, env)]
    wait_for(sink, SUBSCRIBERS, both)
    for process in both:
        terminate(process)
    assert set(sink.books.accepted) == addresses
    assert sink.books.twice() == {}
    assert ledger(url_of(engine)) == {"sent": SUBSCRIBERS}
