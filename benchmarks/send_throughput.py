"""Send throughput: an edition of 100,000 subscribers into a local email API, by payload shape.

What one ``digest send`` costs the machine that runs it, for each way a provider takes mail:

- ``postmark``: one message per recipient, 500 messages per call (``/email/batch``): every
  recipient's filled-in HTML and text go up the wire;
- ``mailgun``: one body per call for up to 1,000 recipients, with their values in
  ``recipient-variables``; ``sendgrid``: the same with ``personalizations``;
- ``naive``, the baseline: one API call per recipient with their full message (Postmark's
  single-message ``/email``), as a sender that neither batches nor merges would do. It runs
  through the same ledger, claims and concurrency (``DIGEST_SEND_CONCURRENCY`` batches in
  flight, each making its calls one after another), so only the API shape differs. It runs
  on a smaller edition (``--naive-subscribers``, default 10,000) of the same make-up: its
  figures are per recipient, and 100,000 single calls would take minutes.

Each shape runs the real ``digest send --edition ID --json`` (the baseline, which needs an
adapter of its own, runs this script's ``--naive-child`` doing what that command does) in a
fresh process on a fresh copy of the store, whose ledger is enrolled and all pending. The
API is ``tests/sink.py`` in a process of its own, so the server's CPU is not the client's.
``DIGEST_SEND_RATE`` is lifted (the providers' own limits, 500 to 10,000 messages/s, would
measure the account, not digest); the concurrency settings are the defaults (4 and 4).

Printed per shape: recipients per second (over the send loop, and over the whole command
with start-up and enrolment check), client CPU per recipient (user + sys of the sending
process from ``wait4``, whole process), bytes uploaded per recipient (what the sink
received: request lines, headers and bodies), and the process's peak RSS. A run with nothing
left to send gives the fixed cost of a command (interpreter, imports, templates, renderer,
the enrolment check), printed once.

The audience: subscribers of the demo newsletter (the Meridian Review, 6 sections, articles
from the bundled demo corpus); 70% take every section, 30% choose 1 to 3 (``--choosers``),
so a claimed batch holds several variants and a many-recipients call carries one of them.

    .venv/bin/python benchmarks/send_throughput.py [--subscribers 100000]
        [--naive-subscribers 10000] [--db DIR] [--shapes postmark,mailgun,sendgrid,naive]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import orjson

from digest.deliver.base import Batch, Outcome, Request, Result
from digest.deliver.enroll import enroll
from digest.deliver.fields import edition_headers, sender
from digest.deliver.http import HttpCall, RateLimit, fail_all, response_json
from digest.deliver.postmark import PostmarkProvider
from digest.deliver.providers import http_client
from digest.deliver.sender import SendReport
from digest.demo import DEMO_NEWSLETTER, DEMO_NEWSLETTERS, write_corpus
from digest.settings import Settings
from digest.wiring import build

REPO = Path(__file__).resolve().parents[1]
SINK = REPO / "tests" / "sink.py"
DEFAULT_CACHE = REPO / "data" / "bench-send"
SECTIONS = ("Political history", "Science", "Technology", "Economy", "Culture", "Travel")
NAMES = ("Ana", "José", "Zoë", "Łukasz", "Søren", "Chloé", "Nguyễn", "Priya", "Олег", "Noël")
SECRET = "send-benchmark-secret-0123456789"
STORE = "digest.sqlite3"
CACHE_VERSION = 3  # the ledger's order is enrolment's: bump when enrolment changes
KEYS = {
    "DIGEST_POSTMARK_SERVER_TOKEN": "pm-bench",
    "DIGEST_MAILGUN_API_KEY": "mg-bench",
    "DIGEST_MAILGUN_DOMAIN": "mg.meridian.example",
    "DIGEST_SENDGRID_API_KEY": "sg-bench",
    "DIGEST_RESEND_API_KEY": "re-bench",
}


@dataclass(frozen=True)
class Shape:
    title: str
    provider: str  # DIGEST_PROVIDER, or "naive" for this script's baseline adapter


SHAPES = {
    "postmark": Shape("one message per recipient, 500 per call (Postmark)", "postmark"),
    "mailgun": Shape("one body, up to 1,000 recipients per call (Mailgun)", "mailgun"),
    "sendgrid": Shape("one body, up to 1,000 personalizations per call (SendGrid)", "sendgrid"),
    "naive": Shape("baseline: one call per recipient, full message (Postmark /email)", "naive"),
}


@dataclass(frozen=True)
class Run:
    """One sending process: its report, and what it cost."""

    report: dict[str, Any]
    wall: float
    cpu: float  # user + sys seconds of the process
    peak_rss_mb: float
    sink: dict[str, Any]
    sink_cpu: float  # CPU seconds the sink spent meanwhile (the other core, mostly)


# -- the store ------------------------------------------------------------------------------


def cached_store(cache: Path, subscribers: int, choosers: float) -> tuple[Path, str]:
    """A SQLite file with the demo articles, ``subscribers`` readers, one edition enrolled.

    Built once through the real CLI (ingest, subscribers import, send --dry-run, which
    plans and enrols without sending), then reused: the file is never sent from, only
    copied. Returns the file and the edition's id.
    """
    path = cache / f"send-{subscribers}-{round(choosers * 100)}-v{CACHE_VERSION}.sqlite3"
    if not path.exists():
        print(f"building {path} ({subscribers:,} subscribers; once, then reused) ...")
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            write_corpus(root / "corpus", date.today(), "https://news.example.com")
            csv = root / "subscribers.csv"
            _write_subscribers(csv, subscribers, choosers)
            data = root / "data"
            for args in (
                ["ingest", str(root / "corpus")],
                ["subscribers", "import", str(csv), "--newsletter", DEMO_NEWSLETTER],
                ["send", DEMO_NEWSLETTER, "--dry-run"],
            ):
                done = subprocess.run(
                    [sys.executable, "-m", "digest", *args],
                    cwd=root,
                    env=_env(data, {}),
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if done.returncode != 0:
                    sys.exit(f"digest {' '.join(args)} failed:\n{done.stderr}")
            cache.mkdir(parents=True, exist_ok=True)
            with sqlite3.connect(data / STORE) as db:  # one self-contained file to copy
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            shutil.copyfile(data / STORE, path)
        print(f"  built in {time.perf_counter() - started:.0f} s")
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT edition_id, count(*), sum(status = 'pending') FROM deliveries "
            "GROUP BY edition_id"
        ).fetchall()
    if len(rows) != 1 or rows[0][1] != subscribers or rows[0][2] != subscribers:
        sys.exit(f"{path} is not an enrolled edition of {subscribers:,} pending rows: remove it")
    return path, str(rows[0][0])


def _write_subscribers(path: Path, count: int, choosers: float) -> None:
    pick = random.Random(6)
    with path.open("w", encoding="utf-8") as out:
        out.write("email,name,sections\n")
        for n in range(count):
            sections = ""
            if pick.random() < choosers:
                sections = "|".join(pick.sample(SECTIONS, pick.randint(1, 3)))
            out.write(f"reader{n}@example.org,{pick.choice(NAMES)} {n},{sections}\n")


def _env(data: Path, extra: Mapping[str, str]) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DIGEST_DATA_DIR": str(data),
        "DIGEST_NEWSLETTERS_FILE": str(DEMO_NEWSLETTERS),
        "DIGEST_SECRET_KEY": SECRET,
        **extra,
    }


# -- the sink -------------------------------------------------------------------------------


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


# -- one run --------------------------------------------------------------------------------


def run_shape(shape: Shape, store: Path, edition_id: str, sink: Sink, work: Path) -> Run:
    """Send the whole edition from a fresh copy of ``store``; the cost of that process."""
    data = work / shape.provider
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    shutil.copyfile(store, data / STORE)
    sink.reset()
    return _measure(shape, data, edition_id, sink)


def _measure(shape: Shape, data: Path, edition_id: str, sink: Sink) -> Run:
    settings = {
        **KEYS,
        "DIGEST_PROVIDER": "postmark" if shape.provider == "naive" else shape.provider,
        "DIGEST_PROVIDER_BASE_URL": sink.url,
        "DIGEST_SEND_RATE": "1000000000",
    }
    if shape.provider == "naive":
        command = [sys.executable, __file__, "--naive-child", edition_id]
    else:
        command = [sys.executable, "-m", "digest", "send", "--edition", edition_id, "--json"]
    out_path, err_path = data / "stdout.json", data / "stderr.txt"
    sink_cpu = sink.counts()["process_cpu"]
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=data, env=_env(data, settings), stdout=out, stderr=err
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        sys.exit(f"{shape.provider}: the send failed:\n{err_path.read_text()}")
    counts = sink.counts()
    return Run(
        report=orjson.loads(out_path.read_bytes()),
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=usage.ru_maxrss / 1024,  # kilobytes on Linux
        sink=counts,
        sink_cpu=counts["process_cpu"] - sink_cpu,
    )


# -- the naive baseline's adapter -------------------------------------------------------------


class SingleMessagePostmark(PostmarkProvider):
    """Postmark's single-message ``POST /email``: one call per recipient, the full message.

    Only the request shape differs from the batch adapter: the same message JSON, the same
    per-message answer (``{ErrorCode, Message, MessageID}``, not in a list).
    """

    def build(self, batch: Batch) -> list[Request]:
        shared: dict[str, Any] = {
            "From": sender(batch),
            "Subject": batch.headers.subject,
            "MessageStream": self.message_stream,
        }
        if batch.headers.reply_to:
            shared["ReplyTo"] = batch.headers.reply_to
        common = [{"Name": k, "Value": v} for k, v in edition_headers(batch).items()]
        url = self.url.removesuffix("/batch")
        return [
            Request(
                [envelope],
                HttpCall(
                    "POST",
                    url,
                    content=orjson.dumps(self.message(batch, envelope, shared, common)),
                    headers=self._headers,
                ),
            )
            for envelope in batch.envelopes
        ]

    def requests(self, batch: Batch) -> Iterator[Request]:
        """``build``'s calls: the batch adapter's lazy calls would be batch-shaped."""
        return iter(self.build(batch))

    def parse(self, response: httpx.Response, request: Request) -> list[Result]:
        body = response_json(response)
        (envelope,) = request.envelopes
        if response.status_code == 200 and isinstance(body, dict) and body.get("ErrorCode") == 0:
            return [Result(envelope.delivery_id, Outcome.SENT, body.get("MessageID"))]
        return fail_all(request, f"Postmark: {response.text[:200]}")


def naive_child(edition_id: str) -> None:
    """What ``digest send --edition ID --json`` does, with the single-message adapter."""
    settings = Settings()
    with build(settings) as parts:
        edition = parts.editions.get_by_id(edition_id)
        assert edition is not None
        client = http_client(settings)
        provider = SingleMessagePostmark(
            client,
            server_token=settings.postmark_server_token or "",
            rate_limit=RateLimit(math.inf, settings.send_calls),
            base_url=settings.provider_base_url or "",
            message_stream=settings.postmark_message_stream,
        )
        renderer = parts.renderer(parts.templates(), edition.snapshot)
        enroll(parts.ledger(), parts.subscribers, edition.snapshot)
        loop = parts.sender(renderer, provider)

        async def run() -> SendReport:
            try:
                return await loop.run()
            finally:
                await client.aclose()

        report = asyncio.run(run())
    sys.stdout.buffer.write(orjson.dumps(report.as_json()))


# -- the report -----------------------------------------------------------------------------


def describe(name: str, shape: Shape, run: Run, fixed_cpu: float | None) -> dict[str, float]:
    report, sink = run.report, run.sink
    sent = int(report["sent"])
    loop = float(report["seconds"])
    figures = {
        "recipients": sent,
        "per_second_loop": sent / loop,
        "per_second_command": sent / run.wall,
        "cpu_us": run.cpu / sent * 1e6,
        "net_cpu_us": (run.cpu - (fixed_cpu or 0.0)) / sent * 1e6,
        "bytes": sink["bytes"] / sent,
        "calls": sink["requests"],
        "rss_mb": run.peak_rss_mb,
    }
    print(f"\n{name}: {shape.title}")
    print(
        f"  {sent:,} sent in {loop:.1f} s of send loop, {run.wall:.1f} s of command "
        f"({sink['requests']:,} calls, {sent / max(1, sink['requests']):,.1f} recipients a call)"
    )
    print(
        f"  {figures['per_second_loop']:,.0f} recipients/s (send loop), "
        f"{figures['per_second_command']:,.0f} recipients/s (whole command)"
    )
    net = f", {figures['net_cpu_us']:,.0f} µs net of the fixed cost" if fixed_cpu else ""
    print(f"  client CPU {figures['cpu_us']:,.0f} µs per recipient (whole process{net})")
    print(f"  uploaded {figures['bytes']:,.0f} bytes per recipient")
    print(f"  (the sink spent {run.sink_cpu / sent * 1e6:,.0f} µs of CPU per recipient)")
    print(f"  peak RSS {run.peak_rss_mb:,.0f} MB")
    problems = []
    if report["failed"] or report["pending"]:
        problems.append(f"failed {report['failed']}, pending {report['pending']}")
    if sink["distinct"] != sent or sink["twice"]:
        problems.append(f"sink: {sink['distinct']} distinct, {sink['twice']} twice")
    if problems:
        print("  NOT CLEAN: " + "; ".join(problems))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--naive-subscribers", type=int, default=10_000)
    parser.add_argument("--choosers", type=float, default=0.3, help="share choosing sections")
    parser.add_argument("--db", type=Path, default=DEFAULT_CACHE, help="cache folder of stores")
    parser.add_argument("--shapes", default=",".join(SHAPES), help="comma-separated")
    parser.add_argument("--naive-child", metavar="EDITION", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.naive_child:
        naive_child(args.naive_child)
        return
    names = [name.strip() for name in args.shapes.split(",") if name.strip()]
    unknown = [name for name in names if name not in SHAPES]
    if unknown:
        parser.error(f"unknown shapes {unknown}; choose from {', '.join(SHAPES)}")
    big, big_edition = cached_store(args.db, args.subscribers, args.choosers)
    small, small_edition = (
        cached_store(args.db, args.naive_subscribers, args.choosers)
        if "naive" in names
        else (big, big_edition)
    )
    print(f"\n{os.cpu_count()} CPUs; sink: tests/sink.py in its own process")
    sink = Sink()
    results: dict[str, dict[str, float]] = {}
    try:
        with tempfile.TemporaryDirectory() as folder:
            work = Path(folder)
            fixed: float | None = None
            for name in names:
                shape = SHAPES[name]
                store, edition = (small, small_edition) if name == "naive" else (big, big_edition)
                run = run_shape(shape, store, edition, sink, work)
                if fixed is None and name != "naive":  # once: a command with nothing to do
                    idle = _measure(shape, work / shape.provider, edition, sink)
                    fixed = idle.cpu
                    print(
                        f"\nfixed cost of a `digest send` with nothing left to send "
                        f"({args.subscribers:,} rows): {idle.cpu:.2f} s CPU, "
                        f"{idle.wall:.2f} s, peak RSS {idle.peak_rss_mb:.0f} MB"
                    )
                results[name] = describe(name, shape, run, fixed)
    finally:
        sink.stop()
    _summary(results)


def _summary(results: dict[str, dict[str, float]]) -> None:
    print("\nshape      recipients   rcpt/s loop   CPU µs/rcpt   bytes/rcpt   peak RSS MB")
    for name, f in results.items():
        print(
            f"{name:<10} {f['recipients']:>10,.0f} {f['per_second_loop']:>13,.0f} "
            f"{f['cpu_us']:>13,.0f} {f['bytes']:>12,.0f} {f['rss_mb']:>13,.0f}"
        )
    targets = {"postmark": 1_000, "mailgun": 10_000, "sendgrid": 10_000}
    for name, target in targets.items():
        if name in results:
            got = results[name]["per_second_loop"]
            verdict = "met" if got >= target else "MISSED"
            print(f"target {name}: >= {target:,} recipients/s: {verdict} ({got:,.0f})")
    worst = max((f["rss_mb"] for f in results.values()), default=0.0)
    print(f"target peak memory < 300 MB: {'met' if worst < 300 else 'MISSED'} ({worst:.0f} MB)")


if __name__ == "__main__":
    main()
