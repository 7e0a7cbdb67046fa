"""Ingest throughput: a 10,000-item RSS feed into a fresh SQLite store.

Prints items per second and peak memory for the real path (batched upserts), for a second
ingest of the same feed (everything unchanged), and for a naive baseline that writes one
article per transaction, so the ratio between them is visible in one run on this machine.

    .venv/bin/python benchmarks/ingest_throughput.py [--items 10000] [--skip-naive]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from multiprocessing import get_context
from pathlib import Path
from xml.sax.saxutils import escape

import httpx

from digest.ingest import Ingestor
from digest.sources.base import ParseOptions
from digest.sources.fetch import FetchPolicy
from digest.store.articles import ArticleStore
from digest.store.engine import create_store_engine
from digest.store.fetch_state import FetchStateStore
from digest.store.migrate import upgrade

SECTIONS = ["Science", "Technology", "Culture", "Economy", "Travel", "Political history"]
PARAGRAPH = (
    "The harbour board met on a grey morning to weigh the cost of dredging against the "
    "cost of waiting, and the argument ran long because both sides had numbers."
)


def write_feed(path: Path, items: int) -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    with path.open("w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" ')
        out.write('xmlns:content="http://purl.org/rss/1.0/modules/content/" ')
        out.write('xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>Bench</title>\n')
        for i in range(items):
            when = format_datetime(start - timedelta(minutes=7 * i), usegmt=True)
            body = "".join(f"<p>{escape(PARAGRAPH)} ({i}.{n})</p>" for n in range(4))
            out.write(
                f"<item><title>Item {i}: a headline of ordinary length</title>"
                f"<link>https://bench.example.com/a/{i}</link><guid>bench-{i}</guid>"
                f"<category>{SECTIONS[i % len(SECTIONS)]}</category>"
                f"<dc:creator>Writer {i % 37}</dc:creator><pubDate>{when}</pubDate>"
                f"<description>{escape(PARAGRAPH)}</description>"
                f"<content:encoded>{escape(body)}</content:encoded></item>\n"
            )
        out.write("</channel></rss>\n")


def ingest_once(folder: Path, feed: Path, batch_size: int) -> tuple[float, dict[str, int], float]:
    """One ingest in this process: seconds, counts, and the process's peak RSS in MiB."""
    engine = create_store_engine(f"sqlite:///{folder / 'bench.sqlite3'}")
    upgrade(engine)
    with httpx.Client() as client:
        ingestor = Ingestor(
            store=ArticleStore(engine, base_url="https://bench.example.com"),
            fetch_state=FetchStateStore(engine),
            client=client,
            options=ParseOptions(),
            policy=FetchPolicy(max_bytes=200_000_000),
            batch_size=batch_size,
        )
        started = time.perf_counter()
        report = ingestor.run([str(feed)])
        elapsed = time.perf_counter() - started
    engine.dispose()
    counts = {k: v for k, v in report.as_json().items() if isinstance(v, int)}
    return elapsed, counts, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(label: str, items: int, folder: Path, feed: Path, batch_size: int) -> None:
    """Run one ingest in a fresh process, so its peak memory is its own."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        elapsed, counts, peak_mib = pool.submit(ingest_once, folder, feed, batch_size).result()
    print(
        f"{label:<34} {elapsed:7.2f} s  {items / elapsed:8.0f} items/s  "
        f"peak RSS {peak_mib:6.0f} MiB  (added {counts['added']}, unchanged {counts['unchanged']})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument(
        "--skip-naive", action="store_true", help="skip the one-per-commit baseline"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        feed = folder / "bench.xml"
        write_feed(feed, args.items)
        print(f"feed: {args.items} items, {feed.stat().st_size / 2**20:.1f} MiB of RSS")
        batched = folder / "batched"
        batched.mkdir()
        measure("batched upserts (500 per commit)", args.items, batched, feed, 500)
        measure("same feed again (all unchanged)", args.items, batched, feed, 500)
        if not args.skip_naive:
            naive = folder / "naive"
            naive.mkdir()
            measure("naive: one article per commit", args.items, naive, feed, 1)


if __name__ == "__main__":
    main()
