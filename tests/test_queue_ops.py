"""What ops see and steer of the job queue (``DIGEST_QUEUE=procrastinate``).

Every test but the SQLite one runs in its own PostgreSQL schema and skips without
``DIGEST_TEST_POSTGRES_URL``. Jobs come from enrolment, as in production, and run through
procrastinate's own worker (or its job manager, to hold one running and fail another).

- The read model counts jobs due now and scheduled for later, lists the running job with its
  worker and the failed one, tells live workers from silent ones, and turns worker_stats into
  recipients per minute over the window; ``digest queue --json`` prints the same, as a real
  process; on SQLite it says the queue is off and ``/metrics`` leaves the queue out.
- ``GET /api/queue`` refuses a request without the token and answers the read model's JSON
  with it; ``/metrics`` carries the same figures, read back through prometheus_client's parser.
- Batches failing one job after another pause the edition once N have failed in a row, with
  the in-process path's reason and alert; resuming brings the waiting jobs forward at once
  and the workers then send everyone once. Approval (and a newsletter's resume) wakes them too.
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import POSTGRES_URL, _postgres_schema_engine, url_of
from failserver import Reply
from failserver import running as failing
from procrastinate.jobs import Status
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, select, text
from test_queue import jobs_of, plain_readers, plan, populate, settings_for, statuses
from webapp import app_client, running_site

from digest.deliver.providers import http_client
from digest.demo import DEMO_NEWSLETTER
from digest.observe.metrics import Metrics
from digest.observe.store_metrics import StoreMetricsSource
from digest.queue.app import make_app
from digest.queue.jobs import QUEUE_NAME
from digest.queue.runtime import Providers, build_runtime
from digest.queue.status import OFF_SETTING, OFF_SQLITE, QueueView
from digest.store.editions import Edition, EditionStore
from digest.store.ledger import Ledger
from digest.store.queue_schema import worker_stats
from digest.store.worker_stats import WorkerStats
from digest.wiring import Parts, build

PUBLIC_URL = "https://news.example.com"
TOKEN = "ops-token-of-the-queue-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SLOT = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
RESEND = {"provider": "resend", "resend_api_key": "re_queue_ops_test"}
"""Resend's batch is 100 recipients: a few hundred readers make a few jobs."""


@pytest.fixture
def pg() -> Iterator[Engine]:
    if not POSTGRES_URL:
        pytest.skip("the job queue needs PostgreSQL: set DIGEST_TEST_POSTGRES_URL (CI sets it)")
    yield from _postgres_schema_engine(POSTGRES_URL)


def later_readers(count: int) -> list[str]:
    """Readers whose local hour (UTC) is two hours from now: their job waits for it."""
    hour = (datetime.now(UTC) + timedelta(hours=2)).hour
    return [f"late{n}@example.org,Late {n},UTC,{hour}\n" for n in range(count)]


def job_times(engine: Engine) -> list[tuple[int, bool, int]]:
    """Each job's attempts, whether it is due by the database's clock, and its id."""
    query = text(
        "SELECT id, scheduled_at <= now(), attempts FROM procrastinate_jobs"
        " WHERE status = 'todo' ORDER BY id"
    )
    with engine.connect() as conn:
        return [(int(i), bool(due), int(n)) for i, due, n in conn.execute(query)]


async def work_until_idle(parts: Parts, metrics: Metrics | None = None) -> None:
    """procrastinate's own worker on the send queue, one job at a time, until none is due."""
    client = http_client(parts.settings)
    config = parts.newsletters()
    providers = Providers(parts.settings, client, config, parts.engine)
    runtime = build_runtime(parts, config, providers, parts.templates(), metrics)
    app = make_app(parts.settings.queue_url(), runtime.send_batch)
    try:
        async with app.open_async():
            await app.run_worker_async(
                queues=[QUEUE_NAME],
                concurrency=1,
                wait=False,
                install_signal_handlers=False,
                delete_jobs="successful",
            )
    finally:
        await providers.close()
        await client.aclose()


# -- the read model -----------------------------------------------------------------------------


async def hold_one_and_fail_one(url: str) -> tuple[int, int, int]:
    """As a worker would: register, take the first due job (left running), take the next and
    give it up. The worker's id and the two jobs'."""
    app = make_app(url)
    async with app.open_async():
        manager = app.job_manager
        worker_id = await manager.register_worker()
        running = await manager.fetch_job([QUEUE_NAME], worker_id)
        failed = await manager.fetch_job([QUEUE_NAME], worker_id)
        assert running is not None
        assert failed is not None
        assert running.id is not None
        assert failed.id is not None
        await manager.finish_job(failed, status=Status.FAILED, delete_job=False)
    return worker_id, running.id, failed.id


