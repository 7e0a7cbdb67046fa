"""Send batches as procrastinate jobs on PostgreSQL (``DIGEST_QUEUE=procrastinate``).

Every test but the pure ones runs in its own PostgreSQL schema (procrastinate's schema is
installed there by the project's own migrations) and skips without
``DIGEST_TEST_POSTGRES_URL``.

- Jobs are cut where the due time changes or a batch is full; a run that leaves rows to
  retry, rows in another lease or rows not yet due is tried again, at the right time.

- Enrolment writes the ledger rows and their jobs in one transaction: every row is in
  exactly one job's range, each job's rows share its due time, none holds more than the
  provider's batch; a failure in the middle leaves neither rows nor jobs.
- ``send_batch`` run twice sends once; throttled rows make it raise for a retry and the
  retry sends them; a paused edition's job waits without sending.
- A real ``digest worker`` process sends an edition queued by ``digest send`` into the local
  API sink, and stops cleanly on SIGTERM; ``digest run --with-worker`` plans the slot and
  its own worker sends it, through the queue rather than the in-process dispatcher.
- A worker killed with SIGKILL mid-edition: another worker re-queues its stalled jobs and
  takes its rows over when their lease runs out; with Resend's idempotency key every
  subscriber is received exactly once.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from conftest import BASE_URL, POSTGRES_URL, _postgres_schema_engine, make_settings, url_of
from failserver import Reply
from failserver import running as failing
from procrastinate.jobs import Job
from sink import SinkServer, running
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import DBAPIError

from digest.deliver.enroll import enroll
from digest.deliver.providers import http_client
from digest.deliver.sender import RangeReport
from digest.demo import DEMO_NEWSLETTER, DEMO_NEWSLETTERS, write_corpus
from digest.queue.app import MAX_ERROR_ATTEMPTS, SendRetry, Unfinished, Waiting
from digest.queue.enqueue import JobQueue
from digest.queue.jobs import plan_jobs
from digest.queue.runtime import Providers, build_runtime, verdict
from digest.settings import Settings
from digest.store.editions import Edition
from digest.store.ledger import IdSpan, RangeLeft
from digest.store.ledger_schema import deliveries
from digest.store.migrate import alembic_config, head_revision, upgrade
from digest.store.queue_schema import worker_stats
from digest.wiring import Parts, build
from digest.wiring import http_client as fetch_client
from subscribers.imports import import_csv

SECRET = "queue-test-secret-0123456789"


@pytest.fixture
def pg() -> Iterator[Engine]:
    if not POSTGRES_URL:
        pytest.skip("the job queue needs PostgreSQL: set DIGEST_TEST_POSTGRES_URL (CI sets it)")
    yield from _postgres_schema_engine(POSTGRES_URL)


@pytest.fixture
def sink() -> Iterator[SinkServer]:
    with running() as server:
        yield server


# -- the world: the demo newsletter due a minute ago, its articles, N readers -------------


def newsletters_due_now(folder: Path) -> Path:
    """The demo newsletters, the daily one due a minute ago (UTC), an hour's grace."""
    slot = datetime.now(UTC) - timedelta(minutes=1)
    source = DEMO_NEWSLETTERS.read_text(encoding="utf-8")
    source = source.replace('timezone = "Europe/Paris"', 'timezone = "UTC"', 1)
    cadence = f'cadence = "{slot.minute} {slot.hour} * * *"'
    path = folder / "newsletters.toml"
    path.write_text(re.sub(r'cadence = "0 7 \* \* \*"', cadence, source), encoding="utf-8")
    return path


def settings_for(root: Path, engine: Engine, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": url_of(engine),
        "newsletters_file": newsletters_due_now(root),
        "secret_key": SECRET,
        "queue": "procrastinate",
        "provider": "postmark",
        "postmark_server_token": "pm-queue-test",
        "send_rate": 1_000_000.0,
        "send_lease_seconds": 2,
    }
    values.update(overrides)
    return make_settings(root, **values)


