"""Subscriber import: a 100,000-row CSV into a fresh SQLite store, then the same file again.

The file is made to look like a publisher's list: names with accents and other scripts,
about 30% of rows choosing sections, 20% a time zone and send hour, and 0.5% of rows bad
in each way the import checks (invalid address, unknown section, unknown time zone, hour
out of range, an address repeated from an earlier line). It goes through ``import_csv``, the
code ``digest subscribers import`` runs. Prints rows per second, seconds and peak memory,
then the second import's time, which must leave everything unchanged.

    .venv/bin/python benchmarks/subscriber_import.py [--rows 100000] [--batch 1000]
"""

from __future__ import annotations

import argparse
import csv
import random
import resource
import tempfile
import time
from pathlib import Path

from digest.store.engine import create_store_engine
from digest.store.migrate import upgrade
from subscribers.imports import ImportOutcome, import_csv
from subscribers.store import SubscriberStore

SECTIONS = ("Political history", "Science", "Technology", "Economy", "Culture", "Travel")
FIRST = (
    "Ana", "José", "Zoë", "Łukasz", "Søren", "Ömer", "Chloé", "Nguyễn", "Αλέξης", "Ingrid",
    "Siobhán", "Dvořák", "Aiko", "Mårten", "Priya", "Fatima", "Олег", "李", "Björn", "Noël",
)  # fmt: skip
LAST = (
    "Lima", "García", "Müller", "Kowalski", "Ólafsson", "Nakamura", "O'Neill", "Dupont",
    "Smith", "Çelik", "Novák", "Rossi", "Jensen", "Haddad", "Ivanova", "Wang", "Brown",
)  # fmt: skip
# mostly a few large mailbox providers, a tail of others, 1% internationalised domain names
DOMAINS = ("mail.example.com", "post.example.net", "example.org", "Example.co.uk", "bücher.example")
DOMAIN_WEIGHTS = (45, 30, 14, 10, 1)
ZONES = ("Europe/Paris", "America/New_York", "Asia/Tokyo", "europe/london", "Australia/Sydney")
BAD_RATE = 0.005  # of each kind of bad row


def write_list(path: Path, rows: int, seed: int = 7) -> int:
    """Write the CSV; the number of rows that should be imported."""
    pick = random.Random(seed)
    emails: list[str] = []
    bad = 0
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["Email", "Name", "Sections", "Time Zone", "Send Hour"])
        for i in range(rows):
            row, good = _row(pick, i, emails)
            writer.writerow(row)
            bad += not good
    return rows - bad


def _row(pick: random.Random, i: int, emails: list[str]) -> tuple[list[str], bool]:
    first, last = pick.choice(FIRST), pick.choice(LAST)
    surname = pick.choice(LAST).lower().replace("'", "")
    domain = pick.choices(DOMAINS, DOMAIN_WEIGHTS)[0]
    email = f"reader{i}.{surname}@{domain}"
    sections = "|".join(pick.sample(SECTIONS, pick.randint(1, 3))) if pick.random() < 0.3 else ""
    zone, hour = (pick.choice(ZONES), str(pick.randint(0, 23))) if pick.random() < 0.2 else ("", "")
    row = [email, f"{first} {last}", sections, zone, hour]
    flaw = pick.random()
    kinds = [
        (0, "reader.at.example.org"),  # invalid address
        (2, "Science|Sport"),  # unknown section
        (3, "Mars/Olympus_Mons"),  # unknown time zone
        (4, "24"),  # hour out of range
    ]
    for n, (column, value) in enumerate(kinds):
        if flaw < BAD_RATE * (n + 1):
            row[column] = value
            return row, False
    if flaw < BAD_RATE * 5 and emails:
        row[0] = pick.choice(emails).upper()  # an earlier address, in another letter case
        return row, False
    emails.append(email)
    return row, True


def timed_import(store: SubscriberStore, path: Path, batch: int) -> tuple[ImportOutcome, float]:
    started = time.perf_counter()
    outcome = import_csv(store, path, "daily", SECTIONS, batch_size=batch)
    return outcome, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "readers.csv"
        expected = write_list(path, args.rows)
        size = path.stat().st_size / 1e6
        print(f"{args.rows:,} rows ({size:.1f} MB), {expected:,} good, batches of {args.batch:,}")
        engine = create_store_engine(f"sqlite:///{Path(folder) / 'store.sqlite3'}")
        upgrade(engine)
        store = SubscriberStore(engine)
        first, seconds = timed_import(store, path, args.batch)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"first import: {seconds:.1f} s, {args.rows / seconds:,.0f} rows/s; "
            f"added {first.added:,}, rejected {len(first.rejected):,}; peak RSS {peak:.0f} MB"
        )
        assert first.added == expected, (first.added, expected)
        again, seconds = timed_import(store, path, args.batch)
        unchanged = again.unchanged == expected and again.added == again.updated == 0
        print(
            f"second import: {seconds:.1f} s, {args.rows / seconds:,.0f} rows/s; "
            f"unchanged {again.unchanged:,} ({'everything' if unchanged else 'NOT everything'})"
        )
        engine.dispose()


if __name__ == "__main__":
    main()