def test_the_status_counts_lists_and_rates_what_the_queue_holds(pg: Engine, tmp_path: Path) -> None:
    with failing() as server:
        settings = settings_for(tmp_path, pg, provider_base_url=server.url, **RESEND)
        with build(settings) as parts:
            populate(parts, tmp_path, plain_readers(210) + later_readers(5))
            edition = plan(parts)
            view = parts.queue_view()
            before = view.status()
            assert before.enabled
            assert before.note is None
            assert before.jobs.by_status() == {"due": 3, "scheduled": 1, "running": 0, "failed": 0}
            assert (before.running, before.failed, before.workers, before.throughput) == (
                [],
                [],
                [],
                [],
            )

            worker_id, running_id, failed_id = asyncio.run(
                hold_one_and_fail_one(settings.queue_url())
            )
            held = view.status()
            assert held.jobs.by_status() == {"due": 1, "scheduled": 1, "running": 1, "failed": 1}
            (running,) = held.running
            args = {job["id"]: job["args"] for job in jobs_of(pg)}
            assert (running.id, running.worker_id, running.edition_id) == (
                running_id,
                worker_id,
                edition.id,
            )
            assert (running.first_id, running.last_id) == (
                args[running_id]["first_id"],
                args[running_id]["last_id"],
            )
            assert running.at is not None  # from procrastinate's "started" event
            (failed,) = held.failed
            assert (failed.id, failed.edition_id, failed.at is not None) == (
                failed_id,
                edition.id,
                True,
            )
            (worker,) = held.workers
            assert (worker.id, worker.live, worker.running) == (worker_id, True, 1)
            assert held.live_workers == 1

            with pg.begin() as conn:  # the worker falls silent
                conn.execute(
                    text("UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1h'")
                )
            silent = view.status()
            assert silent.live_workers == 0
            assert silent.workers[0].seconds_since_heartbeat >= 3600

            at = datetime.now(UTC).replace(second=12)
            WorkerStats(pg, clock=lambda: at).count("host-a:1:aa", batches=2, recipients=150)
            WorkerStats(pg, clock=lambda: at).count("host-a:1:aa", batches=1, recipients=30)
            with pg.connect() as conn:  # one row per worker and minute
                minute = conn.execute(select(worker_stats.c.minute)).scalar_one()
            assert minute == at.replace(second=0, microsecond=0)
            half_past = QueueView(pg, enabled=True, clock=lambda: minute + timedelta(seconds=30))
            (one,) = half_past.status(minutes=1).throughput  # half a minute has passed
            assert (one.worker, one.batches, one.recipients) == ("host-a:1:aa", 3, 180)
            assert (one.recipients_per_minute, one.batches_per_minute) == (360.0, 6.0)
            (five,) = half_past.status(minutes=5).throughput  # four and a half minutes
            assert five.recipients_per_minute == 40.0
            later = QueueView(pg, enabled=True, clock=lambda: minute + timedelta(minutes=9))
            assert later.status(minutes=5).throughput == []  # out of the window

            off = QueueView(pg, enabled=False).status()
            assert (off.enabled, off.note, off.jobs.due) == (False, OFF_SETTING, 0)


def test_on_sqlite_the_queue_is_off_and_metrics_leave_it_out(tmp_path: Path) -> None:
    with running_site(tmp_path, PUBLIC_URL, api_token=TOKEN) as site:
        engine = site.parts.engine
        assert QueueView(engine, enabled=True).status().as_json()["note"] == OFF_SQLITE
        source = StoreMetricsSource(engine, QueueView(engine, enabled=True))
        rendered = Metrics(source).render().decode()
        with app_client(site.app) as client:
            answer = client.get("/api/queue", headers=AUTH)
            page = client.get("/metrics")
    assert answer.status_code == 200
    assert (answer.json()["enabled"], answer.json()["note"]) == (False, OFF_SETTING)
    for text_page in (rendered, page.text):
        families = {f.name: f for f in text_string_to_metric_families(text_page)}
        assert "digest_deliveries" in families
        assert not {"digest_queue_jobs", "digest_queue_workers"} & set(families)
        assert families["digest_store_up"].samples[0].value == 1


