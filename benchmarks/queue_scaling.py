"""Queue scaling: one edition sent by 1, 2 and 4 ``digest worker`` processes, and its cost.

What the queue (``DIGEST_QUEUE=procrastinate``) buys on this machine, and what each
recipient costs the workers and the database, the figures ``docs/capacity.md`` scales up:

- recipients per second from the moment the edition's jobs are deferred to the last row
  recorded as sent (the ledger's ``sent_at``), and the ratio to one worker;
- CPU per recipient: of all the worker processes together, of the PostgreSQL backends
  serving them, and of the sink, each over the same window (``/proc``);
- statements per recipient: every SQL statement the worker processes sent, counted in each
  of them around psycopg's cursors (``execute`` once, ``executemany`` once per parameter
  set: the server runs each), procrastinate's and SQLAlchemy's alike, pool pre-pings
  included; transactions as the server counts them (``pg_stat_database``, in a database of
  the benchmark's own, less the benchmark's own monitoring statements); and, when the
  server has ``pg_stat_statements`` loaded, its count of statements as a cross-check;
- rows written per recipient: inserts, updates and deletes in the run's schema
  (``pg_stat_user_tables``), all of them and the ledger's alone; WAL bytes per recipient
  (``pg_current_wal_lsn``, server-wide: run it on a quiet server);
- the most connections the workers held at once (``pg_stat_activity``, sampled);
- the rest of the machine's busy cores meanwhile (``/proc/stat``): others' processes make
  every figure above someone else's too, so it is printed with them;
- first, enrolment: the template's edition enrolled afresh in this process (ledger rows
  and their jobs, as ``digest run`` does at a slot), rows per second and CPU per row.

Each run starts from the same store: a template schema built once through the CLI
(ingest the demo corpus, ``subscribers import`` of a generated list, ``digest send`` with
the queue on, which plans and enrols the edition), kept in the database and reused, then
copied into a fresh, migrated run schema (``tests/store_copy.py``). The workers start on
an empty queue; once all have registered and sat idle, the edition's jobs are deferred
with ``JobQueue`` (what enrolment does in the rows' own transactions), cut at the provider's
batch size. The API is ``tests/sink.py`` in a process of its own; ``DIGEST_SEND_RATE`` is
lifted, so the workers (and, on 2 cores, the CPU they share with PostgreSQL and the
sink) are what binds. The audience is ``send_throughput.py``'s: 70% of subscribers take
every section, 30% choose 1 to 3.

    .venv/bin/python benchmarks/queue_scaling.py [--subscribers 20000] [--workers 1,2,4]
        [--shapes postmark,mailgun] [--concurrency 4] [--database-url URL] [--rebuild]
"""

from __future__ import annotations

import argparse
import atexit
import functools
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import psycopg
from sqlalchemy import Engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from digest.deliver.enroll import enroll
from digest.demo import DEMO_NEWSLETTER, DEMO_NEWSLETTERS, write_corpus
from digest.queue.app import conninfo
from digest.queue.enqueue import JobQueue, batch_size
from digest.queue.jobs import plan_jobs
from digest.settings import Settings
from digest.store.engine import create_store_engine
from digest.store.ledger_schema import deliveries
from digest.store.migrate import upgrade
from digest.wiring import build

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from store_copy import copy_store  # noqa: E402  (tests/ is on the path only from here on)

SINK = REPO / "tests" / "sink.py"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/digest_bench"
WORKER_APP = "digest-bench-worker"
MONITOR_APP = "digest-bench-monitor"
RUN_SCHEMA = "queue_bench_run"
TEMPLATE_VERSION = 1  # bump when enrolment or the schema changes what a template holds
SECTIONS = ("Political history", "Science", "Technology", "Economy", "Culture", "Travel")
NAMES = ("Ana", "José", "Zoë", "Łukasz", "Søren", "Chloé", "Nguyễn", "Priya", "Олег", "Noël")
SECRET = "queue-benchmark-secret-0123456789"
KEYS = {
    "DIGEST_POSTMARK_SERVER_TOKEN": "pm-bench",
    "DIGEST_MAILGUN_API_KEY": "mg-bench",
    "DIGEST_MAILGUN_DOMAIN": "mg.meridian.example",
    "DIGEST_SENDGRID_API_KEY": "sg-bench",
    "DIGEST_RESEND_API_KEY": "re-bench",
}
SHAPES = ("postmark", "mailgun", "sendgrid", "resend")
TICK = os.sysconf("SC_CLK_TCK")


