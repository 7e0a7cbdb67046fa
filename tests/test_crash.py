"""Crash test: ``digest send`` SIGKILLed at random points, restarted, and nobody lost.

The real CLI sends an edition of 5,000 subscribers into the local sink (``sink.py``, in a
thread of this process) and is killed with SIGKILL several times: each time after the sink
has accepted a random number of further recipients, plus a random few milliseconds, so the
kill lands anywhere between "the provider took the batch" and "the ledger recorded it".
After each kill the test reads which ledger rows the dead process left in ``sending`` (the
batches in flight), waits for their lease to expire and starts the command again; the last
run goes to the end.

What must hold, per the ledger's promise in issue 6:

- everyone is received at least once, and the ledger says every row was sent;
- on the idempotent path (Resend, ``Idempotency-Key``) everyone is received exactly once:
  the batches a kill left uncertain go out again as the same request and the provider
  answers them from memory;
- on a path without idempotency (Postmark, ``DIGEST_UNCERTAIN_POLICY=resend``) a duplicate
  can only be someone whose row a kill left in flight, at most once per such kill, so the
  duplicates stay under batch size x concurrency x kills; and the report's "uncertain" count
  is exactly the rows the kills left in flight (non-zero when a kill landed mid-batch).

The store is built once per module (ingest the demo corpus, import 5,000 subscribers, plan
the edition) and copied for each test, so each path starts from the same untouched ledger.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from conftest import BASE_URL
from sink import SinkServer, running

from digest.demo import DEMO_NEWSLETTER, DEMO_NEWSLETTERS, write_corpus

SUBSCRIBERS = 5_000
KILLS = 4
LEASE_SECONDS = 2
CONCURRENCY = 4
STORE = "digest.sqlite3"


@dataclass(frozen=True)
class Store:
    """A built data folder (SQLite store, secret key) and the edition planned in it."""

    data: Path
    edition_id: str
    addresses: frozenset[str]


@dataclass(frozen=True)
class Kill:
    """One SIGKILL: how far the sink had got, and the rows the dead process held."""

    accepted: int
    in_flight: dict[int, str]  # ledger row id -> address, left in ``sending``


@dataclass(frozen=True)
class Outcome:
    report: dict[str, Any]
    kills: list[Kill]
    runs: int
    seconds: float


def cli(data: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The real ``digest`` command on ``data``, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "digest", *args],
        cwd=data.parent,
        env=_env(data, env),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _env(data: Path, extra: dict[str, str]) -> dict[str, str]:
    return {
        "DIGEST_DATA_DIR": str(data),
        "DIGEST_NEWSLETTERS_FILE": str(DEMO_NEWSLETTERS),
        "DIGEST_SECRET_KEY": "crash-test-secret-0123456789",
        "PATH": "/usr/bin:/bin",
        **extra,
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """Articles, 5,000 subscribers of every section and a planned edition, once."""
    root = tmp_path_factory.mktemp("crash-store")
    data = root / "data"
    write_corpus(root / "corpus", date.today(), BASE_URL)
    addresses = [f"reader{n}@example.org" for n in range(SUBSCRIBERS)]
    rows = "".join(f"{address},Reader {n}\n" for n, address in enumerate(addresses))
    (root / "subscribers.csv").write_text("email,name\n" + rows, encoding="utf-8")
    for args in (
        ("ingest", str(root / "corpus")),
        ("subscribers", "import", str(root / "subscribers.csv"), "--newsletter", "daily"),
    ):
        done = cli(data, *args)
        assert done.returncode == 0, done.stderr
    planned = cli(data, "plan", DEMO_NEWSLETTER, "--json")
    assert planned.returncode == 0, planned.stderr
    return Store(data, json.loads(planned.stdout)["edition_id"], frozenset(addresses))


@pytest.fixture
def store(built: Store, tmp_path: Path) -> Store:
    """A fresh copy of the built store: an untouched ledger for each test."""
    data = tmp_path / "data"
    shutil.copytree(built.data, data)
    return Store(data, built.edition_id, built.addresses)


@pytest.fixture
def sink() -> Iterator[SinkServer]:
    with running() as server:
        yield server


def send_with_kills(store: Store, sink: SinkServer, seed: int, **env: str) -> Outcome:
    """Run ``digest send`` until it finishes, killing it ``KILLS`` times on the way."""
    rng = random.Random(seed)
    settings = {
        "DIGEST_PROVIDER_BASE_URL": sink.url,
        "DIGEST_SEND_LEASE_SECONDS": str(LEASE_SECONDS),
        "DIGEST_SEND_CONCURRENCY": str(CONCURRENCY),
        "DIGEST_SEND_RATE": "1000000",  # the sink has no limit; the test is about crashes
        **env,
    }
    command = [sys.executable, "-m", "digest", "send", "--edition", store.edition_id, "--json"]
    kills: list[Kill] = []
    started = time.monotonic()
    runs = 0
    while True:
        runs += 1
        process = subprocess.Popen(
            command,
            cwd=store.data.parent,
            env=_env(store.data, settings),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        if len(kills) < KILLS:
            # spread the kills over the send: each after a further 5-15% of the audience
            target = sink.books.total() + rng.randint(SUBSCRIBERS // 20, SUBSCRIBERS * 3 // 20)
            if _kill_after(process, sink, target, rng.uniform(0.0, 0.02)):
                kills.append(Kill(sink.books.total(), _in_flight(store)))
                time.sleep(LEASE_SECONDS + 0.5)  # until the dead run's leases expire
                continue
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        return Outcome(json.loads(out), kills, runs, time.monotonic() - started)


def _kill_after(
    process: subprocess.Popen[str], sink: SinkServer, target: int, delay: float
) -> bool:
    """SIGKILL once the sink has accepted ``target`` recipients (and ``delay`` passed).

    False when the process finished first: this run was not killed.
    """
    deadline = time.monotonic() + 120
    while sink.books.total() < target:
        if process.poll() is not None:
            return False
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"no progress to {target} accepted recipients in 120 s")
        time.sleep(0.002)
    time.sleep(delay)
    if process.poll() is not None:
        return False
    os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=30)
    return True


def _in_flight(store: Store) -> dict[int, str]:
    """Rows the killed process left in ``sending``: claimed, outcome unrecorded."""
    with sqlite3.connect(store.data / STORE) as db:
        rows = db.execute(
            "SELECT id, email FROM deliveries WHERE edition_id = ? AND status = 'sending'",
            (store.edition_id,),
        ).fetchall()
    return {int(row_id): str(email).lower() for row_id, email in rows}


def _uncertain_rows(kills: list[Kill]) -> set[int]:
    return {row for kill in kills for row in kill.in_flight}


def _check_complete(outcome: Outcome, store: Store, sink: SinkServer) -> None:
    report = outcome.report
    assert report["edition_id"] == store.edition_id
    assert (report["sent"], report["failed"], report["skipped"], report["pending"]) == (
        SUBSCRIBERS,
        0,
        0,
        0,
    ), report
    assert len(outcome.kills) == KILLS, f"only {len(outcome.kills)} kills landed"
    assert any(kill.in_flight for kill in outcome.kills), "no kill landed mid-batch"
    missing = store.addresses - set(sink.books.accepted)
    assert not missing, f"{len(missing)} subscribers never received it, e.g. {min(missing)}"
    assert set(sink.books.accepted) == store.addresses
    # the report's uncertain rows are exactly those the kills left in flight
    assert report["uncertain"] == len(_uncertain_rows(outcome.kills))


def _describe(name: str, outcome: Outcome, sink: SinkServer) -> None:
    books = sink.books.as_json()
    flights = [len(kill.in_flight) for kill in outcome.kills]
    print(
        f"\n{name}: {outcome.runs} runs, {len(outcome.kills)} kills, in flight at each "
        f"{flights}, uncertain {outcome.report['uncertain']}, {books['twice']} received twice, "
        f"{books['replayed']} idempotent replays, {books['truncated']} cut uploads, "
        f"{outcome.seconds:.1f} s"
    )


def test_idempotent_path_delivers_everyone_exactly_once(store: Store, sink: SinkServer) -> None:
    outcome = send_with_kills(
        store, sink, seed=6, DIGEST_PROVIDER="resend", DIGEST_RESEND_API_KEY="re_crash_test"
    )
    _describe("resend", outcome, sink)
    _check_complete(outcome, store, sink)
    assert sink.books.twice() == {}
    assert sink.books.conflicts == 0  # no key was ever reused for a different body


def test_path_without_idempotency_loses_nobody_and_repeats_only_what_was_in_flight(
    store: Store, sink: SinkServer
) -> None:
    outcome = send_with_kills(
        store,
        sink,
        seed=7,
        DIGEST_PROVIDER="postmark",
        DIGEST_POSTMARK_SERVER_TOKEN="pm-crash-test",
        DIGEST_UNCERTAIN_POLICY="resend",
    )
    _describe("postmark", outcome, sink)
    _check_complete(outcome, store, sink)
    assert outcome.report["uncertain"] > 0
    batch = 500  # Postmark's batch call, digest.deliver.postmark.MAX_MESSAGES
    twice = sink.books.twice()
    extra = sum(count - 1 for count in twice.values())
    assert extra <= batch * CONCURRENCY * len(outcome.kills)
    # and more precisely: a repeat is someone a kill left in flight, once per such kill
    for address, count in twice.items():
        in_flight_at = sum(address in kill.in_flight.values() for kill in outcome.kills)
        assert count - 1 <= in_flight_at, (address, count, in_flight_at)