def test_digest_queue_prints_the_status_as_a_real_process(pg: Engine, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, pg, **RESEND)
    with build(settings) as parts:
        populate(parts, tmp_path, plain_readers(150))
        plan(parts)
    env = {
        "DIGEST_DATA_DIR": str(settings.data_dir),
        "DIGEST_DATABASE_URL": url_of(pg),
        "DIGEST_QUEUE": "procrastinate",
        "PATH": "/usr/bin:/bin",
    }
    shown = subprocess.run(
        [sys.executable, "-m", "digest", "queue", "--json", "--minutes", "10"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    status = json.loads(shown.stdout)
    assert status["enabled"] is True
    assert status["minutes"] == 10
    assert status["jobs"] == {"due": 2, "scheduled": 0, "running": 0, "failed": 0}
    assert (status["live_workers"], status["workers"], status["failed"]) == (0, [], [])


# -- the ops API and /metrics ---------------------------------------------------------------------


def test_the_api_and_metrics_show_the_queue_to_the_token_holder(pg: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "own"
    folder.mkdir()
    newsletters = settings_for(folder, pg).newsletters_file
    values: dict[str, Any] = {
        "newsletters_file": newsletters,
        "api_token": TOKEN,
        "database_url": url_of(pg),
        "queue": "procrastinate",
        **RESEND,
    }
    with running_site(tmp_path, PUBLIC_URL, **values) as site, app_client(site.app) as client:
        populate(site.parts, tmp_path, plain_readers(250))
        assert client.post(f"/api/newsletters/{DEMO_NEWSLETTER}/plan", headers=AUTH).is_success
        sent = client.post(f"/api/newsletters/{DEMO_NEWSLETTER}/send", headers=AUTH).json()
        assert "the workers" in sent["note"]
        assert "digest run" not in sent["note"]

        refused = client.get("/api/queue")
        assert refused.status_code == 401
        assert "Authorization: Bearer" in refused.json()["detail"]
        assert (
            client.get("/api/queue", headers={"Authorization": "Bearer wrong"}).status_code == 401
        )

        answer = client.get("/api/queue?minutes=15", headers=AUTH)
        assert answer.status_code == 200
        assert answer.json() == site.parts.queue_view().status(15).as_json()
        assert answer.json()["jobs"] == {"due": 3, "scheduled": 0, "running": 0, "failed": 0}
        assert client.get("/api/queue?minutes=0", headers=AUTH).status_code == 422

        worker_id, running_id, failed_id = asyncio.run(hold_one_and_fail_one(url_of(pg)))
        WorkerStats(pg).count("host-b:7:bb", batches=3, recipients=240)
        shown = client.get("/api/queue", headers=AUTH).json()  # every item's model, filled
        assert shown["jobs"] == {"due": 1, "scheduled": 0, "running": 1, "failed": 1}
        assert [job["id"] for job in shown["running"]] == [running_id]
        assert [job["id"] for job in shown["failed"]] == [failed_id]
        assert [(w["id"], w["live"], w["running"]) for w in shown["workers"]] == [
            (worker_id, True, 1)
        ]
        assert [(t["worker"], t["recipients"]) for t in shown["throughput"]] == [
            ("host-b:7:bb", 240)
        ]
        page = client.get("/metrics")
    assert page.status_code == 200
    found = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(page.text)
        for sample in family.samples
    }
    by_status = {
        labels[0][1]: value
        for (name, labels), value in found.items()
        if name == "digest_queue_jobs"
    }
    assert by_status == {"due": 1.0, "scheduled": 0.0, "running": 1.0, "failed": 1.0}
    assert found[("digest_queue_workers", ())] == 1.0
    rate = found[("digest_worker_recipients_per_minute", (("worker", "host-b:7:bb"),))]
    assert 240 / 5 <= rate <= 240 / 4  # four whole minutes and part of the current one
    assert found[("digest_store_up", ())] == 1.0


# -- pausing itself, resuming, approving ----------------------------------------------------------

BUSY = Reply(503, {"statusCode": 503, "name": "application_error", "message": "busy"})


def test_failing_jobs_pause_the_edition_and_resume_brings_their_jobs_forward(
    pg: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with failing() as server:
        settings = settings_for(
            tmp_path,
            pg,
            provider_base_url=server.url,
            provider_max_attempts=1,
            pause_after_failures=3,
            **RESEND,
        )
        with build(settings) as parts:
            addresses = populate(parts, tmp_path, plain_readers(350))
            edition = plan(parts)
            assert len(jobs_of(pg)) == 4  # one batch each
            server.script(BUSY, BUSY, BUSY)
            metrics = Metrics()

            with caplog.at_level(logging.ERROR):
                asyncio.run(work_until_idle(parts, metrics))

            assert len(server.requests) == 3  # the third failed batch paused it: no fourth call
            state = Ledger(pg).state(edition.id)
            assert state.paused
            assert state.reason is not None
            assert state.reason.startswith("paused after 3 batches in a row sent nothing;")
            assert "busy" in state.reason
            assert state.consecutive_failures == 3
            assert statuses(pg) == {"pending": 350}  # released, not lost
            alerts = [r for r in caplog.records if getattr(r, "alert", None) == "edition_paused"]
            assert [r.getMessage() for r in alerts] == [
                f"edition {edition.id} paused: {state.reason}"
            ]
            counted = metrics.render().decode()
            assert 'digest_alerts_total{kind="edition_paused"} 1.0' in counted
            waiting = job_times(pg)
            assert len(waiting) == 4
            assert not any(due for _, due, _ in waiting)
            assert parts.queue_view().status().jobs.scheduled == 4

            ops = parts.operations(parts.newsletters())
            ops.resume(edition.id)
            assert job_times(pg) == [(job_id, True, 0) for job_id, _, _ in waiting]
            assert Ledger(pg).state(edition.id).consecutive_failures == 0

            asyncio.run(work_until_idle(parts))
        assert set(server.accepted) == addresses
        assert server.twice() == []
    assert statuses(pg) == {"sent": 350}
    assert jobs_of(pg) == []


def test_approval_and_a_newsletters_resume_wake_the_waiting_jobs(
    pg: Engine, tmp_path: Path
) -> None:
    with failing() as server:
        settings = settings_for(tmp_path, pg, provider_base_url=server.url, **RESEND)
        newsletters = settings.newsletters_file
        source = newsletters.read_text(encoding="utf-8")
        newsletters.write_text(
            source.replace("window_days = 7", 'window_days = 7\napproval = "wait"', 1),
            encoding="utf-8",
        )
        with build(settings) as parts:
            addresses = populate(parts, tmp_path, plain_readers(150) + later_readers(3))
            edition = plan(parts)
            ops = parts.operations(parts.newsletters())
            asyncio.run(work_until_idle(parts))  # awaiting approval: every job waits
            assert server.requests == []
            waiting = job_times(pg)
            assert [due for _, due, _ in waiting] == [False, False, False]

            ops.pause(DEMO_NEWSLETTER, "held by the test")
            ops.resume(DEMO_NEWSLETTER)  # the newsletter's editions' jobs are woken
            woken = job_times(pg)
            assert [(due, attempts) for _, due, attempts in woken[:2]] == [(True, 0), (True, 0)]
            assert woken[2][1] is False  # the later hour's job still waits for that hour

            asyncio.run(work_until_idle(parts))  # still unapproved: they wait again
            assert server.requests == []
            ops.approve(edition.id, "edna")
            assert [due for _, due, _ in job_times(pg)[:2]] == [True, True]
            asyncio.run(work_until_idle(parts))
        assert set(server.accepted) == {a for a in addresses if a.startswith("reader")}
    assert statuses(pg) == {"sent": 150, "pending": 3}


def test_the_run_of_failed_batches_is_counted_in_the_store(engine: Engine) -> None:
    """Any sender's batch adds to one count; a delivering batch resets it; one pause."""
    EditionStore(engine).insert(
        Edition("e1", "daily", SLOT, 1, SLOT - timedelta(days=1), False, {}, SLOT), []
    )
    ledger = Ledger(engine)
    assert [ledger.count_batch("e1", delivered=False) for _ in range(3)] == [1, 2, 3]
    assert ledger.count_batch("e1", delivered=True) == 0
    assert ledger.state("e1").consecutive_failures == 0
    assert ledger.count_batch("e1", delivered=False) == 1
    assert ledger.pause_once("e1", "paused after 1 batches", 1) is True
    assert ledger.pause_once("e1", "the second batch's reason", 2) is False  # already paused
    state = ledger.state("e1")
    assert (state.paused, state.reason, state.consecutive_failures) == (
        True,
        "paused after 1 batches",
        1,
    )