# -- the worker child: `digest worker` with its statements counted ----------------------------


def worker_child(counts: Path, argv: list[str]) -> None:
    """Run ``digest worker ARGV``, counting the SQL statements this process sends.

    psycopg's cursors are the one road to the server for SQLAlchemy and procrastinate
    alike; each ``execute`` is one statement, each ``executemany`` one per parameter set.
    SIGUSR1 writes the counts to ``counts`` (with a sequence number the parent waits
    for); so does the exit.
    """
    tally = {"statements": 0, "snapshot": 0}
    _count_statements(tally)

    def write(*_: Any) -> None:
        tally["snapshot"] += 1
        part = counts.with_suffix(".tmp")
        part.write_bytes(orjson.dumps(tally))
        part.replace(counts)

    signal.signal(signal.SIGUSR1, write)
    atexit.register(write)
    sys.argv = ["digest", "worker", *argv]
    from digest.cli import main

    main()


def _count_statements(tally: dict[str, int]) -> None:
    def sync(method: Any, many: bool) -> Any:
        @functools.wraps(method)
        def counted(self: Any, query: Any, params: Any = None, *args: Any, **kwargs: Any) -> Any:
            if many:
                params = list(params)
            tally["statements"] += len(params) if many else 1
            return method(self, query, params, *args, **kwargs)

        return counted

    def asynchronous(method: Any, many: bool) -> Any:
        @functools.wraps(method)
        async def counted(
            self: Any, query: Any, params: Any = None, *args: Any, **kwargs: Any
        ) -> Any:
            if many:
                params = list(params)
            tally["statements"] += len(params) if many else 1
            return await method(self, query, params, *args, **kwargs)

        return counted

    wrappers: tuple[tuple[type, Any], ...] = (
        (psycopg.Cursor, sync),
        (psycopg.AsyncCursor, asynchronous),
    )
    for cursor, wrap in wrappers:
        for name, many in (("execute", False), ("executemany", True)):
            setattr(cursor, name, wrap(getattr(cursor, name), many))


# -- the database -------------------------------------------------------------------------------


def with_options(url: str, schema: str, application: str) -> str:
    """``url`` on ``schema`` (its search path), naming the connections ``application``."""
    parsed = make_url(url)
    query = dict(parsed.query)
    query["options"] = f"-csearch_path={schema}"
    query["application_name"] = application
    return parsed.set(query=query).render_as_string(hide_password=False)


def ensure_database(url: str) -> None:
    """The benchmark's own database, created if absent: its statistics are the workers'."""
    parsed = make_url(url)
    admin = create_store_engine(
        parsed.set(database="postgres").render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
    )
    try:
        with admin.connect() as conn:
            found = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"),
                {"name": parsed.database},
            ).scalar()
            if found is None:
                conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    finally:
        admin.dispose()


def recreate_schema(engine: Engine, schema: str) -> None:
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))


def drop_schema(engine: Engine, schema: str) -> None:
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


def template_store(url: str, subscribers: int, choosers: float, rebuild: bool) -> tuple[str, str]:
    """The template schema (built once, then reused) and its edition's id."""
    schema = f"queue_bench_{subscribers}_{round(choosers * 100)}_v{TEMPLATE_VERSION}"
    admin = create_store_engine(url)
    try:
        edition = None if rebuild else _enrolled_edition(admin, schema, subscribers)
        if edition is None:
            recreate_schema(admin, schema)
            _build_template(with_options(url, schema, "digest-bench-build"), subscribers, choosers)
            edition = _enrolled_edition(admin, schema, subscribers)
            if edition is None:
                sys.exit(f"building {schema} did not leave {subscribers:,} pending rows")
    finally:
        admin.dispose()
    return schema, edition


def _enrolled_edition(engine: Engine, schema: str, subscribers: int) -> str | None:
    query = text(
        f"SELECT edition_id, count(*), count(*) FILTER (WHERE status = 'pending') "
        f'FROM "{schema}".deliveries GROUP BY edition_id'
    )
    try:
        with engine.connect() as conn:
            rows = conn.execute(query).all()
    except DBAPIError:  # no such schema yet
        return None
    if len(rows) != 1 or rows[0][1] != subscribers or rows[0][2] != subscribers:
        return None
    return str(rows[0][0])