def populate(parts: Parts, root: Path, readers: list[str]) -> set[str]:
    """Today's demo articles and ``readers`` (CSV rows after the header) for the newsletter."""
    write_corpus(root / "corpus", date.today(), BASE_URL)
    with fetch_client(parts) as client:
        parts.ingestor(client).run([str(root / "corpus")])
    csv = root / "readers.csv"
    csv.write_text("email,name,timezone,send_hour\n" + "".join(readers), encoding="utf-8")
    declared = parts.newsletters().get(DEMO_NEWSLETTER)
    outcome = import_csv(parts.subscribers, csv, declared.name, declared.section_names)
    assert not outcome.as_json().get("rejected"), outcome.as_json()
    return {row.split(",")[0] for row in readers}


def plain_readers(count: int) -> list[str]:
    return [f"reader{n}@example.org,Reader {n},,\n" for n in range(count)]


def plan(parts: Parts) -> Edition:
    edition = parts.operations(parts.newsletters()).plan(DEMO_NEWSLETTER)
    assert not edition.empty
    return edition


# -- reading the queue and the ledger ---------------------------------------------------------


def jobs_of(engine: Engine) -> list[dict[str, Any]]:
    query = text(
        "SELECT id, status, args, scheduled_at, attempts FROM procrastinate_jobs ORDER BY id"
    )
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def rows_of(engine: Engine) -> list[tuple[int, str, datetime]]:
    query = select(deliveries.c.id, deliveries.c.status, deliveries.c.due_at)
    with engine.connect() as conn:
        return [(int(i), s, d) for i, s, d in conn.execute(query.order_by(deliveries.c.id))]


def statuses(engine: Engine) -> dict[str, int]:
    query = select(deliveries.c.status, func.count()).group_by(deliveries.c.status)
    with engine.connect() as conn:
        return {status: int(n) for status, n in conn.execute(query)}


def stats(engine: Engine) -> tuple[int, int]:
    query = select(func.sum(worker_stats.c.batches), func.sum(worker_stats.c.recipients))
    with engine.connect() as conn:
        batches, recipients = conn.execute(query).one()
    return int(batches or 0), int(recipients or 0)


# -- the pure parts: cutting jobs, judging a run, when to retry -------------------------------


def test_jobs_are_cut_where_the_due_time_changes_or_a_batch_is_full() -> None:
    seven, eight = datetime(2026, 11, 27, 7, tzinfo=UTC), datetime(2026, 11, 27, 8, tzinfo=UTC)
    rows = [(n, seven) for n in range(10, 15)] + [(n, eight) for n in (20, 21, 23)]
    jobs = plan_jobs("e1", rows, batch_size=2)
    spans = [(job.first_id, job.last_id, job.due_at) for job in jobs]
    assert spans == [
        (10, 11, seven),
        (12, 13, seven),
        (14, 14, seven),
        (20, 21, eight),
        (23, 23, eight),
    ]
    assert jobs[0].args() == {"edition_id": "e1", "first_id": 10, "last_id": 11}
    assert plan_jobs("e1", [], batch_size=2) == []


def test_a_run_that_leaves_work_is_retried_and_when() -> None:
    now = datetime(2026, 11, 27, 7, tzinfo=UTC)
    done = RangeReport(1, 5, RangeLeft(0, 0, None))
    assert verdict("e1", done, now, 30.0) == {"edition_id": "e1", "claims": 1, "sent": 5}
    with pytest.raises(Unfinished):  # released rows (throttled): back off
        verdict("e1", RangeReport(1, 3, RangeLeft(2, 0, None)), now, 30.0)
    leased = RangeLeft(0, 4, now + timedelta(seconds=90))
    with pytest.raises(Waiting) as waiting:  # another sender's lease: until it runs out
        verdict("e1", RangeReport(0, 0, leased), now, 30.0)
    assert waiting.value.seconds == 91
    early = RangeLeft(0, 0, None, now + timedelta(minutes=10))
    with pytest.raises(Waiting) as waiting:  # the queue's clock ahead of ours: not lost
        verdict("e1", RangeReport(0, 0, early), now, 30.0)
    assert waiting.value.seconds == 601

    def wait(error: BaseException, attempts: int) -> float | None:
        job = Job(id=1, queue="q", lock=None, queueing_lock=None, task_name="t", attempts=attempts)
        decision = SendRetry().get_retry_decision(exception=error, job=job)
        if decision is None:
            return None
        assert decision.retry_at is not None
        return round((decision.retry_at - datetime.now(UTC)).total_seconds())

    paused = Waiting("paused", 30.0, growing=True)
    assert [wait(paused, n) for n in (0, 1, 2, 3, 9)] == [30, 60, 120, 240, 300]
    assert [wait(Unfinished("x"), n) for n in (0, 3, 40)] == [2, 16, 600]
    assert wait(RuntimeError("a bug"), 0) == 2
    assert wait(RuntimeError("a bug"), MAX_ERROR_ATTEMPTS - 1) is None  # fails, for ops


# -- enrolment: rows and jobs together --------------------------------------------------------


def test_the_queue_schema_comes_and_goes_with_the_migrations(pg: Engine) -> None:
    def has_jobs_table() -> bool:
        with pg.connect() as conn:
            return (
                conn.execute(text("SELECT to_regclass('procrastinate_jobs')")).scalar() is not None
            )

    assert has_jobs_table()
    command.downgrade(alembic_config(pg), "0010")
    assert not has_jobs_table()
    with pg.connect() as conn:
        leftovers = conn.execute(
            text(
                "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
                " WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate%'"
            )
        ).scalar()
    assert leftovers == 0
    assert upgrade(pg) == head_revision()
    assert has_jobs_table()


def test_enrolment_writes_each_chunk_with_its_jobs_or_neither(pg: Engine, tmp_path: Path) -> None:
    hours = ["", "7", "8", "9"]  # no hour (due at the slot), or three later local hours
    readers = [
        f"r{n}@example.org,R {n},{'Europe/Paris' if n // 4 % 2 else 'UTC'},{hours[n % 4]}\n"
        for n in range(480)
    ]
    settings = settings_for(tmp_path, pg, provider="resend", resend_api_key="re_test")
    with build(settings) as parts:
        populate(parts, tmp_path, readers)
        ops = parts.operations(parts.newsletters())
        edition = ops.planner.plan(DEMO_NEWSLETTER)  # planned, not yet enrolled

        broken = JobQueue(batch_size=100, queue_name="q" * 200)  # too long for its column
        with pytest.raises(DBAPIError):
            enroll(ops.ledger, ops.audience, edition.snapshot, broken)
        assert rows_of(pg) == []
        assert jobs_of(pg) == []

        assert ops.plan(DEMO_NEWSLETTER).id == edition.id  # enrols, with ops' own queue
        rows, jobs = rows_of(pg), jobs_of(pg)
        assert len(rows) == 480
        covering: Counter[int] = Counter()
        for job in jobs:
            args = job["args"]
            assert args["edition_id"] == edition.id
            mine = [r for r in rows if args["first_id"] <= r[0] <= args["last_id"]]
            assert 1 <= len(mine) <= 100  # Resend's batch
            assert {due for _, _, due in mine} == {job["scheduled_at"]}  # waits for their hour
            covering.update(row_id for row_id, _, _ in mine)
        assert covering == Counter({row_id: 1 for row_id, _, _ in rows})
        due_times = {job["scheduled_at"] for job in jobs}
        assert len(due_times) >= 4  # the slot and the local hours
        assert len(jobs) <= 480 // 100 + len(due_times)  # runs per due time, not per row

        ops.plan(DEMO_NEWSLETTER)  # planning again adds no row, hence no job
        assert len(rows_of(pg)) == 480
        assert len(jobs_of(pg)) == len(jobs)


# -- the job, in-process ----------------------------------------------------------------------