def _build_template(url: str, subscribers: int, choosers: float) -> None:
    print(f"building the template store ({subscribers:,} subscribers; once, then reused) ...")
    started = time.perf_counter()
    engine = create_store_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_corpus(root / "corpus", date.today(), "https://news.example.com")
        csv = root / "subscribers.csv"
        _write_subscribers(csv, subscribers, choosers)
        env = _env(root, url, {"DIGEST_QUEUE": "procrastinate"})
        for args in (
            ["ingest", str(root / "corpus")],
            ["subscribers", "import", str(csv), "--newsletter", DEMO_NEWSLETTER],
            ["send", DEMO_NEWSLETTER, "--json"],  # with the queue on: plans and enrols
        ):
            done = subprocess.run(
                [sys.executable, "-m", "digest", *args],
                cwd=root,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                sys.exit(f"digest {' '.join(args)} failed:\n{done.stderr}")
    print(f"  built in {time.perf_counter() - started:.0f} s")


def _write_subscribers(path: Path, count: int, choosers: float) -> None:
    pick = random.Random(6)
    with path.open("w", encoding="utf-8") as out:
        out.write("email,name,sections\n")
        for n in range(count):
            sections = ""
            if pick.random() < choosers:
                sections = "|".join(pick.sample(SECTIONS, pick.randint(1, 3)))
            out.write(f"reader{n}@example.org,{pick.choice(NAMES)} {n},{sections}\n")


def _env(root: Path, url: str, extra: Mapping[str, str]) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DIGEST_DATA_DIR": str(root / "data"),
        "DIGEST_DATABASE_URL": url,
        "DIGEST_NEWSLETTERS_FILE": str(DEMO_NEWSLETTERS),
        "DIGEST_SECRET_KEY": SECRET,
        "DIGEST_LOG_LEVEL": "WARNING",
        **extra,
    }