async def run_jobs(parts: Parts, jobs: list[dict[str, Any]]) -> list[dict[str, Any] | str]:
    """Every job's ``send_batch`` once, on one worker runtime; results or the retry raised."""
    client = http_client(parts.settings)
    providers = Providers(parts.settings, client, parts.newsletters(), parts.engine)
    runtime = build_runtime(parts, parts.newsletters(), providers, parts.templates())
    outcomes: list[dict[str, Any] | str] = []
    try:
        for job in jobs:
            args = job["args"]
            span = IdSpan(args["first_id"], args["last_id"])
            try:
                outcomes.append(await runtime.send_batch(args["edition_id"], span))
            except (Waiting, Unfinished) as retry:
                outcomes.append(type(retry).__name__)
    finally:
        await providers.close()
        await client.aclose()
    return outcomes


def test_send_batch_twice_sends_once_and_a_paused_edition_waits(
    pg: Engine, tmp_path: Path, sink: SinkServer
) -> None:
    settings = settings_for(tmp_path, pg, provider_base_url=sink.url)
    with build(settings) as parts:
        addresses = populate(parts, tmp_path, plain_readers(120))
        edition = plan(parts)
        jobs = jobs_of(pg)
        ops = parts.operations(parts.newsletters())

        ops.pause(edition.id, "held by the test")
        assert asyncio.run(run_jobs(parts, jobs)) == ["Waiting"] * len(jobs)
        assert sink.books.total() == 0
        assert statuses(pg) == {"pending": 120}
        ops.resume(edition.id)

        first = asyncio.run(run_jobs(parts, jobs))
        second = asyncio.run(run_jobs(parts, jobs))
    assert sum(outcome["sent"] for outcome in first if isinstance(outcome, dict)) == 120
    assert all(isinstance(o, dict) and o["sent"] == 0 and o["claims"] == 0 for o in second)
    assert set(sink.books.accepted) == addresses
    assert sink.books.twice() == {}
    assert statuses(pg) == {"sent": 120}
    assert stats(pg) == (len(jobs), 120)  # one batch per job, counted once


def test_throttled_rows_are_retried_by_the_next_attempt(pg: Engine, tmp_path: Path) -> None:
    with failing() as server:
        settings = settings_for(tmp_path, pg, provider_base_url=server.url, provider_max_attempts=1)
        with build(settings) as parts:
            addresses = populate(parts, tmp_path, plain_readers(30))
            plan(parts)
            jobs = jobs_of(pg)
            assert len(jobs) == 1
            server.script(Reply(503, {"ErrorCode": 503, "Message": "busy"}))
            assert asyncio.run(run_jobs(parts, jobs)) == ["Unfinished"]
            assert statuses(pg) == {"pending": 30}  # released, not lost
            (retried,) = asyncio.run(run_jobs(parts, jobs))
        assert isinstance(retried, dict)
        assert retried["sent"] == 30
        assert set(server.accepted) == addresses
        assert server.twice() == []
    assert statuses(pg) == {"sent": 30}


# -- real worker processes ----------------------------------------------------------------


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {
        "DIGEST_DATA_DIR": str(settings.data_dir),
        "DIGEST_DATABASE_URL": str(settings.database_url),
        "DIGEST_NEWSLETTERS_FILE": str(settings.newsletters_file),
        "DIGEST_SECRET_KEY": SECRET,
        "DIGEST_QUEUE": "procrastinate",
        "DIGEST_SEND_LEASE_SECONDS": str(settings.send_lease_seconds),
        "DIGEST_LOG_LEVEL": "INFO",
        "PATH": "/usr/bin:/bin",
    }
    env.update(extra)
    return env


def start_worker(root: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "digest", "worker", *args],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(done: Callable[[], bool], what: str, workers: list[subprocess.Popen[str]]) -> None:
    deadline = time.monotonic() + 40
    while not done():
        for worker in workers:
            if worker.poll() is not None:
                pytest.fail(f"digest worker exited early: {worker.communicate()[1][-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"not {what} in 40 s")
        time.sleep(0.01)


def received(sink: SinkServer, count: int) -> Callable[[], bool]:
    return lambda: len(sink.books.accepted) >= count


def all_sent(engine: Engine, count: int) -> Callable[[], bool]:
    return lambda: statuses(engine) == {"sent": count}


def terminate(worker: subprocess.Popen[str]) -> str:
    worker.send_signal(signal.SIGTERM)
    _, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err[-3000:]
    return err


def test_a_worker_process_sends_what_digest_send_queued(
    pg: Engine, tmp_path: Path, sink: SinkServer
) -> None:
    settings = settings_for(tmp_path, pg, provider_base_url=sink.url)
    with build(settings) as parts:
        addresses = populate(parts, tmp_path, plain_readers(300))
    env = worker_env(
        settings,
        DIGEST_PROVIDER="postmark",
        DIGEST_POSTMARK_SERVER_TOKEN="pm-queue-test",
        DIGEST_PROVIDER_BASE_URL=sink.url,
        DIGEST_SEND_RATE="1000000",
    )
    queued = subprocess.run(
        [sys.executable, "-m", "digest", "send", DEMO_NEWSLETTER, "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert queued.returncode == 0, queued.stderr
    assert json.loads(queued.stdout)["pending"] == 300  # queued, not sent by `digest send`
    assert sink.books.total() == 0
    assert jobs_of(pg)

    worker = start_worker(tmp_path, env, "--concurrency", "2")
    wait_for(all_sent(pg, 300), "all 300 sent", [worker])
    terminate(worker)
    assert set(sink.books.accepted) == addresses
    assert sink.books.twice() == {}
    assert statuses(pg) == {"sent": 300}
    assert jobs_of(pg) == []  # every job succeeded (and was deleted)
    assert stats(pg)[1] == 300


def test_digest_run_plans_and_its_own_worker_sends_through_the_queue(
    pg: Engine, tmp_path: Path, sink: SinkServer
) -> None:
    settings = settings_for(tmp_path, pg, provider_base_url=sink.url)
    with build(settings) as parts:
        addresses = populate(parts, tmp_path, plain_readers(200))
    env = worker_env(
        settings,
        DIGEST_PROVIDER="postmark",
        DIGEST_POSTMARK_SERVER_TOKEN="pm-queue-test",
        DIGEST_PROVIDER_BASE_URL=sink.url,
        DIGEST_SEND_RATE="1000000",
        DIGEST_DISPATCH_SECONDS="0.5",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "digest", "run", "--with-worker"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(all_sent(pg, 200), "all 200 sent", [process])
    terminate(process)
    assert set(sink.books.accepted) == addresses
    assert sink.books.twice() == {}
    assert stats(pg)[1] == 200  # every one went through a job, none through the dispatcher
    assert jobs_of(pg) == []


def test_a_worker_killed_mid_edition_loses_nothing_and_sends_nobody_twice(
    pg: Engine, tmp_path: Path, sink: SinkServer
) -> None:
    settings = settings_for(
        tmp_path, pg, provider="resend", resend_api_key="re_queue_test", provider_base_url=sink.url
    )
    with build(settings) as parts:
        addresses = populate(parts, tmp_path, plain_readers(1000))
        plan(parts)
    env = worker_env(
        settings,
        DIGEST_PROVIDER="resend",
        DIGEST_RESEND_API_KEY="re_queue_test",
        DIGEST_PROVIDER_BASE_URL=sink.url,
        DIGEST_SEND_RATE="300",  # 100-recipient calls, about three a second: mid-way at the kill
    )
    stalled = ("--concurrency", "2", "--stalled-after", "2")
    first = start_worker(tmp_path, env, *stalled)
    wait_for(received(sink, 300), "300 received", [first])
    os.kill(first.pid, signal.SIGKILL)
    first.communicate(timeout=30)
    in_flight = [job for job in jobs_of(pg) if job["status"] == "doing"]
    assert in_flight, "the kill found no job running"
    assert statuses(pg).get("pending", 0) > 0, "the kill came after the edition was done"

    second = start_worker(tmp_path, env, *stalled)
    wait_for(all_sent(pg, 1000), "all 1,000 sent", [second])
    err = terminate(second)
    assert "re-queued" in err  # the dead worker's jobs went back to the queue
    assert set(sink.books.accepted) == addresses
    assert sink.books.twice() == {}
    assert sink.books.conflicts == 0
    assert statuses(pg) == {"sent": 1000}
    assert jobs_of(pg) == []