# -- measuring ------------------------------------------------------------------------------------


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (all cores; ``/proc/stat``'s first line)."""
    ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle and iowait
    return (sum(ticks[:8]) - idle) / TICK


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (all its threads) so far; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


class Monitor:
    """One autocommit connection for every look the benchmark takes at the database.

    Each of its statements is one transaction, counted so the server's transaction count
    can be taken net of them.
    """

    def __init__(self, url: str, schema: str) -> None:
        self.connection = psycopg.connect(
            conninfo(with_options(url, schema, MONITOR_APP)), autocommit=True
        )
        self.statements = 0

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        self.statements += 1
        return self.connection.execute(sql, params or None).fetchall()

    def value(self, sql: str, *params: Any) -> Any:
        return self.rows(sql, *params)[0][0]

    def close(self) -> None:
        self.connection.close()


@dataclass
class ServerStats:
    xacts: int
    looks: int  # the monitor's statements when the transactions were counted
    tables: dict[str, tuple[int, int, int]]  # rows inserted, updated, deleted per table
    wal: int
    statements: int | None  # pg_stat_statements' calls, where it is loaded

    @staticmethod
    def read(monitor: Monitor, schema: str) -> ServerStats:
        monitor.rows("SELECT pg_stat_clear_snapshot()")
        xacts = monitor.value(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database"
            " WHERE datname = current_database()"
        )
        looks = monitor.statements
        tables = monitor.rows(
            "SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables"
            " WHERE schemaname = %s",
            schema,
        )
        wal = monitor.value("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint")
        try:
            statements = monitor.value(
                "SELECT sum(calls)::bigint FROM pg_stat_statements"
                " WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
        except psycopg.Error:  # not installed, or not in shared_preload_libraries
            statements = None
        return ServerStats(
            int(xacts),
            looks,
            {str(name): (int(i), int(u), int(d)) for name, i, u, d in tables},
            int(wal),
            None if statements is None else int(statements),
        )


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    counts: Path
    snapshots: int = 0

    def statements(self) -> int:
        """Ask the worker for its count (SIGUSR1) and wait for the answer."""
        self.snapshots += 1
        self.process.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                tally = orjson.loads(self.counts.read_bytes())
            except (FileNotFoundError, orjson.JSONDecodeError):
                tally = {"snapshot": 0}
            if tally["snapshot"] >= self.snapshots:
                return int(tally["statements"])
            time.sleep(0.01)
        sys.exit(f"worker {self.process.pid} did not report its statement count")


@dataclass
class Moment:
    """What the clocks and counters said at one instant."""

    statements: int
    worker_cpu: float
    backend_cpu: dict[int, float]
    sink_cpu: float
    machine: float

    @staticmethod
    def take(workers: list[Worker], monitor: Monitor, sink: Sink) -> Moment:
        backends = [
            int(pid)
            for (pid,) in monitor.rows(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s", WORKER_APP
            )
        ]
        return Moment(
            statements=sum(worker.statements() for worker in workers),
            worker_cpu=sum(cpu_seconds(worker.process.pid) for worker in workers),
            backend_cpu={pid: cpu_seconds(pid) for pid in backends},
            sink_cpu=float(sink.counts()["process_cpu"]),
            machine=machine_busy(),
        )


@dataclass
class Result:
    shape: str
    workers: int
    recipients: int
    seconds: float
    worker_cpu: float
    backend_cpu: float
    sink_cpu: float
    other_cpu: float  # the rest of the machine's busy time meanwhile
    statements: int
    xacts: int
    tables: dict[str, tuple[int, int, int]]  # rows inserted, updated, deleted, per table
    wal: int
    server_statements: int | None
    connections: int
    bytes: int
    calls: int
    load: tuple[float, float]
    problems: list[str] = field(default_factory=list)

    @property
    def writes(self) -> int:
        return sum(sum(changes) for changes in self.tables.values())

    @property
    def ledger_writes(self) -> int:
        return sum(self.tables.get("deliveries", (0, 0, 0)))

    def per(self, value: float) -> float:
        return value / self.recipients

    @property
    def rate(self) -> float:
        return self.recipients / self.seconds


# -- the sink -------------------------------------------------------------------------------------


class Sink:
    """``tests/sink.py`` in its own process, read and reset over HTTP."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(SINK), "--port", "0"], stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("sink listening on "):
            self.process.kill()
            sys.exit(f"the sink did not start: {line!r}")
        self.url = line.removeprefix("sink listening on ").strip()

    def counts(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/_counts") as answer:
            counts: dict[str, Any] = orjson.loads(answer.read())
        return counts

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/_reset", data=b"", method="POST")
        with urllib.request.urlopen(request) as answer:
            answer.read()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


# -- one run --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    url: str
    template: str
    edition_id: str
    subscribers: int
    concurrency: int
    work: Path


def run(setup: Setup, shape: str, count: int, sink: Sink) -> Result:
    """The edition sent by ``count`` workers from a fresh copy of the template."""
    admin = create_store_engine(setup.url)
    recreate_schema(admin, RUN_SCHEMA)
    try:
        store = create_store_engine(with_options(setup.url, RUN_SCHEMA, "digest-bench-copy"))
        try:
            upgrade(store)
            copy_store(store, setup.template)
        finally:
            store.dispose()  # its backend exits and flushes its statistics: not the run's
        sink.reset()
        with workers_running(setup, shape, count, sink) as workers:
            return _measure(setup, shape, workers, sink)
    finally:
        drop_schema(admin, RUN_SCHEMA)
        admin.dispose()


@contextmanager
def workers_running(setup: Setup, shape: str, count: int, sink: Sink) -> Iterator[list[Worker]]:
    env = _env(
        setup.work,
        with_options(setup.url, RUN_SCHEMA, WORKER_APP),
        {
            **KEYS,
            "DIGEST_QUEUE": "procrastinate",
            "DIGEST_PROVIDER": shape,
            "DIGEST_PROVIDER_BASE_URL": sink.url,
            "DIGEST_SEND_RATE": "1000000000",
        },
    )
    workers: list[Worker] = []
    for n in range(count):
        counts = setup.work / f"counts-{shape}-{count}-{n}.json"
        counts.unlink(missing_ok=True)
        log = (setup.work / f"worker-{shape}-{count}-{n}.log").open("wb")
        command = [sys.executable, __file__, "--worker-child", str(counts), "--"]
        command += ["--concurrency", str(setup.concurrency)]
        process = subprocess.Popen(command, cwd=setup.work, env=env, stdout=log, stderr=log)
        log.close()
        workers.append(Worker(process, counts))
    try:
        yield workers
    finally:
        for worker in workers:
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()


def _measure(setup: Setup, shape: str, workers: list[Worker], sink: Sink) -> Result:
    monitor = Monitor(setup.url, RUN_SCHEMA)
    try:
        _wait_until_up(workers, monitor, setup.work)
        time.sleep(1.5)  # idle: the backends flush their start-up statistics
        load = os.getloadavg()
        server_before = ServerStats.read(monitor, RUN_SCHEMA)
        before = Moment.take(workers, monitor, sink)
        deferred_at = time.time()
        _defer(setup.url, setup.edition_id, shape)
        connections = _wait_until_sent(setup, workers, monitor, sink)
        after = Moment.take(workers, monitor, sink)
        last_sent = monitor.value("SELECT extract(epoch FROM max(sent_at))::float8 FROM deliveries")
        counts = sink.counts()
        for worker in workers:  # their backends exit and flush their statistics
            worker.process.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.process.wait(timeout=30)
        time.sleep(1.5)  # and the monitor's own, idle, are flushed too
        server_after = ServerStats.read(monitor, RUN_SCHEMA)
        states = dict(monitor.rows("SELECT status, count(*) FROM deliveries GROUP BY status"))
    finally:
        monitor.close()
    backend_cpu = sum(
        seconds - before.backend_cpu.get(pid, 0.0) for pid, seconds in after.backend_cpu.items()
    )
    problems = []
    if states != {"sent": setup.subscribers}:
        problems.append(f"ledger: {states}")
    if counts["distinct"] != setup.subscribers or counts["twice"]:
        problems.append(f"sink: {counts['distinct']} distinct, {counts['twice']} twice")
    server_statements = None
    if server_before.statements is not None and server_after.statements is not None:
        server_statements = server_after.statements - server_before.statements
    return Result(
        shape=shape,
        workers=len(workers),
        recipients=setup.subscribers,
        seconds=float(last_sent) - deferred_at,
        worker_cpu=after.worker_cpu - before.worker_cpu,
        backend_cpu=backend_cpu,
        sink_cpu=after.sink_cpu - before.sink_cpu,
        other_cpu=after.machine
        - before.machine
        - (after.worker_cpu - before.worker_cpu)
        - backend_cpu
        - (after.sink_cpu - before.sink_cpu),
        statements=after.statements - before.statements,
        # the server's count, less the monitor's own statements (one transaction each)
        xacts=server_after.xacts - server_before.xacts - (server_after.looks - server_before.looks),
        tables=_table_deltas(server_before.tables, server_after.tables),
        wal=server_after.wal - server_before.wal,
        server_statements=server_statements,
        connections=connections,
        bytes=int(counts["bytes"]),
        calls=int(counts["requests"]),
        load=(load[0], os.getloadavg()[0]),
        problems=problems,
    )


def _table_deltas(
    before: dict[str, tuple[int, int, int]], after: dict[str, tuple[int, int, int]]
) -> dict[str, tuple[int, int, int]]:
    """Rows inserted, updated and deleted per table in between; tables with none left out."""
    deltas = {}
    for name, changes in after.items():
        was = before.get(name, (0, 0, 0))
        delta = (changes[0] - was[0], changes[1] - was[1], changes[2] - was[2])
        if any(delta):
            deltas[name] = delta
    return deltas


def _wait_until_up(workers: list[Worker], monitor: Monitor, work: Path) -> None:
    deadline = time.monotonic() + 60
    while monitor.value("SELECT count(*) FROM procrastinate_workers") < len(workers):
        for worker in workers:
            if worker.process.poll() is not None:
                logs = "\n".join(p.read_text()[-2000:] for p in work.glob("worker-*.log"))
                sys.exit(f"a worker exited on start:\n{logs}")
        if time.monotonic() > deadline:
            sys.exit("the workers did not register within 60 s")
        time.sleep(0.1)


def _defer(url: str, edition_id: str, shape: str) -> None:
    """The edition's jobs, cut as enrolment cuts them, in one transaction (counted in the
    run's figures: its connection closes, so its statistics reach the server at once)."""
    queue = JobQueue(batch_size(shape))
    query = (
        select(deliveries.c.id, deliveries.c.due_at)
        .where(deliveries.c.edition_id == edition_id)
        .order_by(deliveries.c.id)
    )
    store = create_store_engine(with_options(url, RUN_SCHEMA, "digest-bench-defer"))
    try:
        with store.begin() as conn:
            rows = [(int(row_id), due) for row_id, due in conn.execute(query)]
            queue.defer(conn, plan_jobs(edition_id, rows, queue.batch_size))
    finally:
        store.dispose()


def _wait_until_sent(setup: Setup, workers: list[Worker], monitor: Monitor, sink: Sink) -> int:
    """Until every row is recorded sent; the most connections the workers held meanwhile."""
    deadline = time.monotonic() + max(120.0, setup.subscribers / 200)
    most = 0
    while True:
        most = max(
            most,
            int(
                monitor.value(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                    WORKER_APP,
                )
            ),
        )
        if sink.counts()["accepted"] >= setup.subscribers:
            left = monitor.value("SELECT count(*) FROM deliveries WHERE status <> 'sent'")
            if left == 0:
                return most
        for worker in workers:
            if worker.process.poll() is not None:
                sys.exit(f"worker {worker.process.pid} exited mid-run")
        if time.monotonic() > deadline:
            sys.exit("the edition was not sent in time")
        time.sleep(0.1)


def enrolment(setup: Setup) -> tuple[int, float, float]:
    """Enrol the template's edition afresh, in this process: rows, seconds, CPU seconds.

    The ledger rows and, in their transactions, the jobs (Postmark's batches), as
    ``digest run`` does at a slot: what the database is asked for before any send.
    """
    admin = create_store_engine(setup.url)
    recreate_schema(admin, RUN_SCHEMA)
    url = with_options(setup.url, RUN_SCHEMA, "digest-bench-enrol")
    try:
        store = create_store_engine(url)
        try:
            upgrade(store)
            copy_store(store, setup.template)
            with store.begin() as conn:
                conn.execute(text("DELETE FROM deliveries"))
                conn.execute(text("ANALYZE deliveries"))
        finally:
            store.dispose()
        values: dict[str, Any] = {
            "_env_file": None,
            "data_dir": setup.work / "enrol",
            "database_url": url,
            "newsletters_file": DEMO_NEWSLETTERS,
            "secret_key": SECRET,
            "queue": "procrastinate",
        }
        with build(Settings(**values)) as parts:
            edition = parts.editions.get_by_id(setup.edition_id)
            assert edition is not None
            queue = JobQueue(batch_size("postmark"))
            started, cpu = time.perf_counter(), time.process_time()
            rows = enroll(parts.ledger(), parts.subscribers, edition.snapshot, queue)
            return rows, time.perf_counter() - started, time.process_time() - cpu
    finally:
        drop_schema(admin, RUN_SCHEMA)
        admin.dispose()


# -- the report -----------------------------------------------------------------------------------


def describe(result: Result, first: Result | None) -> None:
    scaling = result.rate / first.rate if first else 1.0
    print(
        f"\n{result.shape}, {result.workers} worker(s): {result.recipients:,} in"
        f" {result.seconds:.2f} s = {result.rate:,.0f} recipients/s ({scaling:.2f}x one worker)"
    )
    print(
        f"  the rest of the machine (other processes, PostgreSQL's background writers) kept"
        f" {result.other_cpu / result.seconds:.2f} of {os.cpu_count()} cores busy meanwhile;"
        f" load average {result.load[0]:.1f} before, {result.load[1]:.1f} after"
    )
    print(
        f"  CPU per recipient: workers {result.per(result.worker_cpu) * 1e6:,.0f} µs,"
        f" PostgreSQL backends {result.per(result.backend_cpu) * 1e6:,.0f} µs,"
        f" sink {result.per(result.sink_cpu) * 1e6:,.0f} µs"
    )
    checked = (
        f", pg_stat_statements {result.per(result.server_statements):.3f}"
        if result.server_statements is not None
        else " (pg_stat_statements not loaded on this server)"
    )
    print(
        f"  per recipient: {result.per(result.statements):.3f} statements{checked},"
        f" {result.per(result.xacts):.3f} transactions, {result.per(result.writes):.2f} rows"
        f" written ({result.per(result.ledger_writes):.2f} of them the ledger's),"
        f" {result.per(result.wal):,.0f} WAL bytes, {result.per(result.bytes):,.0f} bytes"
        f" uploaded"
    )
    print(
        f"  {result.calls:,} provider calls ({result.recipients / max(1, result.calls):,.0f}"
        f" recipients a call); at most {result.connections} connections held by the workers"
    )
    tables = ", ".join(f"{name} {i}/{u}/{d}" for name, (i, u, d) in sorted(result.tables.items()))
    print(f"  rows inserted/updated/deleted: {tables}")
    for problem in result.problems:
        print(f"  NOT CLEAN: {problem}")


def summary(results: list[Result]) -> None:
    print(
        "\nshape     workers   rcpt/s  x1 worker  worker µs  db µs  sink µs"
        "  stmts  xacts  rows  WAL B  conns  others' cores"
    )
    firsts: dict[str, Result] = {}
    for r in results:
        first = firsts.setdefault(r.shape, r)
        print(
            f"{r.shape:<9} {r.workers:>7} {r.rate:>8,.0f} {r.rate / first.rate:>10.2f}"
            f" {r.per(r.worker_cpu) * 1e6:>10,.0f} {r.per(r.backend_cpu) * 1e6:>6,.0f}"
            f" {r.per(r.sink_cpu) * 1e6:>8,.0f} {r.per(r.statements):>6.3f}"
            f" {r.per(r.xacts):>6.3f} {r.per(r.writes):>5.2f} {r.per(r.wal):>6,.0f}"
            f" {r.connections:>6} {r.other_cpu / r.seconds:>14.2f}"
        )
    print(
        "(per recipient: CPU in µs of all workers / the PostgreSQL backends serving them / the"
        " sink; statements the workers sent; transactions the server counted; rows inserted,"
        " updated or deleted; WAL bytes, server-wide; the cores the rest of the machine kept"
        " busy meanwhile: figures taken while it is well above 0 are not this code's alone)"
    )


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--worker-child":
        rest = sys.argv[3:]
        worker_child(Path(sys.argv[2]), rest[1:] if rest[:1] == ["--"] else rest)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument(
        "--workers", default="1,2,4", help="worker processes per run, comma-separated"
    )
    parser.add_argument("--shapes", default="postmark,mailgun", help=f"of {', '.join(SHAPES)}")
    parser.add_argument("--concurrency", type=int, default=4, help="jobs each worker runs at once")
    parser.add_argument("--choosers", type=float, default=0.3, help="share choosing sections")
    parser.add_argument(
        "--database-url",
        default=DEFAULT_URL,
        help="a PostgreSQL database of the benchmark's own (created if absent)",
    )
    parser.add_argument("--rebuild", action="store_true", help="build the template again")
    args = parser.parse_args()
    shapes = [name.strip() for name in args.shapes.split(",") if name.strip()]
    unknown = [name for name in shapes if name not in SHAPES]
    if unknown:
        parser.error(f"unknown shapes {unknown}; choose from {', '.join(SHAPES)}")
    counts = [int(n) for n in args.workers.split(",")]
    ensure_database(args.database_url)
    template, edition = template_store(
        args.database_url, args.subscribers, args.choosers, args.rebuild
    )
    print(
        f"\n{os.cpu_count()} CPUs; {args.subscribers:,} subscribers; each worker runs"
        f" {args.concurrency} jobs at once; sink: tests/sink.py in its own process"
    )
    sink = Sink()
    results: list[Result] = []
    try:
        with tempfile.TemporaryDirectory() as folder:
            setup = Setup(
                args.database_url,
                template,
                edition,
                args.subscribers,
                args.concurrency,
                Path(folder),
            )
            rows, seconds, cpu = enrolment(setup)
            print(
                f"\nenrolment, one process (ledger rows and their jobs, as at a slot): {rows:,}"
                f" rows in {seconds:.2f} s = {rows / seconds:,.0f} rows/s,"
                f" {cpu / rows * 1e6:,.0f} µs of CPU per row"
            )
            for shape in shapes:
                first: Result | None = None
                for count in counts:
                    result = run(setup, shape, count, sink)
                    describe(result, first)
                    first = first or result
                    results.append(result)
    finally:
        sink.stop()
    summary(results)


if __name__ == "__main__":
    main()
